// Server + client over a real unix socket: typed and raw calls, metadata, deadlines, errors,
// concurrency, connection hooks, and fault isolation between connections.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TASK_SERVICE, TaskStatus, type TaskApi } from '../../proto/taskApi.js';
import { FrameType, HEADER_LENGTH, MAX_MESSAGE_LENGTH } from './frame.js';
import { Metadata, NAMESPACE_KEY } from './Metadata.js';
import { taskService } from './shimApi.js';
import { RawPeer, recordingLogger, tempSocketDir } from './testUtil.js';
import { TtrpcClient } from './TtrpcClient.js';
import { Code, TtrpcError } from './TtrpcError.js';
import { TtrpcServer, type CallContext, type ServerConnection } from './TtrpcServer.js';
import { registerService, ServiceClient } from './typedService.js';
import { decodeResponse, encodeRequest } from './wireMessages.js';

const tmp = tempSocketDir();
after(() => tmp.cleanup());

let n = 0;
async function setup(configure: (s: TtrpcServer) => void): Promise<{ server: TtrpcServer; path: string; lines: ReturnType<typeof recordingLogger>['lines']; client: () => Promise<TtrpcClient> }> {
  const { log, lines } = recordingLogger();
  const server = new TtrpcServer({ log });
  configure(server);
  const path = tmp.path(`s${n++}.sock`);
  await server.listen(path);
  const clients: TtrpcClient[] = [];
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
  });
  return {
    server,
    path,
    lines,
    client: async () => {
      const c = await TtrpcClient.connect(`unix://${path}`, { log });
      clients.push(c);
      return c;
    },
  };
}

const rejectsWith = async (p: Promise<unknown>, code: number, message: RegExp | string): Promise<TtrpcError> => {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TtrpcError, `expected TtrpcError, got ${String(e)}`);
    assert.equal(e.code, code, `code of ${e.message}`);
    if (typeof message === 'string') assert.equal(e.details, message);
    else assert.match(e.details, message);
    return e;
  }
  assert.fail('expected a rejection');
};

test('typed Task calls: request fields, metadata, connection identity and response fields round-trip', async () => {
  const seen: { ns: string | undefined; conn: number; execId: string }[] = [];
  const { client } = await setup((s) =>
    registerService(s, taskService(), {
      State: (req, ctx) => {
        seen.push({ ns: ctx.metadata.namespace, conn: ctx.connection.id, execId: req.execId ?? '' });
        return {
          id: req.id ?? '',
          bundle: '/b',
          pid: 4242,
          status: TaskStatus.RUNNING,
          stdin: '',
          stdout: '/o',
          stderr: '',
          terminal: true,
          exitStatus: 0,
          exitedAt: { seconds: 1_700_000_000, nanos: 5 },
          execId: req.execId ?? '',
        };
      },
      Update: (req) => {
        assert.deepEqual(req.annotations, { a: 'b' });
        assert.equal(req.resources?.type_url, 'x/y');
        assert.deepEqual([...req.resources!.value], [1, 2, 3]);
        return {};
      },
    }),
  );
  const c1 = new ServiceClient<TaskApi>(await client(), taskService());
  const c2 = new ServiceClient<TaskApi>(await client(), taskService());
  const md = new Metadata({ [NAMESPACE_KEY]: 'k8s.io' });
  const r = await c1.call('State', { id: 'task1', execId: 'e1' }, { metadata: md });
  assert.equal(r.id, 'task1');
  assert.equal(r.pid, 4242);
  assert.equal(r.status, TaskStatus.RUNNING);
  assert.equal(r.terminal, true);
  assert.deepEqual(r.exitedAt, { seconds: 1_700_000_000, nanos: 5 });
  assert.equal(r.stdin, '', 'proto3 defaults are filled in');
  await c1.call('State', { id: 'task1' }, { metadata: md });
  await c2.call('State', { id: 'task2' });
  assert.deepEqual(await c1.call('Update', { id: 'x', annotations: { a: 'b' }, resources: { type_url: 'x/y', value: Buffer.from([1, 2, 3]) } }), {});
  assert.equal(seen[0]!.ns, 'k8s.io');
  assert.equal(seen[0]!.execId, 'e1');
  assert.equal(seen[1]!.execId, '');
  assert.equal(seen[0]!.conn, seen[1]!.conn, 'same client, same connection');
  assert.notEqual(seen[0]!.conn, seen[2]!.conn, 'another client, another connection');
  assert.equal(seen[2]!.ns, undefined);
});

