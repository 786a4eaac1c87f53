// The vNode registry vnodefs finds callers in, shared between threads through SharedKv.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SharedKv } from './SharedKv.js';
import { VnodeIdentities, VnodeIdentityError } from './VnodeIdentities.js';

const R = 65536;

test('a caller is found by any uid of its vNode\'s range, nested user namespaces included', () => {
  const kv = new SharedKv(64);
  const main = new VnodeIdentities(kv);
  main.register({ name: 'vn-a', uidStart: 4 * R, size: R });
  main.register({ name: 'vn-b', uidStart: 5 * R, size: R });
  assert.equal(main.forUid(4 * R)?.name, 'vn-a', 'root of the vNode');
  assert.equal(main.forUid(4 * R + 1000)?.name, 'vn-a', 'a user, or root of a user namespace nested in the vNode');
  assert.equal(main.forUid(5 * R - 1)?.name, 'vn-a');
  assert.equal(main.forUid(5 * R)?.name, 'vn-b');
  assert.equal(main.forUid(0), null, 'the host');
  assert.equal(main.forUid(6 * R), null, 'ids of no vNode');
});

test('another thread sees a registration and a removal at once (generation, not a timer)', () => {
  const kv = new SharedKv(64);
  const main = new VnodeIdentities(kv);
  const worker = new VnodeIdentities(new SharedKv(kv.sab));
  assert.equal(worker.forUid(4 * R), null);
  main.register({ name: 'vn-a', uidStart: 4 * R, size: R });
  assert.equal(worker.forUid(4 * R)?.name, 'vn-a');
  main.register({ name: 'vn-a2', uidStart: 4 * R, size: R });
  assert.equal(worker.forUid(4 * R)?.name, 'vn-a2', 'the range has a new owner');
  assert.equal(main.forget(4 * R), true);
  assert.equal(worker.forUid(4 * R), null);
  assert.equal(main.forget(4 * R), false);
});

test('a registration replaces a stale one whose range it overlaps', () => {
  const kv = new SharedKv(64);
  const ids = new VnodeIdentities(kv);
  ids.register({ name: 'vn-old', uidStart: 4 * R + 100, size: R });
  ids.register({ name: 'vn-new', uidStart: 4 * R, size: R });
  assert.deepEqual(ids.list().map((v) => v.name), ['vn-new']);
  assert.equal(ids.forUid(5 * R + 50), null, 'the stale tail answers for nobody');
});

test('bad registrations are refused with the reason', () => {
  const ids = new VnodeIdentities(new SharedKv(16));
  assert.throws(() => ids.register({ name: 'Not A Label', uidStart: R, size: R }), VnodeIdentityError);
  assert.throws(() => ids.register({ name: 'vn-a', uidStart: 0, size: R }), /bad id range/);
  assert.throws(() => ids.register({ name: 'vn-a', uidStart: R, size: 0 }), /bad id range/);
});
