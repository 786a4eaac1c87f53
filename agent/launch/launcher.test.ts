// The C launcher against the manager's LaunchServer: forwarding of argv/env/cwd/stdin, both answer
// kinds, the runc fast path, and malformed requests that harm no other call.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { logger } from '../common/log.js';
import { run as runAsync } from '../../e2e/lib/hostState.js';
import { TREE_BIN } from './treePaths.js';
import { encodeLaunchRequest, type LaunchRequest } from './launchProtocol.js';
import { LaunchServer } from './LaunchServer.js';
import { built, skipUnless } from '../../e2e/lib/e2eGate.js';

const dir = mkdtempSync(join(tmpdir(), 'vnode-launch-'));
const server = new LaunchServer(join(dir, 'launch.sock'), logger('test'));
const seen: LaunchRequest[] = [];
const answered: string[] = [];
const skip = skipUnless(built(join(TREE_BIN, 'vnode')));

before(async () => {
  server.handle('vnode-cni', async (req) => {
    seen.push(req);
    return { kind: 'exit', code: 7, stdout: `out:${req.stdin.toString()}`, stderr: 'err' };
  });
  server.handle('vnode-runc', async (req) => {
    seen.push(req);
    return { kind: 'exec', path: '/bin/sh', argv: ['sh', '-c', 'echo "hooked $0 $X"', req.argv[1]!], env: { X: 'y' } };
  });
  server.onAnswered((entry) => answered.push(entry));
  await server.listen();
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

// Asynchronous: the server under test runs on this process's event loop.
async function run(name: string, args: string[], env: Record<string, string> = {}, input = ''): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const r = await runAsync(join(TREE_BIN, name), args, { env: { PATH: process.env.PATH, VNODE_RUN_DIR: dir, ...env }, cwd: dir, input });
  return { status: r.code, stdout: r.stdout, stderr: r.stderr };
}

test('a forwarded call carries argv, env, cwd and stdin, and returns stdout, stderr and the code', { skip }, async () => {
  const before = answered.length;
  const r = await run('vnode-cni', ['a', 'b c'], { CNI_COMMAND: 'ADD' }, '{"x":1}');
  assert.equal(r.status, 7);
  assert.equal(r.stdout, 'out:{"x":1}');
  assert.equal(r.stderr, 'err');
  const req = seen.at(-1)!;
  assert.equal(req.entry, 'vnode-cni');
  assert.deepEqual(req.argv.slice(1), ['a', 'b c']);
  assert.equal(req.env.CNI_COMMAND, 'ADD');
  assert.equal(req.cwd, dir);
  assert.deepEqual(answered.slice(before), ['vnode-cni'], 'the answered request is reported with its entry (the manager counts pod work for its idle collection)');
});

test('vnode-runc execs runc directly unless the command is hooked', { skip }, async () => {
  const direct = await run('vnode-runc', ['--root', '/x', 'state', 'id1'], { VNODE_RUNC: '/bin/echo' });
  assert.equal(direct.stdout, '--root /x state id1\n');
  const hooked = await run('vnode-runc', ['--root', '/x', 'create', 'id2'], { VNODE_RUNC: '/bin/echo', VNODE_RUNC_HOOKED: ',create,' });
  assert.equal(hooked.stdout, 'hooked --root y\n');
  // The launcher says where runc's command is (its grammar of runc's global flags is the only one).
  seen.length = 0;
  await run('vnode-runc', ['--log', '/l', '--criu', 'x', '--debug', '--root=/x', 'create', 'id2'], { VNODE_RUNC: '/bin/echo', VNODE_RUNC_HOOKED: ',create,' });
  assert.equal(seen[0]?.argv[Number(seen[0].env.VNODE_RUNC_COMMAND_AT)], 'create');
  // Hooked or not, a vNode container's runc state lives under the run dir, whatever flag comes first.
  for (const args of [['--root', '/run/containerd/runc/k8s.io', '--log', '/l', 'state', 'id3'], ['--log', '/l', '--root', '/run/containerd/runc/k8s.io', 'state', 'id3'], ['--log', '/l', '--root=/run/containerd/runc/k8s.io', 'state', 'id3']]) {
    const r = await run('vnode-runc', args, { VNODE_RUNC: '/bin/echo', VNODE_RUNC_HOOKED: ',create,' });
    const root = args.includes('--root') ? ['--root', `${dir}/runc/k8s.io`] : [`--root=${dir}/runc/k8s.io`];
    const want = args[0] === '--root' ? [...root, '--log', '/l', 'state', 'id3'] : ['--log', '/l', ...root, 'state', 'id3'];
    assert.equal(r.stdout, `${want.join(' ')}\n`, args.join(' '));
  }
});

test('a start the manager marked ready runs runc at once; any other start, and a malformed id, asks the manager', { skip }, async () => {
  const env = { VNODE_RUNC: '/bin/echo', VNODE_RUNC_HOOKED: ',create,start,delete,' };
  const start = (id: string) => run('vnode-runc', ['--root', '/x', '--log', '/l', 'start', id], env);
  mkdirSync(join(dir, 'start-ready'), { recursive: true });
  writeFileSync(join(dir, 'start-ready', 'c0ffee'), '');
  seen.length = 0;
  assert.equal((await start("c0ffee")).stdout, `--root ${dir}/runc/x --log /l start c0ffee\n`, 'runc itself, with the run dir\'s root');
  assert.equal(seen.length, 0, 'the manager was not asked');
  assert.equal((await start('beef')).stdout, 'hooked --root y\n', 'no marker: the manager answers');
  writeFileSync(join(dir, 'start-ready', '.hidden'), '');
  assert.equal((await start('.hidden')).stdout, 'hooked --root y\n', 'an id containerd never makes is not looked up');
  assert.equal((await start('../start-ready/c0ffee')).stdout, 'hooked --root y\n');
  assert.equal(seen.length, 3);
  // Only start: a create of a marked id still goes to the manager.
  assert.equal((await run('vnode-runc', ['--root', '/x', 'create', 'c0ffee'], env)).stdout, 'hooked --root y\n');
});

test('without a manager the runc step still works and the shim falls back to the JS entry', { skip }, () => {
  const r = spawnSync(join(TREE_BIN, 'vnode-runc'), ['list', '-q'], { env: { VNODE_RUN_DIR: join(dir, 'none'), VNODE_RUNC: '/bin/echo' }, encoding: 'utf8' });
  assert.equal(r.stdout, 'list -q\n');
  const s = spawnSync(join(TREE_BIN, 'containerd-shim-vnode-v2'), ['-v'], { env: { PATH: process.env.PATH, VNODE_RUN_DIR: join(dir, 'none') }, encoding: 'utf8' });
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /containerd-shim-vnode-v2/);
});