test('raw pass-through: a fallback gets the payload bytes untouched and its bytes go back untouched', async () => {
  const got: { method: string; payload: Buffer }[] = [];
  const { client } = await setup((s) =>
    registerService(s, taskService(), { Connect: () => ({ shimPid: 1, taskPid: 2, version: '2' }) }, {
      fallback: (method, payload) => {
        got.push({ method, payload: Buffer.from(payload) });
        return Buffer.concat([Buffer.from('echo:'), payload]);
      },
    }),
  );
  const c = await client();
  const odd = Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63, 0xff, 0x00]); // not even a valid message
  assert.deepEqual(await c.callRaw(TASK_SERVICE, 'Kill', odd), Buffer.concat([Buffer.from('echo:'), odd]));
  assert.deepEqual(got, [{ method: 'Kill', payload: odd }]);
  // An empty payload travels as an empty payload.
  assert.equal((await c.callRaw(TASK_SERVICE, 'Pids', Buffer.alloc(0))).toString(), 'echo:');
  // The typed method still wins over the fallback.
  const r = await new ServiceClient<TaskApi>(c, taskService()).call('Connect', { id: 'a' });
  assert.deepEqual(r, { shimPid: 1, taskPid: 2, version: '2' });
});

test('unknown service or method answers UNIMPLEMENTED; handler errors keep their code and message', async () => {
  const { client } = await setup((s) => {
    s.register('t.S', {
      notFound: () => {
        throw new TtrpcError(Code.NOT_FOUND, 'container abc: not found');
      },
      plain: () => {
        throw new Error('boom');
      },
      errno: () => {
        throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      },
      details: () => {
        throw new TtrpcError(Code.FAILED_PRECONDITION, 'x', [{ type_url: 't/u', value: Buffer.from('d') }]);
      },
    });
  });
  const c = await client();
  await rejectsWith(c.callRaw('no.Such', 'M', Buffer.alloc(0)), Code.UNIMPLEMENTED, 'service no.Such');
  await rejectsWith(c.callRaw('t.S', 'nope', Buffer.alloc(0)), Code.UNIMPLEMENTED, 'method nope');
  await rejectsWith(c.callRaw('t.S', 'toString', Buffer.alloc(0)), Code.UNIMPLEMENTED, 'method toString');
  const e = await rejectsWith(c.callRaw('t.S', 'notFound', Buffer.alloc(0)), Code.NOT_FOUND, 'container abc: not found');
  assert.equal(e.message, 'ttrpc NOT_FOUND: container abc: not found');
  await rejectsWith(c.callRaw('t.S', 'plain', Buffer.alloc(0)), Code.UNKNOWN, 'boom');
  await rejectsWith(c.callRaw('t.S', 'errno', Buffer.alloc(0)), Code.NOT_FOUND, 'ENOENT: no such file');
  const d = await rejectsWith(c.callRaw('t.S', 'details', Buffer.alloc(0)), Code.FAILED_PRECONDITION, 'x');
  assert.deepEqual(d.statusDetails.map((x) => [x.type_url, Buffer.from(x.value).toString()]), [['t/u', 'd']]);
  // A typed handler fed bytes that are not its request type answers INVALID_ARGUMENT.
  const t = await setup((s) => registerService(s, taskService(), { State: (r) => ({ id: r.id }) as TaskApi['State']['response'] }));
  await rejectsWith((await t.client()).callRaw(TASK_SERVICE, 'State', Buffer.from([0x0f])), Code.INVALID_ARGUMENT, /cannot decode containerd\.task\.v2\.StateRequest/);
});

