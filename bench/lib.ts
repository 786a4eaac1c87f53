// Shared bits of the benchmarks: timing, medians, the BENCH line format.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

let clockTicks = 0;
/** CPU seconds a process has used, all its threads (utime + stime of /proc/<pid>/stat). */
export function processCpuS(pid: number): number {
  clockTicks ||= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / clockTicks; // utime, stime (fields 14, 15)
}

/** Wall time of one synchronous run of a command, in milliseconds; throws if it fails. */
export function timeRun(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, input?: string): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, input, stdio: ['pipe', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr?.toString()}${r.stdout?.toString()}`);
  return ms;
}

/** Median wall time of n runs, interleaved with its peer so both see the same machine state. */
export function pairedMedians(n: number, a: () => number, b: () => number): { a: number; b: number } {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < n; i++) {
    as.push(a());
    bs.push(b());
  }
  return { a: median(as), b: median(bs) };
}

export function fmt(x: number, digits = 2): string {
  return x.toFixed(digits);
}

/** Prints `BENCH <name> k=v ... ratio=<x>`. */
export function bench(name: string, fields: Record<string, string | number>, ratio: number): void {
  const kv = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "number" && !Number.isInteger(v) ? fmt(v, 3) : v}`);
  console.log(`BENCH ${name} ${kv.join(' ')} ratio=${fmt(ratio, 3)}`);
}
