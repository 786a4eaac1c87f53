// The ports between the manager's modules (ports.ts): each carries what its consumer asks to the
// module that answers, and nothing for a pod no Kubernetes object stands for.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { logger } from '../common/log.js';
import { POD_EVENT_SPOOL, takePodEvents } from '../common/podEventSpool.js';
import type { VNode } from '../vnode/VNodeRecord.js';
import { holderDeathEvents, podEventSink, podHasContainers, seccompTargets, vnodeTeardown } from './ports.js';

test('pod events reach the spool the installer reads; a bare CRI pod (no name) is left out', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-ports-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sink = podEventSink(dir, logger('test'));
  sink({ uid: 'u0' }, 'VNodeFailed', 'bare');
  sink({ namespace: 'ns', name: 'p', uid: 'u1' }, 'VNodePlacementRefused', 'no vNode for you');
  // A dead holder: every pod of the vNode the manager can name is told.
  const v = { name: 'vn-a', pods: ['sb1', 'sb2'] } as unknown as VNode;
  holderDeathEvents({ podIdentity: (id) => (id === 'sb1' ? { namespace: 'ns', name: 'q', uid: 'u2' } : undefined) }, sink)(v);
  const { events } = takePodEvents(join(dir, POD_EVENT_SPOOL));
  assert.deepEqual(
    events.map((e) => [e.pod.name, e.reason]),
    [
      ['p', 'VNodePlacementRefused'],
      ['q', 'VNodeHolderDied'],
    ],
  );
});

test('a seccomp listener is resolved through the registry\'s pod of the container; teardown reaches each module', () => {
  const asked: unknown[] = [];
  const resolve = seccompTargets(
    { seccompTarget: (...a) => (asked.push(a), { vnodeId: 'userns:1', containerId: a[0], rootPid: a[2] }) },
    { task: (id) => (id === 'c1' ? ({ podId: 'sb1' } as never) : undefined) },
    undefined,
  );
  assert.deepEqual(resolve({ state: { id: 'c1', pid: 42 }, pid: 7 } as never), { vnodeId: 'userns:1', containerId: 'c1', rootPid: 42 });
  resolve({ state: { id: 'c2' }, pid: 7 } as never);
  assert.deepEqual(asked, [
    ['c1', 'sb1', 42, undefined],
    ['c2', undefined, 7, undefined],
  ]);
  const gone: string[] = [];
  vnodeTeardown.seccomp({ forgetVnode: (n) => void gone.push(n) })({ name: 'vn-b' } as VNode);
  assert.deepEqual(gone, ['vn-b']);
  assert.equal(podHasContainers({ podHasContainers: (p) => p === 'sb1' })('sb1'), true);
});
