// sysinfo(2): busybox `free`, `uptime` and many runtimes read memory from it, which no file can
// answer. The memory fields are the container's (the same figures as its /proc/meminfo), uptime
// is the container's, procs its task count; the load averages stay the host's (the emulated
// /proc/loadavg is sampled by vnodefs, which this worker does not share).
import { hostSysinfo, type HostSysinfo } from '../../../addon/taskinfo.js';
import { Errno, SyscallFault } from '../SyscallFault.js';
import { ok, type Answer, type HandlerEnv, type SyscallHandler } from './types.js';

/** The fields of struct sysinfo, the host's or a container's. */
export type SysinfoFields = HostSysinfo;

/** struct sysinfo as the ABI lays it out: 112 bytes with 8-byte longs, 64 with 4-byte longs
 * (which scale memory by mem_unit when a figure does not fit in 32 bits, as the kernel does). */
export function encodeSysinfo(f: SysinfoFields, long: 4 | 8): Buffer {
  if (long === 8) {
    const b = Buffer.alloc(112);
    b.writeBigInt64LE(BigInt(Math.floor(f.uptime)), 0);
    for (let i = 0; i < 3; i++) b.writeBigUInt64LE(BigInt(Math.floor(f.loads[i]!)), 8 + 8 * i);
    const mem = [f.totalram, f.freeram, f.sharedram, f.bufferram, f.totalswap, f.freeswap];
    mem.forEach((v, i) => b.writeBigUInt64LE(BigInt(Math.floor(v / f.memUnit)), 32 + 8 * i));
    b.writeUInt16LE(Math.min(f.procs, 0xffff), 80);
    // totalhigh, freehigh stay 0
    b.writeUInt32LE(f.memUnit, 104);
    return b;
  }
  const b = Buffer.alloc(64);
  let unit = f.memUnit;
  const mem = [f.totalram, f.freeram, f.sharedram, f.bufferram, f.totalswap, f.freeswap];
  while (mem.some((v) => Math.floor(v / unit) > 0xffffffff)) unit *= 2;
  b.writeInt32LE(Math.min(Math.floor(f.uptime), 0x7fffffff), 0);
  for (let i = 0; i < 3; i++) b.writeUInt32LE(Math.min(Math.floor(f.loads[i]!), 0xffffffff), 4 + 4 * i);
  mem.forEach((v, i) => b.writeUInt32LE(Math.floor(v / unit), 16 + 4 * i));
  b.writeUInt16LE(Math.min(f.procs, 0xffff), 40);
  b.writeUInt32LE(unit, 52);
  return b;
}

/** The container's sysinfo from the host's and the container's figures (bytes, mem_unit 1). */
export function containerSysinfo(env: HandlerEnv): SysinfoFields {
  const h = hostSysinfo();
  const mem = env.facts.memory();
  const hostBytes = (v: number): number => v * h.memUnit;
  return {
    uptime: env.facts.uptime(h.uptime),
    loads: h.loads,
    totalram: mem ? mem.figures.total : hostBytes(h.totalram),
    freeram: mem ? mem.figures.free : hostBytes(h.freeram),
    sharedram: mem ? mem.shmem : hostBytes(h.sharedram),
    bufferram: mem ? 0 : hostBytes(h.bufferram),
    totalswap: mem ? mem.figures.swapTotal : hostBytes(h.totalswap),
    freeswap: mem ? mem.figures.swapFree : hostBytes(h.freeswap),
    procs: env.facts.tasks() ?? h.procs,
    memUnit: 1,
  };
}

export const sysinfo: SyscallHandler = {
  name: 'sysinfo',
  handle(env: HandlerEnv): Answer {
    const ptr = env.call.args[0]!;
    const data = encodeSysinfo(containerSysinfo(env), env.call.abi === 'i386' ? 4 : 8);
    if (ptr === 0n) throw new SyscallFault(Errno.EFAULT, 'sysinfo: NULL info');
    env.ensureValid();
    env.memory().write(ptr, data, 'sysinfo info');
    return ok(0);
  },
};
