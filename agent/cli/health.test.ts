// `vnode health` as the DaemonSet's probes run it: the built CLI against a real vnode-manager,
// then against every way the manager can be missing.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { logger } from '../common/log.js';
import { mountPointsUnder, readMountInfo } from '../common/mountinfo.js';
import { LaunchServer } from '../launch/LaunchServer.js';
import { TREE_BIN } from '../launch/treePaths.js';
import { run as runAsync } from '../../e2e/lib/hostState.js';
import { built, skipUnless } from '../../e2e/lib/e2eGate.js';
import { retireManagerHost } from '../../e2e/lib/ManagerProcess.js';

const skip = skipUnless(built(join(TREE_BIN, 'vnode')));

async function run(bin: string, args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const r = await runAsync(join(TREE_BIN, bin), args, { env: { PATH: process.env.PATH, ...env } });
  return { status: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** Lazily unmounts what a SIGKILLed manager left under dir (its vnodefs FUSE mount), deepest first. */
function unmountUnder(dir: string): void {
  for (const m of mountPointsUnder(dir, readMountInfo(), { strictlyBelow: true })) execFileSync('umount', ['-l', m]);
}

async function until(what: string, fn: () => boolean, ms = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!fn()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('vnode health: 0 while the real manager answers, 1 with a reason once it is gone', { skip, timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-health-'));
  const runDir = join(dir, 'run');
  const mgr = spawn(join(TREE_BIN, 'vnode-manager'), [], { env: { PATH: process.env.PATH, VNODE_RUN_DIR: runDir, VNODE_STATE_DIR: join(dir, 'state'), VNODE_LOG_LEVEL: 'error', VNODE_METRICS_PORT: '0' }, stdio: 'ignore' });
  // One hook, in order: the manager first (so nothing remounts), then its mounts, then the files.
  t.after(async () => {
    mgr.kill('SIGKILL');
    await retireManagerHost(runDir); // the fd keeper the manager started beside itself, and its mounts
    unmountUnder(dir);
    rmSync(dir, { recursive: true, force: true });
  });
  await until('launch.sock', () => existsSync(join(runDir, 'launch.sock')));

  const ok = await run('vnode', ['health'], { VNODE_RUN_DIR: runDir });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^vnode-manager ok: pid ${mgr.pid}, up \\d+\\.\\d s; launch ok, vnodefs (ok|off), seccomp ok, state ok, metrics ok\\n$`));
  const ready = await run('vnode', ['health', '--ready'], { VNODE_RUN_DIR: runDir });
  assert.equal(ready.status, 0, ready.stderr);
  assert.match(ready.stdout, /^vnode-manager ready: /);
  // The launch socket moved away under the manager (reached here through a link elsewhere):
  // launchers find nobody at its path, so liveness fails and says why.
  const sock = join(runDir, 'launch.sock');
  const moved = join(runDir, 'moved.sock');
  const via = join(dir, 'via');
  renameSync(sock, moved);
  mkdirSync(via);
  symlinkSync(moved, join(via, 'launch.sock'));
  const gone = await run('vnode', ['health'], { VNODE_RUN_DIR: via });
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /launch failed: .*run\/launch\.sock: ENOENT/);
  renameSync(moved, sock);
  // The flag beats the environment.
  const flag = await run('vnode', ['health', '--run-dir', runDir], { VNODE_RUN_DIR: join(dir, 'elsewhere') });
  assert.equal(flag.status, 0, flag.stderr);

  // SIGKILL: the fd keeper still holds the socket for the next manager; nobody answers on it.
  const exited = new Promise((r) => mgr.once('exit', r));
  mgr.kill('SIGKILL');
  await exited;
  assert.ok(existsSync(join(runDir, 'launch.sock')));
  const stale = await run('vnode', ['health', '--timeout-ms', '1000'], { VNODE_RUN_DIR: runDir });
  assert.equal(stale.status, 1);
  assert.match(stale.stderr, /did not answer within 1000 ms \(it is not running, or starting: its socket is kept/);

  const none = await run('vnode', ['health'], { VNODE_RUN_DIR: join(dir, 'nothing') });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no manager socket at .*nothing\/launch\.sock/);

  const bad = await run('vnode', ['health', '--bogus'], {});
  assert.equal(bad.status, 2);
});

test('vnode health: a hung manager fails within the timeout; one without the entry says so', { skip, timeout: 30_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-health-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Accepts and reads, never answers: the probe must not hang past its timeout.
  const hung = net.createServer(() => undefined);
  const held: net.Socket[] = [];
  hung.on('connection', (s) => held.push(s));
  await new Promise<void>((r) => hung.listen(join(dir, 'launch.sock'), r));
  const t0 = Date.now();
  const h = await run('vnode', ['health', '--timeout-ms', '300'], { VNODE_RUN_DIR: dir });
  assert.equal(h.status, 1);
  assert.match(h.stderr, /did not answer within 300 ms/);
  assert.ok(Date.now() - t0 < 5000);
  for (const s of held) s.destroy();
  await new Promise<void>((r) => hung.close(() => r()));

  // A manager that predates the health entry answers "no handler": not healthy.
  const old = new LaunchServer(join(dir, 'old', 'launch.sock'), logger('test'));
  await old.listen();
  t.after(() => old.close());
  const o = await run('vnode', ['health'], { VNODE_RUN_DIR: join(dir, 'old') });
  assert.equal(o.status, 1);
  assert.match(o.stderr, /answered exit 70: vnode-manager: no handler for vnode-health/);
});
