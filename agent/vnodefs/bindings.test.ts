// Where vnodefs' files go in a container (spec binds, the start-time binds, a pod's own proc/sysfs
// mounts): the registry's bind points, checked as a table.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { bindPoints, DMI_DIR, emptyDirs, procFiles, wholeDirs } from './procFiles.js';
import { containerBindings, MAX_MOUNT_OVERLAYS, mountOverlays } from './VnodeFs.js';

const M = '/run/vnode/vnodefs';

test('whole directories replace the host\'s: DMI is bound as one directory, firmware and hypervisor as empty ones', () => {
  const b = containerBindings(M);
  const dirs = b.filter((x) => x.dir).map((x) => x.destination).sort();
  assert.deepEqual(dirs, ['/sys/devices/virtual/dmi/id', '/sys/firmware', '/sys/hypervisor']);
  // No file inside a whole directory is bound on its own (it comes with the directory).
  for (const x of b.filter((y) => !y.dir)) assert.ok(!wholeDirs.some((d) => x.destination.startsWith(`/${d}/`)), x.destination);
  // Every DMI attribute is served inside it, the kernel's root-only ones 0400.
  const dmi = procFiles.filter((f) => f.path.startsWith(`${DMI_DIR}/`));
  assert.deepEqual(
    dmi.map((f) => f.path.slice(DMI_DIR.length + 1)).sort(),
    [
      'bios_vendor', 'bios_version', 'board_asset_tag', 'board_name', 'board_serial', 'board_vendor', 'board_version',
      'chassis_asset_tag', 'chassis_serial', 'chassis_type', 'chassis_vendor', 'chassis_version', 'modalias',
      'product_family', 'product_name', 'product_serial', 'product_sku', 'product_uuid', 'product_version', 'sys_vendor', 'uevent',
    ],
  );
  assert.deepEqual(dmi.filter((f) => f.kind === 'view' && f.rootOnly).map((f) => f.path.split('/').pop()).sort(), ['board_serial', 'chassis_serial', 'product_serial', 'product_uuid']);
  for (const d of emptyDirs) assert.ok(!procFiles.some((f) => f.path.startsWith(`${d}/`)), `${d} stays empty`);
});

test('what runc binds from config.json and what is bound before runc start: every /proc/sys path, boot_id included, is injected', () => {
  const b = containerBindings(M);
  const inject = b.filter((x) => x.inject).map((x) => x.destination);
  assert.ok(inject.includes('/proc/sys/kernel/random/boot_id'));
  assert.ok(inject.includes('/proc/sys/kernel/pid_max'));
  assert.ok(inject.every((d) => d.startsWith('/proc/sys/')), inject.join(' '));
  const spec = b.filter((x) => !x.inject).map((x) => x.destination);
  assert.ok(spec.every((d) => d.startsWith('/sys/') || ['/proc/meminfo', '/proc/cpuinfo', '/proc/stat', '/proc/uptime', '/proc/loadavg', '/proc/swaps', '/proc/diskstats'].includes(d)), spec.join(' '));
  // boot_id is read-only; only the sysctl entries are bound writable.
  assert.equal(b.find((x) => x.destination === '/proc/sys/kernel/random/boot_id')!.writable, false);
  assert.ok(b.filter((x) => x.writable).every((x) => x.inject && !x.dir));
  assert.ok(b.every((x) => x.source === `${M}${x.destination}`));
});

test('a pod\'s own proc and sysfs mounts get the same set, within the helper\'s limit', () => {
  const o = mountOverlays(M);
  const rel = (l: [string, string][]): string[] => l.map(([, r]) => r);
  assert.ok(rel(o.sys).includes('devices/virtual/dmi/id'));
  assert.ok(rel(o.sys).includes('firmware'));
  assert.ok(rel(o.sys).includes('hypervisor'));
  assert.ok(!rel(o.sys).some((r) => r.startsWith('devices/virtual/dmi/id/')), 'the directory, not its files');
  assert.ok(rel(o.proc).includes('sys/kernel/random/boot_id'));
  assert.ok(rel(o.proc).includes('meminfo'));
  assert.equal(o.proc.length + o.sys.length, bindPoints().length, 'every bind point, once');
  assert.ok(o.proc.length <= MAX_MOUNT_OVERLAYS && o.sys.length <= MAX_MOUNT_OVERLAYS, `${o.proc.length} proc, ${o.sys.length} sys overlays`);
});

test("with a container id, the cached views come from the container's own directory, everything else from the shared tree", () => {
  const own = containerBindings(M, 'c0ffee');
  const mine = own.filter((x) => x.own);
  assert.deepEqual(mine.map((x) => x.destination).sort(), ['/proc/cpuinfo', '/proc/diskstats', '/proc/loadavg', '/proc/meminfo', '/proc/stat', '/proc/swaps', '/proc/uptime', '/sys/devices/system/cpu/online', '/sys/devices/system/cpu/possible', '/sys/devices/system/cpu/present']);
  for (const x of own) assert.equal(x.source, x.own ? `${M}/containers/c0ffee${x.destination}` : `${M}${x.destination}`);
  // No id, or one that is no file name: all shared.
  for (const b of [containerBindings(M), containerBindings(M, '../x')]) assert.ok(b.every((x) => !x.own && x.source === `${M}${x.destination}`));
});
