// vNode creation (holder ready, and the full getOrCreate with its state writes) and the memory a
// vNode costs, beside a plain process spawn measured in the same run.
//   BENCH vnode-create median_ms=.. holder_ready_median_ms=.. spawn_median_ms=.. ratio=..
//   BENCH vnode-memory rss_kb=.. pss_kb=.. spawn_rss_kb=.. spawn_pss_kb=.. ratio=.. kernel_kb=.. spawn_kernel_kb=.. kernel_ratio=..
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnHolder } from '../addon/holder.js';
import { pidfdSendSignal, waitForExit } from '../addon/pidfd.js';
import { parseConfig } from '../agent/common/config.js';
import { configureLogging } from '../agent/common/log.js';
import { HOLDER_NAMESPACES, locateTree } from '../agent/vnode/Holder.js';
import { VNodeManager } from '../agent/vnode/VNodeManager.js';

const N = 100;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const kb = (pid: number, field: 'VmRSS' | 'Pss'): number => {
  const file = field === 'Pss' ? `/proc/${pid}/smaps_rollup` : `/proc/${pid}/status`;
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(file, 'utf8'))?.[1] ?? NaN);
};
/** Kernel memory that namespaces, tasks and page tables take and that reclaim cannot free
 * (MemAvailable moves too much with page cache to see a few hundred KB per instance). */
const kernelKb = (): number => {
  const m = readFileSync('/proc/meminfo', 'utf8');
  const f = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(m)?.[1] ?? 0);
  return f('SUnreclaim') + f('PageTables') + f('KernelStack') + f('Percpu');
};
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

async function main(): Promise<void> {
  configureLogging({ level: 'error' });
  const base = mkdtempSync(join(tmpdir(), 'vnode-core-bench-'));
  chmodSync(base, 0o711);
  const cfg = parseConfig({ runDir: join(base, 'run'), stateDir: join(base, 'state'), idPool: { start: 0x38000000, count: 256 } });
  const m = await VNodeManager.open(cfg);
  const tree = locateTree();
  try {
    // Warm-up of every path (module loads, page cache).
    for (let i = 0; i < 5; i++) {
      await m.getOrCreate(`ns:warm-${i}`, 'p');
      await m.release(`ns:warm-${i}`, 'p');
    }
    const spawnTrue = async (): Promise<number> => {
      const t0 = process.hrtime.bigint();
      const c = spawn('/bin/true', [], { stdio: 'ignore' });
      await once(c, 'exit');
      return ms(t0);
    };
    await spawnTrue();

    // Interleaved, so both see the same machine load.
    const create: number[] = [];
    const ready: number[] = [];
    const plain: number[] = [];
    const root = join(base, 'holder-root');
    mkdirSync(root, { mode: 0o555 });
    for (let i = 0; i < N; i++) {
      let t0 = process.hrtime.bigint();
      await m.getOrCreate(`ns:bench-${i}`, 'p');
      create.push(ms(t0));
      t0 = process.hrtime.bigint();
      const h = await spawnHolder({
        path: join(tree, 'bin/vnode'),
        argv: ['vnode-holder', '--hostname', 'bench', '--root', root, '--commit'],
        env: [],
        uidMap: `0 ${0x3f000000} 65536\n`,
        gidMap: `0 ${0x3f000000} 65536\n`,
        nsFlags: HOLDER_NAMESPACES,
      });
      ready.push(ms(t0));
      writeSync(h.controlFd, 'C');
      closeSync(h.controlFd);
      pidfdSendSignal(h.pidfd, 'SIGKILL');
      await waitForExit(h.pidfd);
      closeSync(h.pidfd);
      plain.push(await spawnTrue());
    }
    for (let i = 0; i < N; i++) await m.release(`ns:bench-${i}`, 'p');
    const c = median(create);
    const s = median(plain);
    console.log(`BENCH vnode-create median_ms=${c.toFixed(2)} holder_ready_median_ms=${median(ready).toFixed(2)} spawn_median_ms=${s.toFixed(2)} ratio=${(c / s).toFixed(2)}`);

    // Memory: per-process RSS/PSS of a holder against a plain sleeping process, and the kernel's
    // unreclaimable memory per instance (namespaces incl. netns, task, page tables) over N of each.
    const used0 = kernelKb();
    for (let i = 0; i < N; i++) await m.getOrCreate(`ns:mem-${i}`, 'p');
    await new Promise((r) => setTimeout(r, 200));
    const used1 = kernelKb();
    const vs = m.list().filter((v) => v.key.startsWith('ns:mem-'));
    const rss = median(vs.map((v) => kb(v.holder!.pid, 'VmRSS')));
    const pss = median(vs.map((v) => kb(v.holder!.pid, 'Pss')));
    for (const v of vs) await m.release(v.key, 'p');
    await new Promise((r) => setTimeout(r, 200));
    const used2 = kernelKb();
    const sleepers: ChildProcess[] = [];
    for (let i = 0; i < N; i++) {
      const p = spawn('sleep', ['600'], { stdio: 'ignore' });
      await once(p, 'spawn');
      sleepers.push(p);
    }
    await new Promise((r) => setTimeout(r, 200));
    const used3 = kernelKb();
    const srss = median(sleepers.map((p) => kb(p.pid!, 'VmRSS')));
    const spss = median(sleepers.map((p) => kb(p.pid!, 'Pss')));
    for (const p of sleepers) p.kill('SIGKILL');
    await Promise.all(sleepers.map((p) => (p.exitCode === null && p.signalCode === null ? once(p, 'exit') : Promise.resolve())));
    const sys = (used1 - used0) / N;
    const ssys = (used3 - used2) / N;
    console.log(
      `BENCH vnode-memory rss_kb=${rss} pss_kb=${pss} spawn_rss_kb=${srss} spawn_pss_kb=${spss} ratio=${(rss / srss).toFixed(2)} ` +
        `kernel_kb=${sys.toFixed(0)} spawn_kernel_kb=${ssys.toFixed(0)} kernel_ratio=${(sys / Math.max(ssys, 1)).toFixed(2)}`,
    );
  } finally {
    for (const v of m.list()) await m.destroy(v.key).catch(() => undefined);
    await m.close();
    rmSync(base, { recursive: true, force: true });
  }
}

await main();
