import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VNODE_NAME_ANNOTATION, vnodeKey, vnodeName, VNodeKeyError } from './vnodeKey.js';

const pod = { namespace: 'team-a', name: 'web-0', uid: '7b3c5a4e-1111-2222-3333-444455556666' };

test('keys by mode and by annotation', () => {
  assert.equal(vnodeKey(pod, 'namespace'), 'ns:team-a');
  assert.equal(vnodeKey(pod, 'pod'), `pod:${pod.uid}`);
  const shared = { ...pod, annotations: { [VNODE_NAME_ANNOTATION]: 'tenant-blue' } };
  assert.equal(vnodeKey(shared, 'namespace'), 'shared:tenant-blue');
  assert.equal(vnodeKey(shared, 'pod'), 'shared:tenant-blue');
  assert.throws(() => vnodeKey({ ...pod, annotations: { [VNODE_NAME_ANNOTATION]: 'Bad_Name' } }, 'namespace'), (e: unknown) => {
    assert.ok(e instanceof VNodeKeyError);
    assert.match(e.message, /team-a\/web-0: annotation vnode\.loft\.sh\/name="Bad_Name" must be a DNS label/);
    return true;
  });
});

test('names are stable, distinct, DNS labels of at most 63 characters', () => {
  const keys = ['ns:team-a', 'ns:team-b', `pod:${pod.uid}`, 'shared:tenant-blue', `ns:${'x'.repeat(63)}`, 'ns:---', 'ns:A.B'];
  const names = keys.map(vnodeName);
  assert.equal(new Set(names).size, keys.length);
  for (const n of names) assert.match(n, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
  assert.equal(vnodeName('ns:team-a'), vnodeName('ns:team-a'));
  assert.match(vnodeName('ns:team-a'), /^vn-team-a-[0-9a-f]{10}$/);
});
