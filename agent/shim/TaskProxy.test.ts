import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shimProtos, TASK_SERVICE, type TaskApi } from '../proto/taskApi.js';
import { readTaskId } from './TaskProxy.js';
import { TtrpcError } from './ttrpc/TtrpcError.js';
import { ServiceDefinition } from './ttrpc/typedService.js';

const def = ServiceDefinition.fromRoot<TaskApi>(shimProtos(), TASK_SERVICE);

test('the task id is read from field 1 of any Task request without decoding the rest', () => {
  const id = 'a'.repeat(64);
  assert.equal(readTaskId(Buffer.from(def.methods.State.request.encode({ id, execId: 'e1' })), 'State'), id);
  assert.equal(readTaskId(Buffer.from(def.methods.Kill.request.encode({ id, signal: 9, all: true })), 'Kill'), id);
  const long = 'b'.repeat(200); // a two-byte length varint
  assert.equal(readTaskId(Buffer.from(def.methods.Wait.request.encode({ id: long })), 'Wait'), long);
});

test('a request without a readable id is an INVALID_ARGUMENT error, never a wrong id', () => {
  for (const bad of [Buffer.alloc(0), Buffer.from([0x12, 0x01, 0x41]), Buffer.from([0x0a, 0x05, 0x41])]) {
    assert.throws(() => readTaskId(bad, 'State'), (e: unknown) => e instanceof TtrpcError && /task id/.test(e.message));
  }
});