test("the runc shim is told to leave a container's overlay to the manager only when a live manager says it takes it", { skip }, () => {
  // A tree of the launcher and a stand-in for the runc shim that prints what it was given.
  const tree = mkdtempSync(join(tmpdir(), 'vnode-tree-'));
  mkdirSync(join(tree, 'bin'));
  copyFileSync(join(TREE_BIN, 'vnode'), join(tree, 'bin/vnode'));
  symlinkSync('vnode', join(tree, 'bin/containerd-shim-vnode-v2'));
  symlinkSync('/bin/true', join(tree, 'bin/runc'));
  writeFileSync(join(tree, 'bin/containerd-shim-runc-v2'), '#!/bin/sh\necho "mounts=${VNODE_ROOTFS_MOUNTS:-unset}"\n', { mode: 0o755 });
  const run = join(tree, 'run');
  mkdirSync(run);
  const shim = (): string => spawnSync(join(tree, 'bin/containerd-shim-vnode-v2'), ['-namespace', 'k8s.io', '-id', 'x', 'start'], { env: { PATH: process.env.PATH, VNODE_RUN_DIR: run, VNODE_ROOTFS_MOUNTS: '1' }, encoding: 'utf8' }).stdout.trim();
  try {
    assert.equal(shim(), 'mounts=unset', 'no features file: an older manager mounts nothing itself');
    writeFileSync(join(run, 'features'), `${process.pid} rootfs-mounts\n`);
    assert.equal(shim(), 'mounts=1');
    writeFileSync(join(run, 'features'), `${process.pid} something-else\n`);
    assert.equal(shim(), 'mounts=unset', 'not this feature');
    const gone = spawnSync('/bin/true').pid!;
    writeFileSync(join(run, 'features'), `${gone} rootfs-mounts\n`);
    assert.equal(shim(), 'mounts=unset', "a file left by a manager that is gone says nothing");
    writeFileSync(join(run, 'features'), 'rootfs-mounts\n');
    assert.equal(shim(), 'mounts=unset', 'no pid');
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
});

// The patched go-runc that scripts/build.mjs built the shim from (a development tree keeps it).
const gopath = join(TREE_BIN, '../../../shim/gopath');
const pkg = join(gopath, 'src/github.com/containerd/go-runc');

test("the tree's runc shim runs the commands not hooked (and a ready start) itself, with the launcher's command line", { skip: skip || (!existsSync(join(pkg, 'vnode_linux_test.go')) && `no patched go-runc at ${pkg} (npm run build makes it)`) }, () => {
  // The table of shim/go-runc/vnode-direct.patch's Go test (vnode_linux_test.go), each direct
  // call's command line compared with what this launcher makes of the same call.
  const r = spawnSync('go', ['test', '-run', 'TestVnodeDirect', '-count=1', '.'], {
    cwd: pkg,
    env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/root', GO111MODULE: 'off', GOFLAGS: '', GOPATH: `${gopath}:/usr/share/gocode`, GOCACHE: join(gopath, '../cache'), VNODE_TEST_LAUNCHER: join(TREE_BIN, 'vnode') },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `go test in ${pkg}: ${r.error?.message ?? ''}${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /^ok/m);
});

test('a malformed or oversized request gets exit 70 and the server keeps serving', { skip }, async () => {
  const send = (bytes: Buffer) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const s = net.connect(join(dir, 'launch.sock'), () => s.end(bytes));
      s.on('data', (d) => chunks.push(d));
      s.on('end', () => resolve(Buffer.concat(chunks)));
      s.on('error', reject);
    });
  const garbage = Buffer.concat([Buffer.from([8, 0, 0, 0]), Buffer.from('XXXXXXXX')]);
  const a = await send(garbage);
  assert.match(a.toString('latin1'), /bad magic/);
  const huge = Buffer.from([0xff, 0xff, 0xff, 0x7f]);
  assert.match((await send(huge)).toString('latin1'), /exceeds/);
  const good = encodeLaunchRequest({ entry: 'vnode-cni', cwd: '/', argv: ['vnode-cni'], env: {}, stdin: Buffer.from('z') });
  const truncated = good.subarray(0, good.length - 3);
  const t = Buffer.concat([Buffer.from([truncated.length - 4, 0, 0, 0]), truncated.subarray(4)]);
  assert.match((await send(t)).toString('latin1'), /truncated/);
  assert.equal((await run('vnode-cni', [], {}, 'still')).stdout, 'out:still');
});
