// The holder spawn and netns helper on the real kernel: ids mapped, root in its namespace, an
// empty root, errors that keep their errno.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { createNetns, NamespaceFlags as F, spawnHolder } from './holder.js';
import { umount2 } from './mount.js';
import { isSyscallError } from './native.js';
import { pidfdSendSignal, waitForExit } from './pidfd.js';

const bin = fileURLToPath(new URL('../../build/opt/vnode/bin/vnode', import.meta.url));
const ALL = F.CLONE_NEWUSER | F.CLONE_NEWPID | F.CLONE_NEWNS | F.CLONE_NEWUTS | F.CLONE_NEWIPC | F.CLONE_NEWNET | F.CLONE_NEWCGROUP;
const map = (start: number): string => `0 ${start} 65536\n`;

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'vnode-core-holder-'));
  chmodSync(d, 0o711); // the holder runs as an unprivileged host uid
  mkdirSync(join(d, 'root'), { mode: 0o555 });
  return d;
}

test('a holder runs as root of its own id range in new namespaces, in an empty root', async () => {
  const d = tmp();
  const h = await spawnHolder({
    path: bin,
    argv: ['vnode-holder', '--hostname', 'core-test', '--root', join(d, 'root'), '--commit'],
    env: [],
    uidMap: map(400000),
    gidMap: map(400000),
    nsFlags: ALL,
  });
  try {
    writeSync(h.controlFd, 'C');
    closeSync(h.controlFd);
    assert.match(readFileSync(`/proc/${h.pid}/uid_map`, 'utf8'), /^\s*0\s+400000\s+65536\s*$/);
    const status = readFileSync(`/proc/${h.pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+400000\s+400000\s+400000\s+400000$/m);
    assert.match(status, /^NSpid:\s+\d+\s+1$/m, 'pid 1 of its own pid namespace');
    for (const ns of ['user', 'pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup'])
      assert.notEqual(readlinkSync(`/proc/${h.pid}/ns/${ns}`), readlinkSync(`/proc/self/ns/${ns}`), `${ns} namespace is new`);
    const nsexec = join(bin, '..', 'vnode-nsexec');
    assert.equal(execFileSync(nsexec, [String(h.pid), 'user,uts', '--', 'busybox', 'hostname']).toString().trim(), 'core-test');
    // mnt joined: the holder's root is empty (busybox is static and opened before entering)
    assert.deepEqual(execFileSync(nsexec, [String(h.pid), 'user,mnt', '--', 'busybox', 'ls', '-A', '/']).toString(), '');
  } finally {
    pidfdSendSignal(h.pidfd, 'SIGKILL');
    const exit = await waitForExit(h.pidfd);
    closeSync(h.pidfd);
    assert.deepEqual(exit, { pid: h.pid, exited: false, status: 9 }, 'our child, reaped through its pidfd');
    rmSync(d, { recursive: true });
  }
});

test('a holder whose manager goes away before commit exits by itself', async () => {
  const d = tmp();
  const h = await spawnHolder({ path: bin, argv: ['vnode-holder', '--root', join(d, 'root'), '--commit'], env: [], uidMap: map(400000), gidMap: map(400000), nsFlags: ALL });
  closeSync(h.controlFd); // as if the manager died before recording the holder
  const exit = await waitForExit(h.pidfd);
  closeSync(h.pidfd);
  assert.deepEqual(exit, { pid: h.pid, exited: true, status: 0 });
  rmSync(d, { recursive: true });
});

test('spawn failures carry errno and say where', async () => {
  const d = tmp();
  await assert.rejects(
    spawnHolder({ path: join(d, 'missing'), argv: ['vnode-holder'], env: [], uidMap: map(400000), gidMap: map(400000), nsFlags: ALL }),
    (e: unknown) => isSyscallError(e, 'ENOENT') && /holder execve/.test(e.message),
  );
  await assert.rejects(
    spawnHolder({ path: bin, argv: ['vnode-holder'], env: [], uidMap: '0 400000 65536\n1 400000 1\n', gidMap: map(400000), nsFlags: ALL }),
    (e: unknown) => isSyscallError(e, 'EINVAL') && /write uid_map/.test(e.message),
  );
  // the holder's own failure (its root does not exist) comes back as its message
  await assert.rejects(
    spawnHolder({ path: bin, argv: ['vnode-holder', '--root', join(d, 'nope')], env: [], uidMap: map(400000), gidMap: map(400000), nsFlags: ALL }),
    (e: unknown) => isSyscallError(e) && /bind root: No such file or directory/.test(e.message),
  );
  rmSync(d, { recursive: true });
});

/** A committed holder for fn; afterwards the netns bound on target, the holder and d are gone. */
async function withCommittedHolder(d: string, target: string, fn: (h: Awaited<ReturnType<typeof spawnHolder>>) => Promise<void>): Promise<void> {
  const h = await spawnHolder({ path: bin, argv: ['vnode-holder', '--root', join(d, 'root'), '--commit'], env: [], uidMap: map(400000), gidMap: map(400000), nsFlags: ALL });
  writeSync(h.controlFd, 'C');
  closeSync(h.controlFd);
  try {
    await fn(h);
  } finally {
    await umount2(target, 0).catch(() => undefined);
    pidfdSendSignal(h.pidfd, 'SIGKILL');
    await waitForExit(h.pidfd);
    closeSync(h.pidfd);
    rmSync(d, { recursive: true });
  }
}

test('createNetns makes a netns owned by the holder user namespace', async () => {
  const d = tmp();
  const target = join(d, 'netns');
  writeFileSync(target, '');
  await withCommittedHolder(d, target, async (h) => {
    await createNetns(`/proc/${h.pid}/ns/user`, target);
    const ino = statSync(target).ino;
    assert.notEqual(`net:[${ino}]`, readlinkSync(`/proc/${h.pid}/ns/net`), 'a netns of its own, not the holder one');
    // Owned by the vNode user ns: entering the user ns, root there may configure the netns.
    const nsexec = join(bin, '..', 'vnode-nsexec');
    const out = execFileSync('busybox', ['nsenter', `--net=${target}`, nsexec, String(h.pid), 'user', '--', 'busybox', 'ip', 'link', 'set', 'lo', 'up']);
    assert.equal(out.toString(), '');
    const owner = execFileSync('busybox', ['nsenter', `--net=${target}`, 'busybox', 'ip', 'link', 'show', 'lo']).toString();
    assert.match(owner, /UP/);
  });
  await assert.rejects(createNetns('/proc/1/ns/nope', target), (e: unknown) => isSyscallError(e, 'ENOENT'));
});

test('createNetns: a refused user namespace is the error, and no fd or process is left either way', async () => {
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const before = fds();
  const d = tmp();
  const target = join(d, 'netns');
  writeFileSync(target, '');
  // Our own user namespace: the kernel refuses to enter it again (EINVAL from setns).
  await assert.rejects(createNetns('/proc/self/ns/user', target), (e: unknown) => isSyscallError(e, 'EINVAL') && /setns\(CLONE_NEWUSER\)/.test((e as Error).message));
  assert.equal(statSync(target).size, 0, 'nothing bound on the target');
  assert.equal(fds(), before, 'no fd left by the refused one');
  await withCommittedHolder(d, target, async (h) => {
    const withHolder = fds();
    for (let i = 0; i < 5; i++) {
      await createNetns(`/proc/${h.pid}/ns/user`, target);
      await umount2(target, 0);
    }
    assert.equal(fds(), withHolder, 'no fd left by five netns made and dropped');
    // Children of any of our threads (the netns child is cloned from a thread-pool thread).
    const children = readdirSync('/proc/self/task').flatMap((t) => readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
    assert.deepEqual(children.filter((c) => Number(c) !== h.pid), [], 'no child of ours left but the holder');
  });
});