test('deadlines: timeout_nano reaches the handler as deadline and signal; the client gives up in time', async () => {
  let ctxSeen: CallContext | undefined;
  let abortReason: unknown;
  const { client } = await setup((s) =>
    s.register('t.S', {
      slow: async (_p, ctx) => {
        ctxSeen = ctx;
        await once(ctx.signal, 'abort');
        abortReason = ctx.signal.reason;
        return Buffer.from('late');
      },
      fast: (_p, ctx) => Buffer.from(String(ctx.deadline ?? 'none')),
    }),
  );
  const c = await client();
  const t0 = Date.now();
  await rejectsWith(c.callRaw('t.S', 'slow', Buffer.alloc(0), { timeoutMs: 80 }), Code.DEADLINE_EXCEEDED, /no answer within 80 ms/);
  const took = Date.now() - t0;
  assert.ok(took >= 75 && took < 1000, `gave up after ${took} ms`);
  assert.ok(ctxSeen?.deadline && Math.abs(ctxSeen.deadline - (t0 + 80)) < 50, 'deadline from timeout_nano');
  await sleep(30);
  assert.ok(abortReason instanceof TtrpcError && abortReason.code === Code.DEADLINE_EXCEEDED, 'server-side signal aborted at the deadline');
  // The late answer to the abandoned stream is dropped; the connection still works.
  assert.equal((await c.callRaw('t.S', 'fast', Buffer.alloc(0))).toString(), 'none');
  const withDeadline = Number((await c.callRaw('t.S', 'fast', Buffer.alloc(0), { deadline: Date.now() + 5000 })).toString());
  assert.ok(Math.abs(withDeadline - (Date.now() + 5000)) < 100);
  await rejectsWith(c.callRaw('t.S', 'fast', Buffer.alloc(0), { deadline: Date.now() - 1 }), Code.DEADLINE_EXCEEDED, /already passed/);
  // An abort signal cancels a call.
  const ac = new AbortController();
  const p = c.callRaw('t.S', 'slow', Buffer.alloc(0), { signal: ac.signal });
  ac.abort();
  await rejectsWith(p, Code.CANCELLED, /cancelled/);
});

test('concurrent calls on one connection are answered out of order, each to its caller', async () => {
  let maxActive = 0;
  const { client, server } = await setup((s) =>
    s.register('t.S', {
      echo: async (p, ctx) => {
        maxActive = Math.max(maxActive, ctx.connection.activeCalls);
        await sleep(100 - Number(p.toString()));
        return p;
      },
    }),
  );
  const c = await client();
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => c.callRaw('t.S', 'echo', Buffer.from(String(i)))));
  assert.deepEqual(results.map((r) => Number(r.toString())), Array.from({ length: 100 }, (_, i) => i));
  assert.equal(maxActive, 100, 'all 100 ran at once');
  assert.equal([...server.connections][0]!.activeCalls, 0);
});

test('connection hooks: open and close are reported; closing cancels the calls in flight', async () => {
  const opened: number[] = [];
  const closed: [number, string | undefined][] = [];
  let inflightSignal: AbortSignal | undefined;
  const { client, server } = await setup((s) => {
    s.register('t.S', {
      hang: (_p, ctx) => {
        inflightSignal = ctx.signal;
        return new Promise<Buffer>(() => undefined);
      },
      ping: () => Buffer.from('pong'),
    });
  });
  server.on('connection', (c) => opened.push(c.id));
  server.on('connectionClose', (c, reason) => closed.push([c.id, reason]));
  const c = await client();
  const c2 = await client();
  await c.callRaw('t.S', 'ping', Buffer.alloc(0));
  await c2.callRaw('t.S', 'ping', Buffer.alloc(0));
  assert.equal(opened.length, 2);
  void c.callRaw('t.S', 'hang', Buffer.alloc(0)).catch(() => undefined);
  await sleep(20);
  assert.ok(inflightSignal && !inflightSignal.aborted);
  c.close();
  for (let i = 0; i < 100 && closed.length === 0; i++) await sleep(5);
  assert.deepEqual(closed, [[opened[0]!, undefined]], 'an orderly close has no fault reason');
  assert.ok(inflightSignal.aborted, 'the in-flight call was cancelled');
  assert.equal((await c2.callRaw('t.S', 'ping', Buffer.alloc(0))).toString(), 'pong', 'the other connection is untouched');

  // The server dropping a connection: the client's pending call fails UNAVAILABLE and 'close' fires.
  const conn = [...server.connections].find((x) => x.id === opened[1]) as ServerConnection;
  const pending = c2.callRaw('t.S', 'hang', Buffer.alloc(0));
  await sleep(20);
  const closedEv = once(c2, 'close');
  conn.close();
  await rejectsWith(pending, Code.UNAVAILABLE, /closed/);
  await closedEv;
  assert.ok(c2.isClosed);
  await rejectsWith(c2.callRaw('t.S', 'ping', Buffer.alloc(0)), Code.UNAVAILABLE, /closed/);
});

