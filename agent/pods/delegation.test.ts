import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, skipUnless } from '../../e2e/lib/e2eGate.js';
import { parseMountInfo } from '../common/mountinfo.js';
import { cgroupWritable } from '../spec/SpecRewriter.js';
import { cgroupDirsOf, emptyDirOf, ownPodVolumes, podEmptyDirs } from './delegation.js';

const cgroupMount = (opts: string): { destination: string; type: string; source: string; options: string[] } => ({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: opts.split(',') });

test('a cgroup is delegated only to a container whose spec mounts the cgroupfs read-write (privileged)', () => {
  assert.equal(cgroupWritable({ mounts: [cgroupMount('nosuid,noexec,nodev,relatime,rw')] }), true);
  assert.equal(cgroupWritable({ mounts: [cgroupMount('nosuid,noexec,nodev,relatime,ro')] }), false);
  assert.equal(cgroupWritable({ mounts: [{ ...cgroupMount('rw'), type: 'cgroup2' }] }), true);
  assert.equal(cgroupWritable({ mounts: [{ ...cgroupMount('rw'), destination: '/host/cgroup' }] }), false, 'only the container\'s own cgroupfs');
  assert.equal(cgroupWritable({}), false);
});

// A hybrid host's mount table, as this machine's: v1 hierarchies, the named systemd one, unified v2.
const HOST = parseMountInfo(
  [
    '30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
    '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
    '32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
    '33 30 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory',
    '34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct',
    '90 33 0:29 /kubepods/x /mnt/bound rw,relatime shared:12 - cgroup cgroup rw,memory',
  ].join('\n'),
);

test('the host directories of a process\'s cgroups, one per mounted hierarchy', () => {
  const c = '/kubepods/pod1/c1';
  const dirs = cgroupDirsOf(`12:memory:${c}\n11:cpu,cpuacct:${c}\n3:name=systemd:${c}\n7:pids:${c}\n0::${c}\n`, HOST);
  assert.deepEqual(dirs, [
    { dir: `/sys/fs/cgroup/memory${c}`, version: 'v1' },
    { dir: `/sys/fs/cgroup/cpu,cpuacct${c}`, version: 'v1' },
    { dir: `/sys/fs/cgroup/systemd${c}`, version: 'v1' },
    { dir: `/sys/fs/cgroup/unified${c}`, version: 'v2' },
  ], 'the whole tree\'s mount, not a bind of a subtree; an unmounted hierarchy (pids) skipped');
  // A pure v2 host.
  const v2 = parseMountInfo('31 25 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate');
  assert.deepEqual(cgroupDirsOf(`0::${c}\n`, v2), [{ dir: `/sys/fs/cgroup${c}`, version: 'v2' }]);
});

test('the pod\'s own emptyDirs among its mounts: kubelet\'s path with its uid, nothing else', () => {
  const k = '/var/lib/kubelet';
  const mine = emptyDirOf(k, 'uid-1', 'docker');
  assert.equal(mine, '/var/lib/kubelet/pods/uid-1/volumes/kubernetes.io~empty-dir/docker');
  const mounts = [
    { source: mine },
    { source: `${mine}/` },
    { source: emptyDirOf(k, 'uid-2', 'theirs') },
    { source: `${k}/pods/uid-1/volumes/kubernetes.io~secret/token` },
    { source: `${k}/pods/uid-1/volumes/kubernetes.io~empty-dir/../../../../../etc` },
    { source: `${mine}/sub` },
    { source: '/etc/hosts' },
  ];
  assert.deepEqual(podEmptyDirs(mounts, k, 'uid-1'), [mine]);
  assert.deepEqual(podEmptyDirs(mounts, k, ''), [], 'no uid (a bare CRI client): nothing');
  assert.deepEqual(podEmptyDirs(mounts, k, '../uid-2'), []);
});

test('an emptyDir still kubelet\'s (host root) is given to the vNode root; not one already given, not a symlink', { skip: skipUnless(ROOT) }, (t) => {
  const d = mkdtempSync(join(tmpdir(), 'vnode-deleg-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const fresh = join(d, 'fresh');
  const given = join(d, 'given');
  const link = join(d, 'link');
  mkdirSync(fresh);
  mkdirSync(given);
  symlinkSync('/etc', link);
  const owner = { uid: 300000, gid: 300001 };
  assert.deepEqual(ownPodVolumes([fresh, join(d, 'missing')], owner), [fresh]);
  assert.deepEqual([statSync(fresh).uid, statSync(fresh).gid], [300000, 300001]);
  assert.deepEqual(ownPodVolumes([fresh], { uid: 400000, gid: 400000 }), [], 'already given: left as it is');
  assert.throws(() => ownPodVolumes([link], owner), /ELOOP|ENOTDIR/, 'a symlink is never followed');
  assert.equal(statSync('/etc').uid, 0);
});
