import assert from 'node:assert/strict';
import type protobuf from 'protobufjs';
import { test } from 'node:test';
import { shimProtos } from '../../proto/taskApi.js';
import { checkWire, WireFormatError } from './checkWire.js';

const root = shimProtos();
const T = (n: string) => root.lookupType(n);
const hex = (s: string): Buffer => Buffer.from(s.replace(/ /g, ''), 'hex');

test('well-formed messages pass, including nested messages, maps, repeated and unknown fields', () => {
  const upd = T('containerd.task.v2.UpdateTaskRequest');
  checkWire(upd, upd.encode(upd.fromObject({ id: 'x', annotations: { a: 'b', c: '' }, resources: { type_url: 't', value: Buffer.from([1]) } })).finish());
  const pids = T('containerd.task.v2.PidsResponse');
  checkWire(pids, pids.encode(pids.fromObject({ processes: [{ pid: 1 }, { pid: 2, info: { type_url: 'x', value: Buffer.alloc(3) } }] })).finish());
  // An unknown field 15 (varint) and 16 (fixed32) are skipped, as proto3 requires.
  checkWire(T('containerd.task.v2.StateRequest'), hex('0a 01 61 78 05 85 01 01 02 03 04'));
  checkWire(T('containerd.task.v2.StateRequest'), Buffer.alloc(0));
});

test('garbage is refused with the place named', () => {
  const st = T('containerd.task.v2.StateRequest');
  const exit = T('containerd.events.TaskExit');
  const bad: [protobuf.Type, string, RegExp][] = [
    [exit, '0f 01', /containerId \(field 1\): wire type 7, expected 2/],
    [exit, '0a 09 41', /containerId \(field 1\): length 9 runs past the end \(1 bytes left\)/],
    [exit, '18 ff ff', /truncated varint/],
    [exit, '18 ff ff ff ff ff ff ff ff ff ff 01', /varint longer than 10 bytes/],
    [st, '00', /invalid field number 0/],
    [st, '7b', /unsupported wire type 3/],
    [st, '7d 01 02', /truncated field 15/],
    [T('containerd.task.v2.WaitResponse'), '12 03 08 80', /WaitResponse\.exitedAt/],
    [T('containerd.task.v2.UpdateTaskRequest'), '1a 04 0a 02 61', /UpdateTaskRequest\.annotations/],
    [T('ttrpc.Request'), 'ff ff ff ff', /ttrpc\.Request/],
  ];
  for (const [type, bytes, re] of bad) {
    assert.throws(() => checkWire(type, hex(bytes)), (e: unknown) => e instanceof WireFormatError && re.test(e.message), `${type.name} ${bytes}`);
  }
});
