// The fd-based mount API in a vNode container (fixtures/fdmount.c, static, run as the container's
// root): fsopen/fsconfig/fsmount/move_mount and open_tree work as on a node, and nothing they make
// uncovers the real /proc files, reaches the host or outlives a racing argument. Host side: no
// mount the container made appears in the host's mount table, and the manager keeps serving.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { e2eSkipReason } from '../../e2e/lib/e2eGate.js';
import { readMountInfo } from '../common/mountinfo.js';
import { buildStatic } from './testing/SeccompTestBed.js';
import { assertFdMountReport, fixtureBed } from './testing/fixtureRun.js';

const skip = e2eSkipReason(['/usr/sbin/runc', '/bin/busybox', '/dev/fuse']);
const t0 = fixtureBed('/tmp/vnode-sec-fdmount-', skip);

test('fsopen/fsmount/move_mount and open_tree work in a vNode, and never uncover the real /proc files', { skip, timeout: 180_000 }, async (t) => {
  const bin = join(t0.tmp, 'fdmount');
  const b = await buildStatic(fileURLToPath(new URL('../../../agent/seccomp/fixtures/fdmount.c', import.meta.url)), bin);
  assert.equal(b.code, 0, b.stderr);
  const c = await t0.bed.container('fdmount', { vnode: 'shared:sec-fdmount', memoryBytes: 256 << 20, files: { '/bin/fdmount': bin } });
  const r = await c.exec(['/bin/fdmount'], 150_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = assertFdMountReport(r.stdout, 262144); // the container's 256 MiB limit
  for (const name of ['race_fsopen', 'race_open_tree', 'overlay_proc_layer']) t.diagnostic(lines.get(name) ?? `${name} missing`);
  // Nothing of it reached the host's mount table.
  assert.deepEqual(readMountInfo().filter((m) => m.source.includes('vnode-fdm') || m.mountPoint.includes('vnode-fdm')), []);
  const f = await c.exec(['sh', '-c', 'head -1 /proc/meminfo; grep -c vnode-fdm-tmpfs /proc/self/mountinfo']);
  assert.match(f.stdout, /^MemTotal:\s+262144 kB\n1\n$/, 'still serving; the tmpfs is in the container\'s mount table');
  const stats = await t0.bed.agent.stats();
  assert.equal(stats.reduce((a, s) => a + s.internalErrors, 0), 0, 'no handler failed on its own');
});
