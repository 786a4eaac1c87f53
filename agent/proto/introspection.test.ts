import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadProtos } from './load.js';

test('RuntimeInfo has the documented field numbers', () => {
  const t = loadProtos('containerd/introspection.proto').lookupType('containerd.types.RuntimeInfo');
  assert.deepEqual(
    t.fieldsArray.map((f) => [f.name, f.id, f.type]),
    [['name', 1, 'string'], ['version', 2, 'RuntimeVersion'], ['options', 3, 'google.protobuf.Any'], ['features', 4, 'google.protobuf.Any'], ['annotations', 5, 'string']],
  );
  const v = loadProtos('containerd/introspection.proto').lookupType('containerd.types.RuntimeVersion');
  assert.deepEqual(v.fieldsArray.map((f) => [f.name, f.id]), [['version', 1], ['revision', 2]]);
});
