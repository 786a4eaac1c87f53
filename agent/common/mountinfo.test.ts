import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, skipUnless } from '../../e2e/lib/e2eGate.js';
import { isMountPoint, mountOf, mountPointsUnder, MountInfoError, parseMountInfo, parseMountInfoLine, readMountInfo, unescapeMountField } from './mountinfo.js';

// Lines as kernels print them: a root entry with a shared peer group, a slave with two optional
// fields, a mount with no optional field, a FUSE subtype, and names with every escaped character.
const TABLE = [
  '22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro',
  '25 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
  '731 22 0:55 /var/lib/kubelet/pods/x\\040y /mnt/with\\040space rw,nosuid master:5 propagate_from:3 - tmpfs tmpfs\\040src rw,size=1024k,mode=755',
  '732 731 0:56 / /mnt/tab\\011new\\012line\\134back rw,nodev - fuse.sshfs user@host:/a\\040b rw,user_id=0,group_id=0',
  '733 22 0:57 / /mnt/priv ro,noexec unbindable - tmpfs none ro',
  '734 22 0:58 / /mnt/priv rw - tmpfs over rw',
].join('\n');

test('fields, optional fields and the separator of real-looking lines', () => {
  const t = parseMountInfo(`${TABLE}\n`);
  assert.equal(t.length, 6);
  const [root, proc, spaced, fuse, priv] = t;
  assert.deepEqual(root, {
    id: 22,
    parent: 1,
    device: '259:2',
    root: '/',
    mountPoint: '/',
    options: ['rw', 'relatime'],
    optionalFields: ['shared:1'],
    shared: 1,
    master: undefined,
    propagateFrom: undefined,
    unbindable: false,
    fsType: 'ext4',
    source: '/dev/nvme0n1p2',
    superOptions: ['rw', 'errors=remount-ro'],
  });
  assert.deepEqual(proc!.options, ['rw', 'nosuid', 'nodev', 'noexec', 'relatime']);
  assert.equal(proc!.shared, 12);
  assert.deepEqual(spaced!.optionalFields, ['master:5', 'propagate_from:3']);
  assert.equal(spaced!.shared, undefined);
  assert.equal(spaced!.master, 5);
  assert.equal(spaced!.propagateFrom, 3);
  assert.equal(spaced!.root, '/var/lib/kubelet/pods/x y');
  assert.equal(spaced!.mountPoint, '/mnt/with space');
  assert.equal(spaced!.source, 'tmpfs src');
  assert.deepEqual(spaced!.superOptions, ['rw', 'size=1024k', 'mode=755']);
  assert.equal(fuse!.mountPoint, '/mnt/tab\tnew\nline\\back');
  assert.equal(fuse!.fsType, 'fuse.sshfs');
  assert.equal(fuse!.source, 'user@host:/a b');
  assert.deepEqual(fuse!.optionalFields, []);
  assert.equal(priv!.unbindable, true);
  assert.deepEqual(priv!.optionalFields, ['unbindable']);
});

test('unescaping: exactly the four octal escapes the kernel writes, nothing else', () => {
  assert.equal(unescapeMountField('a\\040b\\011c\\012d\\134e'), 'a b\tc\nd\\e');
  // "\134" is a backslash: what follows it is not an escape again.
  assert.equal(unescapeMountField('\\134040'), '\\040');
  assert.equal(unescapeMountField('plain-name_1.2'), 'plain-name_1.2');
});

test('a line without the separator or with too few fields is refused with its line number', () => {
  assert.throws(() => parseMountInfo(`${TABLE.split('\n')[0]}\n22 1 259:2 / / rw shared:1 ext4 /dev/x rw\n`), (e: unknown) => e instanceof MountInfoError && e.line === 2 && /not a mountinfo line/.test(e.message));
  assert.throws(() => parseMountInfoLine('x 1 0:1 / / rw - tmpfs t rw'), /mount ids are not numbers/);
  assert.throws(() => parseMountInfoLine('1 2 0:1 / / rw -'), MountInfoError);
});

test('the mount a path is on, the points under a dir deepest first, stacked mounts once per mount', () => {
  const t = parseMountInfo(TABLE);
  assert.equal(mountOf('/mnt/priv/x', t)?.source, 'over', 'the later of two stacked mounts is on top');
  assert.equal(mountOf('/mnt/privy', t)?.mountPoint, '/', 'a name prefix is not a parent');
  assert.equal(mountOf('/proc/1', t)?.fsType, 'proc');
  assert.deepEqual(mountPointsUnder('/mnt', t), ['/mnt/tab\tnew\nline\\back', '/mnt/with space', '/mnt/priv', '/mnt/priv']);
  assert.deepEqual(mountPointsUnder('/mnt/priv', t, { strictlyBelow: true }), []);
  assert.deepEqual(mountPointsUnder('/mnt/priv', t), ['/mnt/priv', '/mnt/priv']);
  assert.equal(mountPointsUnder('/', t).length, 6);
  assert.equal(isMountPoint('/mnt/with space', t), true);
  assert.equal(isMountPoint('/mnt/with', t), false);
});

/** findmnt's raw output hex-escapes unsafe characters (\x20); its own escaping, undone here. */
const findmntTargets = (): string[] =>
  execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/\\x([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))));

const sorted = (a: string[]) => [...a].sort();

const root = skipUnless(ROOT);

test('this machine: the parsed mount points are the ones findmnt prints, a mount with every escaped character included', { skip: root }, () => {
  const base = mkdtempSync(join(tmpdir(), 'vnode-mountinfo-'));
  const odd = join(base, 'a b\tc\nd\\e');
  mkdirSync(odd);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'vnode mountinfo test', odd]);
  try {
    const mine = readMountInfo().find((m) => m.mountPoint === odd);
    assert.ok(mine, 'the odd-named mount is found under its real name');
    assert.equal(mine.fsType, 'tmpfs');
    assert.equal(mine.source, 'vnode mountinfo test');
    // Other tests on this machine mount and unmount meanwhile: compare when the table held still.
    let last = '';
    for (let i = 0; i < 10; i++) {
      const before = sorted(readMountInfo().map((m) => m.mountPoint));
      const theirs = sorted(findmntTargets());
      const after = sorted(readMountInfo().map((m) => m.mountPoint));
      if (JSON.stringify(before) !== JSON.stringify(after)) continue;
      assert.ok(theirs.includes(odd), 'findmnt sees it too');
      if (JSON.stringify(before) === JSON.stringify(theirs)) return;
      last = JSON.stringify({ mine: before.filter((m) => !theirs.includes(m)), findmnt: theirs.filter((m) => !before.includes(m)) });
    }
    assert.fail(`the mount points differ from findmnt's: ${last}`);
  } finally {
    execFileSync('umount', ['-l', odd]);
    rmSync(base, { recursive: true, force: true });
  }
});
