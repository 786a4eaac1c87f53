// sched_getaffinity(2) for the caller itself (pid 0 or its own tid): `nproc`, glibc's
// get_nprocs_sched and Go's runtime count this mask, so it shows the CPUs the container is given
// (its cpuset cut to its CPU quota: visibleCpus, the same answer as
// /sys/devices/system/cpu/online). Questions about other tasks are left to the kernel.
import { schedGetaffinity } from '../../../addon/taskinfo.js';
import { isSyscallError } from '../../../addon/native.js';
import { CONTINUE, fail, ok, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

/** The real mask narrowed to the visible CPUs; if they do not meet, the first |visible| CPUs of
 * the real mask (a task pinned elsewhere still sees as many CPUs as its container has). */
export function narrowMask(real: Buffer, visible: readonly number[]): Buffer {
  const out = Buffer.alloc(real.length);
  const want = new Set(visible);
  let set = 0;
  for (let cpu = 0; cpu < real.length * 8; cpu++) {
    if (real[cpu >> 3]! & (1 << (cpu & 7)) && want.has(cpu)) {
      out[cpu >> 3]! |= 1 << (cpu & 7);
      set++;
    }
  }
  if (set > 0) return out;
  for (let cpu = 0; cpu < real.length * 8 && set < Math.max(1, visible.length); cpu++) {
    if (real[cpu >> 3]! & (1 << (cpu & 7))) {
      out[cpu >> 3]! |= 1 << (cpu & 7);
      set++;
    }
  }
  return out;
}

export const sched_getaffinity: SyscallHandler = {
  name: 'sched_getaffinity',
  handle(env: HandlerEnv): Answer {
    const [pidArg, lenArg, ptr] = env.call.args as [bigint, bigint, bigint];
    const pid = Number(BigInt.asIntN(32, pidArg));
    if (pid !== 0 && pid !== env.status().nsTid) return CONTINUE;
    // The kernel's own checks on len (multiple of a long, enough bits for every CPU) and its
    // answer size come from asking it the same question for the caller.
    // len is the syscall's unsigned int: the upper half of the register is not part of it.
    const len32 = lenArg & 0xffffffffn;
    const len = Number(len32 > 0x10000n ? 0x10000n : len32);
    if (env.call.abi === 'i386' ? len % 4 !== 0 : len % 8 !== 0) return fail(22);
    let real: Buffer;
    try {
      // A compat caller's length may be a multiple of 4 only: ask natively with whole longs.
      real = schedGetaffinity(env.call.tid, Math.ceil(len / 8) * 8);
      real = real.subarray(0, Math.min(len, real.length));
    } catch (e) {
      if (isSyscallError(e)) return fail(e.errno);
      throw e;
    }
    const mask = narrowMask(real, env.facts.visibleCpus());
    env.ensureValid();
    env.memory().write(ptr, mask, 'sched_getaffinity mask');
    return ok(mask.length);
  },
};
