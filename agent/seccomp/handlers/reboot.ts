// reboot(2) never reaches the host. Inside a pid namespace the kernel would kill that
// namespace's init, which for a pod sharing the vNode's pid namespace is the vNode holder (every
// pod of the vNode would go). Instead:
//   RESTART, RESTART2, HALT, POWER_OFF: the calling container stops (every process of its
//     cgroup and its init get SIGKILL); the pod's restartPolicy decides what follows, as after
//     a reboot (Always) or a power-off (Never). Other containers and pods are untouched.
//   CAD_ON, CAD_OFF: 0, nothing changes (there is no keyboard to press ctrl-alt-del on).
//   anything else (KEXEC, SW_SUSPEND): EINVAL, as the kernel answers in a pid namespace.
import { closeSync } from 'node:fs';
import { pidfdOpen, pidfdSendSignal } from '../../../addon/pidfd.js';
import { membershipKeyOf } from '../ContainerFacts.js';
import { CAP_SYS_BOOT, fail, hasCap, ok, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

const MAGIC1 = 0xfee1dead;
const MAGIC2 = new Set([672274793, 85072278, 369367448, 537993216]);

export const RebootCmd = {
  RESTART: 0x01234567,
  HALT: 0xcdef0123,
  CAD_ON: 0x89abcdef,
  CAD_OFF: 0x00000000,
  POWER_OFF: 0x4321fedc,
  RESTART2: 0xa1b2c3d4,
} as const;

function killQuietly(pid: number, expectKey?: string): boolean {
  let fd: number;
  try {
    fd = pidfdOpen(pid);
  } catch {
    return false;
  }
  try {
    // The pidfd pins the process; it must still be in the container's cgroup to be killed.
    if (expectKey !== undefined && membershipKeyOf(pid) !== expectKey) return false;
    pidfdSendSignal(fd, 'SIGKILL');
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Stops every process of the container: its init and everything in its cgroup. */
export function stopContainer(env: HandlerEnv): number {
  let killed = 0;
  const { key, pids } = env.facts.cgroupProcs();
  if (killQuietly(env.target.rootPid, key)) killed++;
  for (let round = 0; round < 8; round++) {
    const now = round === 0 ? pids : env.facts.cgroupProcs().pids;
    if (!now.length) break;
    for (const p of now) if (killQuietly(p, key)) killed++;
  }
  return killed;
}

export const reboot: SyscallHandler = {
  name: 'reboot',
  handle(env: HandlerEnv): Answer {
    if (!hasCap(env.status(), CAP_SYS_BOOT)) return fail(1);
    const [m1, m2, cmdArg] = env.call.args as [bigint, bigint, bigint];
    if (Number(m1 & 0xffffffffn) !== MAGIC1 || !MAGIC2.has(Number(m2 & 0xffffffffn))) return fail(22);
    const cmd = Number(cmdArg & 0xffffffffn);
    switch (cmd) {
      case RebootCmd.CAD_ON:
      case RebootCmd.CAD_OFF:
        return ok(0);
      case RebootCmd.RESTART:
      case RebootCmd.RESTART2:
      case RebootCmd.HALT:
      case RebootCmd.POWER_OFF: {
        env.ensureValid();
        const killed = stopContainer(env);
        env.log.info('reboot: container stopped', { vnode: env.target.vnodeId, container: env.target.containerId, cmd: cmd.toString(16), killed });
        return ok(0);
      }
      default:
        return fail(22);
    }
  },
};
