// Tests only (fuserestart.e2e.test.ts): a container's reader of vnodefs files while the server is
// killed and replaced. It loops over FILES: open/read/close of each, and a read at offset 0 on
// an fd of each opened once at start (held across every restart), checking every content
// (MemTotal must be its own group's). Stops when STOP exists; prints one JSON line: operations,
// failures (with their error), the longest single call and when it ended.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';

const [mnt, stop, memTotalKb, ...files] = process.argv.slice(2) as [string, string, string, ...string[]];
const buf = Buffer.alloc(65536);

const checks: Record<string, RegExp> = {
  'proc/meminfo': new RegExp(`^MemTotal:\\s+${memTotalKb} kB\\nMemFree:`),
  'proc/uptime': /^\d+\.\d\d \d+\.\d\d\n$/,
  'proc/loadavg': /^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+\/\d+ \d+\n$/,
  'proc/stat': /^cpu +\d+ /,
  'sys/devices/system/cpu/online': /^[0-9][0-9,-]*\n$/,
};

let ops = 0;
let maxStallMs = 0;
let maxStallAt = 0;
const failures: string[] = [];
let failed = 0;

function timed<T>(f: () => T): T {
  const t0 = performance.now();
  try {
    return f();
  } finally {
    const ms = performance.now() - t0;
    if (ms > maxStallMs) {
      maxStallMs = ms;
      maxStallAt = Date.now();
    }
  }
}

function readAll(fd: number, pread: boolean): string {
  let len = 0;
  for (;;) {
    const n = timed(() => readSync(fd, buf, len, buf.length - len, pread ? len : null));
    if (n === 0) return buf.toString('latin1', 0, len);
    len += n;
  }
}

function check(file: string, text: string, how: string): void {
  ops++;
  if (!checks[file]!.test(text)) {
    failed++;
    if (failures.length < 20) failures.push(`${how} ${file}: wrong content ${JSON.stringify(text.slice(0, 80))}`);
  }
}

function attempt(file: string, how: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    ops++;
    failed++;
    if (failures.length < 20) failures.push(`${how} ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

const held = new Map<string, number>();
for (const f of files) held.set(f, openSync(`${mnt}/${f}`, 'r'));
process.stdout.write('STARTED\n');
while (!existsSync(stop)) {
  for (const f of files) {
    attempt(f, 'open/read/close', () => {
      const fd = timed(() => openSync(`${mnt}/${f}`, 'r'));
      try {
        check(f, readAll(fd, false), 'open/read/close');
      } finally {
        timed(() => closeSync(fd));
      }
    });
    attempt(f, 'pread on a held fd', () => check(f, readAll(held.get(f)!, true), 'pread on a held fd'));
  }
}
for (const fd of held.values()) closeSync(fd);
process.stdout.write(`${JSON.stringify({ ops, failed, failures, maxStallMs: Math.round(maxStallMs), maxStallAt })}\n`);