test('faults stay on their connection: garbage, even ids, oversize answered per stream; bad type closes with a logged reason', async () => {
  const { client, path, lines, server } = await setup((s) => s.register('t.S', { ping: (p) => p }));
  const reasons: (string | undefined)[] = [];
  server.on('connectionClose', (_c, r) => reasons.push(r));
  const good = await client();
  const peer = await RawPeer.connect(path);
  const req = (_id: number, body = 'x'): Uint8Array => encodeRequest({ service: 't.S', method: 'ping', payload: Buffer.from(body), timeoutNano: 0, metadata: [] });

  // Garbage request payload: INVALID_ARGUMENT on that stream, connection kept.
  peer.send(1, FrameType.Request, Buffer.from([0xff, 0xff, 0xff, 0xff]));
  // An even stream id: INVALID_ARGUMENT.
  peer.send(2, FrameType.Request, req(2));
  // An oversized frame: header only plus its skipped body, RESOURCE_EXHAUSTED on stream 5.
  const head = Buffer.alloc(HEADER_LENGTH);
  head.writeUInt32BE(MAX_MESSAGE_LENGTH + 1, 0);
  head.writeUInt32BE(5, 4);
  head[8] = FrameType.Request;
  peer.write(head);
  peer.write(Buffer.alloc(MAX_MESSAGE_LENGTH + 1));
  // A valid call after all that still works on the same connection.
  peer.send(7, FrameType.Request, req(7, 'alive'));
  // A stream id that goes backwards is refused.
  peer.send(3, FrameType.Request, req(3));
  await peer.until(() => peer.frames.length >= 5);
  const answers = new Map(peer.frames.map((f) => [f.streamId, decodeResponse(f.payload)]));
  assert.equal(answers.get(1)?.status?.code, Code.INVALID_ARGUMENT);
  assert.match(answers.get(1)!.status!.message, /unmarshal request error/);
  assert.equal(answers.get(2)?.status?.code, Code.INVALID_ARGUMENT);
  assert.match(answers.get(2)!.status!.message, /must be odd/);
  assert.equal(answers.get(5)?.status?.code, Code.RESOURCE_EXHAUSTED);
  assert.equal(answers.get(7)?.status?.code ?? 0, 0);
  assert.equal(answers.get(7)?.payload.toString(), 'alive');
  assert.equal(answers.get(3)?.status?.code, Code.INVALID_ARGUMENT);
  assert.equal(peer.closed, false);

  // An unknown frame type: the connection is closed and the reason logged.
  peer.send(9, 0x7f, req(9));
  await peer.until(() => peer.closed);
  for (let i = 0; i < 100 && !reasons.some(Boolean); i++) await sleep(5);
  assert.ok(reasons.some((r) => r?.includes('unknown frame type 127')), `reasons: ${JSON.stringify(reasons)}`);
  assert.ok(lines.some((l) => l.level === 'warn' && String(l['reason']).includes('unknown frame type 127')), 'reason logged');

  // A response frame sent to the server is a protocol error too.
  const peer2 = await RawPeer.connect(path);
  peer2.send(1, FrameType.Response, Buffer.alloc(0));
  await peer2.until(() => peer2.closed);

  // A peer that stops mid-frame harms nothing.
  const peer3 = await RawPeer.connect(path);
  peer3.write(Buffer.from([0, 0, 1]));
  peer3.close();

  // None of it touched the well-behaved client.
  assert.equal((await good.callRaw('t.S', 'ping', Buffer.from('still here'))).toString(), 'still here');
});

