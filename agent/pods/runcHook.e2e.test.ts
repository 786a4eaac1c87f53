// vnode-inject, what vnode-runc's start hook (runcHook.ts, unit-tested there) answers `runc start`
// of a vNode container with: the launcher's vnode-inject, which binds files into the container's mount namespace and then execs
// runc start itself (no process is started from the manager). Tested against a real process in
// its own mount, pid, net, ipc and uts namespaces, standing in for a created container.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TREE_BIN } from '../launch/treePaths.js';

const dir = mkdtempSync(join(tmpdir(), 'vnode-inject-'));
const INJECT = join(TREE_BIN, 'vnode-inject');
let target: ReturnType<typeof spawn> | undefined;

before(async () => {
  writeFileSync(join(dir, 'target'), 'host\n');
  writeFileSync(join(dir, 'source'), 'vnode\n');
  // `unshare` forks the "container" (pid 1 of its pid namespace) and waits for it.
  target = spawn('unshare', ['--kill-child', '--mount', '--propagation', 'private', '--pid', '--fork', '--net', '--ipc', '--uts', 'sleep', '300'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const kids = readFileSync(`/proc/${target.pid}/task/${target.pid}/children`, 'utf8').trim();
    if (kids) break;
    await new Promise((r) => setTimeout(r, 20));
  }
});
after(() => {
  // The container process first (unshare's --kill-child covers a test process that dies).
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
  const r = spawnSync('nsenter', ['-t', String(pid), '-m', ...cmd], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('vnode-inject -- CMD: binds inside the container, then CMD runs in the host namespaces with our fds', () => {
  const pid = containerPid();
  const out = join(dir, 'cmd-ns');
  const r = spawnSync(INJECT, [String(pid), `${join(dir, 'source')}=${join(dir, 'target')}`, '--', '/bin/sh', '-c', `readlink /proc/self/ns/mnt > ${out}; echo ran "$0"`, 'arg0'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'ran arg0\n', 'nothing but the command writes to stdout (the runc shim reads runc start from it)');
  assert.equal(inContainer(pid, ['cat', join(dir, 'target')]), 'vnode\n', 'the container sees the bound file');
  assert.equal(readFileSync(join(dir, 'target'), 'utf8'), 'host\n', 'the host does not');
  assert.equal(readFileSync(out, 'utf8').trim(), readlinkSync('/proc/self/ns/mnt'), 'the command runs in the host mount namespace');
  inContainer(pid, ['umount', join(dir, 'target')]);
});

test('vnode-inject -- CMD: a failed binding exits non-zero and CMD never runs', () => {
  const pid = containerPid();
  const marker = join(dir, 'ran');
  const r = spawnSync(INJECT, [String(pid), `${join(dir, 'missing')}=${join(dir, 'target')}`, '--', '/bin/touch', marker], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /open_tree .*missing/);
  assert.throws(() => readFileSync(marker), /ENOENT/, 'runc start must not run after a failed binding');
  const bad = spawnSync(INJECT, [String(pid), `${join(dir, 'source')}=${join(dir, 'target')}`, '--'], { encoding: 'utf8' });
  assert.equal(bad.status, 2, 'a "--" without a command is a usage error');
  const gone = spawnSync(INJECT, ['999999999', `${join(dir, 'source')}=${join(dir, 'target')}`, '--', '/bin/touch', marker], { encoding: 'utf8' });
  assert.notEqual(gone.status, 0, 'a vanished container fails the start');
  assert.throws(() => readFileSync(marker), /ENOENT/);
});
