// The identity renderers on fixture vNodes (this machine has no DMI: nothing here reads it).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { CgroupSnapshot } from '../../cgroup/CgroupSnapshot.js';
import { DMI_ATTRIBUTES, dmiFields, dmiModalias, productUuid, renderBootId, renderDmiAttribute, renderDmiModalias, renderDmiUevent, type VnodeIdentity } from './renderIdentity.js';
import { uuidV5 } from './uuidV5.js';
import type { ViewInput } from './ViewInput.js';

const A: VnodeIdentity = { name: 'vn-team-a-0123456789', uidStart: 1 << 28, size: 65536 };
const B: VnodeIdentity = { name: 'vn-team-b-9876543210', uidStart: (1 << 28) + 65536, size: 65536 };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const input = (vnode: VnodeIdentity | null, startedAtMs = 1_700_000_000_000): ViewInput => ({
  cg: {} as CgroupSnapshot,
  host: { meminfo: '', cpuinfo: '', stat: '', diskstats: '', loadavg: '', onlineCpus: [], possibleCpus: [], presentCpus: [] },
  nowMs: startedAtMs + 5000,
  startedAtMs,
  load: null,
  vnode,
});

test('uuidV5 gives the RFC/Python values (uuid5(NAMESPACE_DNS, "python.org"))', () => {
  assert.equal(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org'), '886313e1-3b8a-5372-9b90-0c9aee199e5d');
  assert.throws(() => uuidV5('not-a-uuid', 'x'), /not a lowercase UUID/);
});

test('product_uuid: a version-5 UUID of the name, the same on every call, different per vNode', () => {
  assert.match(productUuid(A.name), UUID);
  assert.equal(productUuid(A.name), productUuid(A.name));
  assert.notEqual(productUuid(A.name), productUuid(B.name));
  assert.equal(renderDmiAttribute('product_uuid')(input(A)), `${productUuid(A.name)}\n`);
  // Only the name counts: the same vNode after its id range was handed out again.
  assert.equal(renderDmiAttribute('product_uuid')(input({ ...A, uidStart: 5 << 28 })), `${productUuid(A.name)}\n`);
});

test('every DMI attribute: vendors and names say vNode, serials and asset tags are empty, chassis type 1', () => {
  const f = dmiFields(A.name);
  assert.deepEqual(Object.keys(f).sort(), Object.keys(DMI_ATTRIBUTES).sort(), 'one value per attribute file');
  for (const a of ['sys_vendor', 'board_vendor', 'chassis_vendor', 'bios_vendor', 'product_name', 'board_name', 'bios_version'] as const) assert.equal(f[a], 'vNode', a);
  for (const a of ['product_serial', 'board_serial', 'chassis_serial', 'board_asset_tag', 'chassis_asset_tag'] as const) assert.equal(f[a], '', a);
  assert.equal(f.chassis_type, '1');
  assert.equal(renderDmiAttribute('sys_vendor')(input(A)), 'vNode\n');
  assert.equal(renderDmiAttribute('board_serial')(input(A)), '\n', 'the kernel prints an empty value as a newline');
  // The kernel's modes: serials and the UUID are root's only.
  assert.deepEqual(
    Object.entries(DMI_ATTRIBUTES).filter(([, m]) => m === 0o400).map(([a]) => a).sort(),
    ['board_serial', 'chassis_serial', 'product_serial', 'product_uuid'],
  );
});

test('two vNodes differ in product_uuid only (every other value is a constant)', () => {
  const a = dmiFields(A.name);
  const b = dmiFields(B.name);
  const differ = (Object.keys(a) as (keyof typeof a)[]).filter((k) => a[k] !== b[k]);
  assert.deepEqual(differ, ['product_uuid']);
});

test('modalias and uevent in the kernel format (get_modalias field order, filtered values)', () => {
  const expected = 'dmi:bvnvNode:bvrvNode:svnvNode:pnvNode:pvrvNode:rvnvNode:rnvNode:rvrvNode:cvnvNode:ct1:cvrvNode:skuvNode:';
  assert.equal(renderDmiModalias(input(A)), `${expected}\n`);
  assert.equal(renderDmiUevent(input(A)), `MODALIAS=${expected}\n`);
  // The kernel's ascii_filter: blanks, colons, controls and non-ASCII go.
  const odd = { ...dmiFields(A.name), sys_vendor: 'A: B\tC\u00e9D' };
  assert.match(dmiModalias(odd), /:svnABCD:/);
});

test('boot_id: per pod start of the vNode, never the same for two starts or two vNodes', () => {
  const a1 = renderBootId(input(A, 1_700_000_000_000));
  assert.match(a1, /^[0-9a-f-]{36}\n$/);
  assert.match(a1.trim(), UUID);
  assert.equal(renderBootId(input(A, 1_700_000_000_000)), a1, 'every container and exec of the pod');
  assert.notEqual(renderBootId(input(A, 1_700_000_000_001)), a1, 'the next pod boots anew');
  assert.notEqual(renderBootId(input(B, 1_700_000_000_000)), a1, 'another vNode');
  assert.notEqual(a1.trim(), productUuid(A.name), 'not the product UUID');
});

test('an identity renderer without the caller\'s vNode throws (EIO), it never shows a default', () => {
  assert.throws(() => renderDmiAttribute('product_uuid')(input(null)), /without the caller's vNode/);
  assert.throws(() => renderBootId(input(null)), /without the caller's vNode/);
});