test('size limits: a request over 4 MiB is refused locally, a response over 4 MiB becomes RESOURCE_EXHAUSTED', async () => {
  const { client } = await setup((s) =>
    s.register('t.S', {
      big: () => Buffer.alloc(MAX_MESSAGE_LENGTH + 1),
      nearMax: (p) => Buffer.alloc(MAX_MESSAGE_LENGTH - 64, p[0]),
    }),
  );
  const c = await client();
  await rejectsWith(c.callRaw('t.S', 'big', Buffer.alloc(MAX_MESSAGE_LENGTH)), Code.RESOURCE_EXHAUSTED, /request of \d+ bytes exceeds 4194304/);
  await rejectsWith(c.callRaw('t.S', 'big', Buffer.alloc(0)), Code.RESOURCE_EXHAUSTED, /response of 4194305 bytes exceeds/);
  const r = await c.callRaw('t.S', 'nearMax', Buffer.from([7]));
  assert.equal(r.length, MAX_MESSAGE_LENGTH - 64);
  assert.equal(r[r.length - 1], 7);
});

test('a client fed a garbage response fails that call and keeps serving; a request frame from a server closes it', async () => {
  const { path, server } = await setup(() => undefined);
  await server.close();
  const net = await import('node:net');
  const { encodeFrame } = await import('./frame.js');
  const srv = net.createServer((s) => {
    let i = 0;
    s.on('data', () => {
      i++;
      if (i === 1) s.write(encodeFrame(1, FrameType.Response, Buffer.from([0xff, 0xff])));
      if (i === 2) s.write(encodeFrame(3, FrameType.Request, Buffer.alloc(0)));
    });
  });
  const p2 = `${path}.raw`;
  await new Promise<void>((r) => srv.listen(p2, r));
  after(() => srv.close());
  const c = await TtrpcClient.connect(p2, { log: recordingLogger().log });
  await rejectsWith(c.callRaw('a', 'b', Buffer.alloc(0)), Code.INTERNAL, /malformed ttrpc.Response/);
  assert.equal(c.isClosed, false);
  const closed = once(c, 'close');
  await rejectsWith(c.callRaw('a', 'b', Buffer.alloc(0)), Code.UNAVAILABLE, /request frame on stream 3 sent to a client/);
  assert.match(String((await closed)[0]), /protocol error/);
});

test('a stale socket file is replaced, a live one is not', async () => {
  const { path } = await setup((s) => s.register('t.S', {}));
  const { statSync } = await import('node:fs');
  assert.equal(statSync(path).mode & 0o777, 0o600, 'only root may talk to a shim socket');
  const other = new TtrpcServer({ log: recordingLogger().log });
  await assert.rejects(other.listen(path), /EADDRINUSE/);
  const stalePath = tmp.path('stale.sock');
  const net = await import('node:net');
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(stalePath, r));
  // Closing a net.Server unlinks the path; recreate a dead socket file by hand.
  await new Promise<void>((r) => s.close(() => r()));
  const { execFileSync } = await import('node:child_process');
  execFileSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(stalePath)})`]);
  await other.listen(stalePath);
  await other.close();
});

test('close() ends live connections (clients see close) and waits for calls in flight up to the grace time', async () => {
  const { log } = recordingLogger();
  const server = new TtrpcServer({ log });
  server.register('t.S', { slow: async () => (await sleep(80), Buffer.from('done')), ping: () => Buffer.from('pong') });
  const path = tmp.path('close.sock');
  await server.listen(path);
  const idle = await TtrpcClient.connect(path, { log });
  const busy = await TtrpcClient.connect(path, { log });
  await idle.callRaw('t.S', 'ping', Buffer.alloc(0));
  const slow = busy.callRaw('t.S', 'slow', Buffer.alloc(0));
  await sleep(10);
  const idleClosed = once(idle, 'close');
  await server.close(1000);
  assert.equal((await slow).toString(), 'done', 'the call in flight was answered before the close');
  await idleClosed;
  assert.ok(busy.isClosed || (await once(busy, 'close'), true));
  await assert.rejects(TtrpcClient.connect(path), (e: unknown) => e instanceof TtrpcError && e.code === Code.UNAVAILABLE);
});
