import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HostRoot } from './HostRoot.js';
import { gatherHostFacts, judgeHost, kernelVersion, type HostFacts } from './preflight.js';
import { parseContainerdVersion } from './containerdVersion.js';

const good: HostFacts = {
  kernelRelease: '6.1.0-18-amd64',
  cgroup: 'v2',
  seccompActions: ['kill_process', 'kill_thread', 'trap', 'errno', 'user_notif', 'trace', 'log', 'allow'],
  maxUserNamespaces: 63000,
  containerd: parseContainerdVersion('containerd containerd.io 1.7.27 05044ec'),
  containerdRootFs: 'ext4',
};

test('a supported node passes', () => {
  assert.deepEqual(judgeHost(good), { ok: true, problems: [], warnings: [], findings: [] });
  assert.deepEqual(kernelVersion('6.18.44-fc-v769'), [6, 18, 44]);
});

test('each unsupported fact is refused with a message that says why', () => {
  const cases: [Partial<HostFacts>, RegExp][] = [
    [{ kernelRelease: '5.10.0-28-amd64' }, /kernel 5\.10\.0-28-amd64 is older than 5\.12: vNode needs idmapped mounts/],
    [{ cgroup: 'unknown' }, /cgroup mode unknown/],
    [{ seccompActions: ['kill_process', 'errno', 'allow'] }, /seccomp user notification is not available/],
    [{ seccompActions: undefined }, /seccomp filters are not available/],
    [{ maxUserNamespaces: 0 }, /user namespaces are disabled/],
    [{ containerd: parseContainerdVersion('containerd github.com/containerd/containerd v1.5.18 x') }, /containerd 1\.5\.18 is older than 1\.6: .*cni_conf_dir/],
    [{ containerd: undefined, containerdError: '/usr/bin/containerd --version: ENOENT' }, /containerd version unknown: \/usr\/bin\/containerd --version: ENOENT/],
    [{ containerdRootFs: 'tmpfs', kernelRelease: '6.1.0' }, /idmapped mounts on tmpfs \(containerd's root\) need kernel 6\.3\+/],
    [{ containerdRootFs: 'overlay' }, /root is on overlayfs/],
    [{ idmapProbe: { ok: false, detail: 'mount_setattr: EINVAL' } }, /idmapped mounts do not work here: mount_setattr: EINVAL/],
  ];
  for (const [over, msg] of cases) {
    const v = judgeHost({ ...good, ...over });
    assert.equal(v.ok, false, JSON.stringify(over));
    assert.match(v.problems.join('\n'), msg);
  }
  assert.deepEqual(judgeHost({ ...good, cgroup: 'v1' }, { allowedCgroups: ['v2'] }).problems, ['cgroup v1 is not allowed by this installation (allowed: v2)']);
  assert.match(judgeHost({ ...good, cgroup: 'hybrid' }).warnings[0]!, /cgroup hybrid/);
  // Each finding names its check (vnode doctor prints a verdict and a fix per check).
  assert.deepEqual(
    judgeHost({ ...good, cgroup: 'hybrid', maxUserNamespaces: 0, containerdRootFs: 'overlay' }).findings.map((f) => [f.check, f.level]),
    [['cgroup', 'warning'], ['userns', 'problem'], ['idmap', 'problem']],
  );
});

test('facts of this machine: hybrid cgroups, user_notif, containerd 1.6 from its --version', async () => {
  const facts = await gatherHostFacts(new HostRoot('/'), {
    containerdBinary: '/usr/bin/containerd',
    containerdRoot: '/var/lib/containerd',
    runVersion: async () => 'containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3',
  });
  assert.equal(facts.cgroup, 'hybrid', 'platform-facts.md: v1 controllers plus an empty cgroup2 at /sys/fs/cgroup/unified');
  assert.ok(facts.seccompActions?.includes('user_notif'));
  assert.equal(facts.containerd?.minor, 6);
  assert.ok(facts.containerdRootFs);
});
