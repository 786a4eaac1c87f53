// swapoff(2): a vNode has no swap device of its own to turn off (the emulated /proc/swaps shows
// its cgroup's swap allowance). Tools that turn swap off before starting kubelet (kind, kubeadm
// scripts) get success, as on a node without swap; a caller without CAP_SYS_ADMIN gets EPERM.
// swapon is refused by the profile itself (no handler needed).
import { CAP_SYS_ADMIN, fail, hasCap, ok, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

export const swapoff: SyscallHandler = {
  name: 'swapoff',
  handle(env: HandlerEnv): Answer {
    // The kernel reads the path first: a bad pointer is EFAULT whatever the caller may do.
    env.memory().cString(env.call.args[0]!, 4096, 'swapoff path');
    if (!hasCap(env.status(), CAP_SYS_ADMIN)) return fail(1);
    env.ensureValid();
    return ok(0);
  },
};
