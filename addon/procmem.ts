// Another process's memory (process_vm_readv/writev): syscall arguments behind pointers.
import { fn } from './native.js';

export const readMemory = fn<(pid: number, addr: bigint, length: number) => Buffer>('processVmRead');
export const writeMemory = fn<(pid: number, addr: bigint, data: Buffer) => number>('processVmWrite');

const PAGE = 4096n;

/** A NUL-terminated string at addr, read page by page so an unmapped page after the string does
 * not fail the read. Throws when no NUL comes within `max` bytes. */
export function readCString(pid: number, addr: bigint, max = 4096): string {
  const parts: Buffer[] = [];
  let total = 0;
  let at = addr;
  while (total < max) {
    const toPageEnd = Number(PAGE - (at % PAGE));
    const want = Math.min(toPageEnd, max - total);
    const chunk = readMemory(pid, at, want);
    const nul = chunk.indexOf(0);
    if (nul >= 0) {
      parts.push(chunk.subarray(0, nul));
      return Buffer.concat(parts).toString('utf8');
    }
    if (chunk.length < want) throw new Error(`readCString pid ${pid} at 0x${addr.toString(16)}: string runs into unmapped memory`);
    parts.push(chunk);
    total += chunk.length;
    at += BigInt(chunk.length);
  }
  throw new Error(`readCString pid ${pid} at 0x${addr.toString(16)}: no NUL within ${max} bytes`);
}
