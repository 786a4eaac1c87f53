import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { logger } from '../common/log.js';
import { MAX_TOMBSTONES, START_TTL_MS, TaskRegistry, TOMBSTONE_TTL_MS, type StartInfo } from './TaskRegistry.js';

const dir = mkdtempSync(join(tmpdir(), 'vnode-registry-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const T0 = 1_800_000_000_000;

const start = (id: string): StartInfo => ({ id, namespace: 'k8s.io', bundle: `/run/b/${id}`, containerdAddress: '/run/c.sock', ttrpcAddress: '/run/c.sock.ttrpc', publishBinary: '/bin/containerd' });

test('2,000 task lifecycles: tasks, starts and task files go; tombstones keep at most MAX_TOMBSTONES, the newest', () => {
  const reg = new TaskRegistry(join(dir, 'a'), logger('test'));
  for (let i = 0; i < 2000; i++) {
    const id = `task-${i}`;
    reg.noteStart(start(id), T0 + i);
    reg.addTask({ ...start(id), podId: `pod-${i >> 1}`, sandbox: i % 2 === 0, createdAt: T0 + i });
    reg.removeTask(id, { pid: 100 + i, exitStatus: 0, exitedAt: null }, T0 + i);
  }
  assert.deepEqual(reg.stats(), { starts: 0, tasks: 0, pods: 0, tombstones: MAX_TOMBSTONES });
  assert.equal(reg.tombstone('task-1999')?.pid, 2099, 'the newest is there for shim delete');
  assert.equal(reg.tombstone('task-1999')?.podId, 'pod-999', '... and routes a Shutdown after Delete');
  assert.equal(reg.tombstone(`task-${1999 - MAX_TOMBSTONES}`), undefined, 'the oldest beyond the bound are gone');
  assert.deepEqual(readdirSync(join(dir, 'a/shim/tasks')), []);
  // containerd's shim delete, after Delete and Shutdown, consumes each.
  assert.equal(reg.takeTombstone('task-1999')?.exitStatus, 0);
  assert.equal(reg.tombstone('task-1999'), undefined);
  assert.equal(reg.stats().tombstones, MAX_TOMBSTONES - 1);
});

test('tombstones older than the TTL go at the next deletion; starts that never became tasks go at their shim delete or after the TTL', () => {
  const reg = new TaskRegistry(join(dir, 'b'), logger('test'));
  reg.noteStart(start('t1'), T0);
  reg.addTask({ ...start('t1'), podId: 'p', sandbox: true, createdAt: T0 });
  reg.removeTask('t1', { pid: 1, exitStatus: 0, exitedAt: null }, T0);
  reg.removeTask('other', undefined, T0 + TOMBSTONE_TTL_MS + 1);
  assert.equal(reg.tombstone('t1'), undefined);

  reg.noteStart(start('never-created'), T0);
  reg.forgetStart('never-created');
  assert.equal(reg.startInfo('never-created'), undefined);
  reg.noteStart(start('lost'), T0);
  reg.noteStart(start('fresh'), T0 + START_TTL_MS + 1);
  assert.equal(reg.startInfo('lost'), undefined);
  assert.ok(reg.startInfo('fresh'));
  assert.equal(reg.stats().starts, 1);
});
