// Reads and writes a trapped caller's memory with process_vm_readv/writev, which honour page
// protections exactly as the kernel's copy_from_user/copy_to_user would (a /proc/<tid>/mem
// descriptor would read PROT_NONE pages and write read-only ones). The pid names the caller as
// long as its notification is pending, which is why every handler checks ID_VALID after reading
// and before acting or writing (the protocol of seccomp_unotify(2)). Reads are bounded; an
// address the caller cannot access answers EFAULT, as the kernel would.
import { isSyscallError } from '../../addon/native.js';
import { readMemory, writeMemory } from '../../addon/procmem.js';
import { Errno, SyscallFault } from './SyscallFault.js';

const PAGE = 4096;
// Highest user address on x86_64 with 4-level paging (a pointer beyond it is always bad).
const USER_MAX = 0x7fff_ffff_f000n;

export class TargetMemory {
  constructor(readonly tid: number) {}

  private static check(addr: bigint, len: number, what: string): number {
    if (addr === 0n || addr + BigInt(len) > USER_MAX) throw new SyscallFault(Errno.EFAULT, `${what}: bad address 0x${addr.toString(16)}`);
    return Number(addr);
  }

  /** Up to `len` bytes at addr; stops early at the first inaccessible byte. */
  private readSome(addr: bigint, len: number, what: string): Buffer {
    TargetMemory.check(addr, len, what);
    try {
      return readMemory(this.tid, addr, len);
    } catch (e) {
      if (isSyscallError(e, 'EFAULT')) return Buffer.alloc(0);
      throw new SyscallFault(Errno.ESRCH, `${what}: reading caller ${this.tid}: ${(e as Error).message}`);
    }
  }

  /** Exactly len bytes, or EFAULT. */
  read(addr: bigint, len: number, what: string): Buffer {
    const b = this.readSome(addr, len, what);
    if (b.length < len) throw new SyscallFault(Errno.EFAULT, `${what}: ${len} bytes at 0x${addr.toString(16)} not readable`);
    return b;
  }

  /** A NUL-terminated string of at most max-1 bytes: EFAULT if it runs into memory the caller
   * cannot read, `tooLong` (ENAMETOOLONG for paths, EINVAL for names) if no NUL comes in time. */
  cString(addr: bigint, max: number, what: string, tooLong = Errno.ENAMETOOLONG): string {
    const parts: Buffer[] = [];
    let total = 0;
    let at = addr;
    while (total < max) {
      const want = Math.min(PAGE - Number(at % BigInt(PAGE)), max - total);
      const chunk = this.readSome(at, want, what);
      const nul = chunk.indexOf(0);
      if (nul >= 0) {
        parts.push(chunk.subarray(0, nul));
        return Buffer.concat(parts).toString('utf8');
      }
      if (chunk.length < want) throw new SyscallFault(Errno.EFAULT, `${what}: string at 0x${addr.toString(16)} runs into unreadable memory`);
      parts.push(chunk);
      total += chunk.length;
      at += BigInt(chunk.length);
    }
    throw new SyscallFault(tooLong, `${what}: no NUL within ${max} bytes at 0x${addr.toString(16)}`);
  }

  /** mount(2)'s data page: up to one page, cut at the first NUL or unreadable byte (the kernel
   * copies what it can of one page); EFAULT only if not even the first byte is readable. */
  dataPage(addr: bigint, what: string): string {
    const b = this.readSome(addr, Math.min(PAGE, PAGE - Number(addr % BigInt(PAGE)) + PAGE), what);
    if (b.length === 0) throw new SyscallFault(Errno.EFAULT, `${what}: 0x${addr.toString(16)} not readable`);
    const nul = b.indexOf(0);
    return b.subarray(0, nul >= 0 ? nul : Math.min(b.length, PAGE - 1)).toString('utf8');
  }

  /** Writes through process_vm_writev, which honours page protections as copy_to_user does
   * (/proc/<tid>/mem would write into read-only pages). Call it after ID_VALID: the caller is
   * then blocked in its syscall, so the pid still names it. */
  write(addr: bigint, data: Buffer, what: string): void {
    TargetMemory.check(addr, data.length, what);
    let n: number;
    try {
      n = writeMemory(this.tid, addr, data);
    } catch (e) {
      if (isSyscallError(e, 'EFAULT')) throw new SyscallFault(Errno.EFAULT, `${what}: 0x${addr.toString(16)} not writable`);
      throw new SyscallFault(Errno.ESRCH, `${what}: writing caller ${this.tid}: ${(e as Error).message}`);
    }
    if (n !== data.length) throw new SyscallFault(Errno.EFAULT, `${what}: only ${n} of ${data.length} bytes at 0x${addr.toString(16)} writable`);
  }

  close(): void {
    // nothing held: process_vm_readv/writev need no descriptor
  }
}
