// Reads and writes a trapped caller's memory through /proc/<tid>/mem. A descriptor stays bound to
// the address space it was opened for: opened before the ID_VALID check, it cannot be redirected
// to another process by pid reuse (process_vm_readv by pid could). Reads are bounded; an address
// the caller cannot access answers EFAULT, as the kernel would.
import { closeSync, openSync, readSync } from 'node:fs';
import { isSyscallError } from '../../addon/native.js';
import { writeMemory } from '../../addon/procmem.js';
import { Errno, SyscallFault } from './SyscallFault.js';

const PAGE = 4096;
// Highest user address on x86_64 with 4-level paging (a pointer beyond it is always bad).
const USER_MAX = 0x7fff_ffff_f000n;

export class TargetMemory {
  private fd = -1;

  constructor(readonly tid: number) {}

  private open(): number {
    if (this.fd < 0) {
      try {
        this.fd = openSync(`/proc/${this.tid}/mem`, 'r');
      } catch (e) {
        throw new SyscallFault(Errno.ESRCH, `caller ${this.tid} is gone: ${(e as Error).message}`);
      }
    }
    return this.fd;
  }

  private static check(addr: bigint, len: number, what: string): number {
    if (addr === 0n || addr + BigInt(len) > USER_MAX) throw new SyscallFault(Errno.EFAULT, `${what}: bad address 0x${addr.toString(16)}`);
    return Number(addr);
  }

  /** Up to `len` bytes at addr; stops early at the first inaccessible page. */
  private readSome(addr: bigint, len: number, what: string): Buffer {
    const at = TargetMemory.check(addr, len, what);
    const out = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      let n: number;
      try {
        n = readSync(this.open(), out, got, len - got, at + got);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EIO' || (e as NodeJS.ErrnoException).code === 'EFAULT') break;
        throw new SyscallFault(Errno.ESRCH, `${what}: reading caller ${this.tid}: ${(e as Error).message}`);
      }
      if (n === 0) break;
      got += n;
    }
    return out.subarray(0, got);
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
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // already gone
      }
      this.fd = -1;
    }
  }
}
