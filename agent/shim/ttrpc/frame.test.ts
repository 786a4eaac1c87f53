import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeFrame, FrameDecoder, FrameFlags, FrameType, HEADER_LENGTH, MAX_MESSAGE_LENGTH, type DecodeEvent } from './frame.js';

const frames = (evs: DecodeEvent[]): { id: number; type: number; flags: number; body: string }[] =>
  evs.map((e) => {
    assert.equal(e.kind, 'frame');
    const f = (e as Extract<DecodeEvent, { kind: 'frame' }>).frame;
    return { id: f.streamId, type: f.type, flags: f.flags, body: f.payload.toString() };
  });

test('the header is u32 BE length, u32 BE stream id, u8 type, u8 flags', () => {
  const b = encodeFrame(0x01020304, FrameType.Response, Buffer.from('hey'), FrameFlags.RemoteClosed | FrameFlags.NoData);
  assert.deepEqual([...b.subarray(0, HEADER_LENGTH)], [0, 0, 0, 3, 1, 2, 3, 4, 2, 5]);
  assert.equal(b.subarray(HEADER_LENGTH).toString(), 'hey');
});

test('a frame split at every byte boundary comes out whole', () => {
  const wire = Buffer.concat([encodeFrame(1, FrameType.Request, Buffer.from('hello')), encodeFrame(3, FrameType.Request, Buffer.alloc(0))]);
  for (let cut = 0; cut <= wire.length; cut++) {
    const d = new FrameDecoder();
    const evs = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))];
    assert.deepEqual(frames(evs), [
      { id: 1, type: 1, flags: 0, body: 'hello' },
      { id: 3, type: 1, flags: 0, body: '' },
    ], `cut at ${cut}`);
    assert.equal(d.pending, 0);
  }
  // One byte at a time.
  const d = new FrameDecoder();
  const evs: DecodeEvent[] = [];
  for (const byte of wire) evs.push(...d.push(Buffer.from([byte])));
  assert.equal(frames(evs).length, 2);
});

test('many frames in one chunk, and a large frame in many chunks', () => {
  const many = Buffer.concat(Array.from({ length: 500 }, (_, i) => encodeFrame(2 * i + 1, FrameType.Request, Buffer.from(`m${i}`))));
  const got = frames(new FrameDecoder().push(many));
  assert.equal(got.length, 500);
  assert.deepEqual(got[499], { id: 999, type: 1, flags: 0, body: 'm499' });

  const big = Buffer.alloc(MAX_MESSAGE_LENGTH, 0x61);
  const wire = encodeFrame(7, FrameType.Response, big);
  const d = new FrameDecoder();
  const evs: DecodeEvent[] = [];
  for (let i = 0; i < wire.length; i += 65536) evs.push(...d.push(wire.subarray(i, i + 65536)));
  assert.equal(evs.length, 1);
  const f = (evs[0] as Extract<DecodeEvent, { kind: 'frame' }>).frame;
  assert.equal(f.payload.length, MAX_MESSAGE_LENGTH);
  assert.ok(f.payload.equals(big));
});

test('an oversized frame is reported and skipped without buffering; the next frame decodes', () => {
  const d = new FrameDecoder(16);
  const head = Buffer.alloc(HEADER_LENGTH);
  head.writeUInt32BE(1000, 0);
  head.writeUInt32BE(5, 4);
  head[8] = FrameType.Request;
  const evs = d.push(head);
  assert.deepEqual(evs, [{ kind: 'oversize', header: { length: 1000, streamId: 5, type: 1, flags: 0 } }]);
  for (let i = 0; i < 999; i += 100) assert.deepEqual(d.push(Buffer.alloc(Math.min(100, 999 - i))), []);
  assert.equal(d.pending, 0);
  // The last skipped byte and the next frame in one chunk.
  const next = d.push(Buffer.concat([Buffer.alloc(1), encodeFrame(7, FrameType.Request, Buffer.from('ok'))]));
  assert.deepEqual(frames(next), [{ id: 7, type: 1, flags: 0, body: 'ok' }]);
});

test('encodeFrame refuses a payload over 4 MiB', () => {
  assert.throws(() => encodeFrame(1, FrameType.Request, Buffer.alloc(MAX_MESSAGE_LENGTH + 1)), /exceeds 4194304/);
});

test('an unknown frame type is a fatal error and the decoder stops', () => {
  const bad = encodeFrame(9, FrameType.Request, Buffer.from('x'));
  bad[8] = 7;
  const d = new FrameDecoder();
  const evs = d.push(Buffer.concat([encodeFrame(1, FrameType.Request, Buffer.from('a')), bad, encodeFrame(11, FrameType.Request, Buffer.from('b'))]));
  assert.equal(evs.length, 2);
  assert.equal(evs[0]!.kind, 'frame');
  assert.deepEqual(evs[1], { kind: 'error', reason: 'unknown frame type 7 on stream 9', header: { length: 1, streamId: 9, type: 7, flags: 0 } });
  assert.deepEqual(d.push(encodeFrame(13, FrameType.Request, Buffer.from('c'))), []);
});
