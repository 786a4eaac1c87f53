// nsAction's `overlay` op (addon/src/nsaction.cc): host files bound over paths a process already
// has, from all of its namespaces, without a process of ours. VNodePods binds vnodefs' /proc/sys
// entries into a created container with it. Tested against a real process in its own mount, pid,
// net, ipc and uts namespaces with its own procfs, standing in for a created container.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { nsAction, NsOp } from './nsaction.js';

const dir = mkdtempSync(join(tmpdir(), 'vnode-overlay-'));
let target: ReturnType<typeof spawn> | undefined;

before(async () => {
  writeFileSync(join(dir, 'target'), 'host\n');
  writeFileSync(join(dir, 'source'), 'vnode\n');
  mkdirSync(join(dir, 'real'));
  writeFileSync(join(dir, 'real', 'file'), 'host\n');
  symlinkSync(join(dir, 'real'), join(dir, 'link'));
  // `unshare` forks the "container" (pid 1 of its pid namespace, with its own /proc) and waits.
  target = spawn('unshare', ['--kill-child', '--mount', '--propagation', 'private', '--pid', '--fork', '--mount-proc', '--net', '--ipc', '--uts', 'sleep', '300'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const kids = readFileSync(`/proc/${target.pid}/task/${target.pid}/children`, 'utf8').trim();
    if (kids) break;
    await new Promise((r) => setTimeout(r, 20));
  }
});
after(() => {
  try {
    process.kill(containerPid(), 'SIGKILL');
  } catch {
    // never started
  }
  target?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function containerPid(): number {
  return Number(readFileSync(`/proc/${target!.pid}/task/${target!.pid}/children`, 'utf8').trim().split(' ')[0]);
}

function inContainer(pid: number, cmd: string[]): string {
  const r = spawnSync('nsenter', ['-t', String(pid), '-m', '-p', '-n', ...cmd], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('overlay: binds where the process looks, its own /proc/sys/net entry included; the host sees none; a missing path is skipped', async () => {
  const pid = containerPid();
  const hostForward = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
  const r = await nsAction({ op: NsOp.overlay, pid, overlays: [[join(dir, 'source'), join(dir, 'target')], [join(dir, 'source'), '/proc/sys/net/ipv4/ip_forward'], [join(dir, 'source'), '/proc/sys/no/such/entry']] });
  assert.deepEqual(r, { errno: 0, code: '', stage: '', value: 2 });
  assert.equal(inContainer(pid, ['cat', join(dir, 'target')]), 'vnode\n', 'the container sees the bound file');
  assert.equal(inContainer(pid, ['cat', '/proc/sys/net/ipv4/ip_forward']), 'vnode\n', 'on the entry of its own network namespace');
  assert.equal(readFileSync(join(dir, 'target'), 'utf8'), 'host\n', 'the host does not');
  assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), hostForward);
  inContainer(pid, ['umount', join(dir, 'target')]);
  inContainer(pid, ['umount', '/proc/sys/net/ipv4/ip_forward']);
});

test('overlay: no path followed through a symlink, a vanished process and a request without overlays fail', async () => {
  const pid = containerPid();
  const r = await nsAction({ op: NsOp.overlay, pid, overlays: [[join(dir, 'source'), join(dir, 'link', 'file')]] });
  assert.equal(r.code, 'ELOOP');
  assert.equal(r.stage, 'resolve target');
  assert.equal(inContainer(pid, ['cat', join(dir, 'real', 'file')]), 'host\n', 'nothing bound through it');
  const gone = await nsAction({ op: NsOp.overlay, pid: 999_999_999, overlays: [[join(dir, 'source'), join(dir, 'target')]] });
  assert.equal(gone.code, 'ENOENT');
  assert.equal(gone.stage, 'open target');
  assert.throws(() => nsAction({ op: NsOp.overlay, pid, overlays: [] }), /overlay without overlays/);
});
