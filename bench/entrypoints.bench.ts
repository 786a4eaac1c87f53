// Start-up cost of each entry containerd runs on a pod's path, against the stock binary it
// stands beside: the shim (containerd-shim-runc-v2 -v), a CNI plugin (bridge VERSION), runc
// (--version); and Node's own start for the manager and CLI (node -e 0).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { retireManagerHost } from '../e2e/lib/ManagerProcess.js';
import { TREE_BIN } from '../agent/launch/treePaths.js';
import { bench, pairedMedians, timeRun } from './lib.js';

const N = Number(process.env.BENCH_RUNS ?? 200);
const dir = mkdtempSync(join(tmpdir(), 'vnode-bench-entry-'));
const env = { PATH: process.env.PATH, VNODE_RUN_DIR: dir, VNODE_STATE_DIR: join(dir, 'state'), VNODE_LOG_LEVEL: 'warn' };
const manager = spawn(join(TREE_BIN, 'vnode-manager'), [], { env, stdio: ['ignore', 'inherit', 'inherit'] });

try {
  const t0 = Date.now();
  while (!existsSync(join(dir, 'launch.sock'))) {
    if (Date.now() - t0 > 10_000) throw new Error('vnode-manager did not come up');
    await new Promise((r) => setTimeout(r, 10));
  }
  const shim = pairedMedians(N, () => timeRun(join(TREE_BIN, 'containerd-shim-vnode-v2'), ['-v'], env), () => timeRun('/usr/bin/containerd-shim-runc-v2', ['-v'], env));
  bench('entry-shim', { vnode_ms: shim.a, containerd_shim_runc_v2_ms: shim.b, runs: N }, shim.a / shim.b);
  const cniEnv = { ...env, CNI_COMMAND: 'VERSION' };
  const cni = pairedMedians(N, () => timeRun(join(TREE_BIN, 'vnode-cni'), [], cniEnv, '{}'), () => timeRun('/usr/lib/cni/bridge', [], cniEnv, '{}'));
  bench('entry-cni', { vnode_ms: cni.a, bridge_plugin_ms: cni.b, runs: N }, cni.a / cni.b);
  const runcEnv = { ...env, VNODE_RUNC: '/usr/sbin/runc' };
  const runc = pairedMedians(N, () => timeRun(join(TREE_BIN, 'vnode-runc'), ['--version'], runcEnv), () => timeRun('/usr/sbin/runc', ['--version'], runcEnv));
  bench('entry-runc', { vnode_runc_ms: runc.a, runc_ms: runc.b, runs: N }, runc.a / runc.b);
  const n2 = Math.max(10, N / 10);
  const cli = pairedMedians(n2, () => timeRun(join(TREE_BIN, 'vnode'), ['version'], env), () => timeRun(process.execPath, ['-e', '0'], env));
  bench('entry-node-cli', { vnode_cli_ms: cli.a, node_e0_ms: cli.b, runs: n2 }, cli.a / cli.b);
} finally {
  manager.kill('SIGTERM');
  await new Promise((r) => manager.once('exit', r));
  await retireManagerHost(dir); // the fd keeper the manager started beside itself, vnodefs' mount
  rmSync(dir, { recursive: true, force: true });
}
