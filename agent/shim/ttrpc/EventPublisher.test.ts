import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TASK_EVENT_TOPICS, type Envelope } from '../../proto/taskApi.js';
import { EventPublisher } from './EventPublisher.js';
import { eventsService, taskEventCodec } from './shimApi.js';
import { recordingLogger, tempSocketDir } from './testUtil.js';
import { Code, TtrpcError } from './TtrpcError.js';
import { TtrpcServer } from './TtrpcServer.js';
import { registerService } from './typedService.js';

const tmp = tempSocketDir();
after(() => tmp.cleanup());

/** A stand-in for containerd's Events service that validates envelopes as containerd does. */
async function fakeContainerd(path: string, got: { env: Envelope; ns: string | undefined }[]): Promise<TtrpcServer> {
  const s = new TtrpcServer({ log: recordingLogger().log });
  registerService(s, eventsService(), {
    Forward: (req, ctx) => {
      const env = req.envelope!;
      if (!env.topic.startsWith('/')) throw new TtrpcError(Code.INVALID_ARGUMENT, `envelope topic ${JSON.stringify(env.topic)}: must start with '/'`);
      got.push({ env, ns: ctx.metadata.namespace });
      return {};
    },
  });
  await s.listen(path);
  return s;
}

test('publish sends envelopes in order with topic, namespace, timestamp and a typed Any', async () => {
  const path = tmp.path('c1.sock');
  const got: { env: Envelope; ns: string | undefined }[] = [];
  const server = await fakeContainerd(path, got);
  after(() => server.close());
  const pub = new EventPublisher(`unix://${path}`, { log: recordingLogger().log });
  after(() => pub.close());
  const at = new Date('2025-01-02T03:04:05.678Z');
  await Promise.all([
    pub.publish('k8s.io', 'TaskCreate', { containerId: 'c', bundle: '/b', pid: 10, io: { stdin: '', stdout: '/o', stderr: '', terminal: false } }, at),
    pub.publish('k8s.io', 'TaskStart', { containerId: 'c', pid: 10 }),
    pub.publish('k8s.io', 'TaskExit', { containerId: 'c', id: 'c', pid: 10, exitStatus: 137, exitedAt: { seconds: 5, nanos: 6 } }),
    pub.publish('k8s.io', 'TaskDelete', { containerId: 'c', pid: 10, exitStatus: 137 }),
  ]);
  assert.deepEqual(got.map((g) => g.env.topic), ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
  assert.equal(got[0]!.env.namespace, 'k8s.io');
  assert.deepEqual(got[0]!.env.timestamp, { seconds: Math.floor(at.getTime() / 1000), nanos: 678_000_000 });
  assert.equal(got[0]!.env.event!.type_url, 'containerd.events.TaskCreate');
  const create = taskEventCodec('TaskCreate').decode(got[0]!.env.event!.value);
  assert.equal(create.io?.stdout, '/o');
  assert.equal(create.pid, 10);
  const exit = taskEventCodec('TaskExit').decode(got[2]!.env.event!.value);
  assert.deepEqual([exit.exitStatus, exit.exitedAt], [137, { seconds: 5, nanos: 6 }]);
  assert.equal(TASK_EVENT_TOPICS.TaskOOM, '/tasks/oom');
});

test('a lost connection is redialled and the event retried; a refusal by containerd is not retried', async () => {
  const path = tmp.path('c2.sock');
  const got: { env: Envelope; ns: string | undefined }[] = [];
  let server = await fakeContainerd(path, got);
  const pub = new EventPublisher(path, { log: recordingLogger().log, retryDelayMs: 20, maxAttempts: 6 });
  after(() => pub.close());
  await pub.publish('ns', 'TaskOOM', { containerId: 'a' });
  // containerd restarts: the old connection dies, the next publish must redial.
  await server.close();
  const pending = pub.publish('ns', 'TaskOOM', { containerId: 'b' });
  await sleep(60);
  server = await fakeContainerd(path, got);
  after(() => server.close());
  await pending;
  assert.deepEqual(got.map((g) => taskEventCodec('TaskOOM').decode(g.env.event!.value).containerId), ['a', 'b']);
  // A bad envelope is refused by the server: the error comes back at once, unretried.
  const t0 = Date.now();
  await assert.rejects(pub.forward({ namespace: 'ns', topic: 'no-slash', timestamp: { seconds: 1, nanos: 0 } }), (e: unknown) => e instanceof TtrpcError && e.code === Code.INVALID_ARGUMENT);
  assert.ok(Date.now() - t0 < 200);
  // With nobody listening at all, it gives up after maxAttempts.
  await server.close();
  const lone = new EventPublisher(tmp.path('nobody.sock'), { log: recordingLogger().log, retryDelayMs: 1, maxAttempts: 3 });
  await assert.rejects(lone.publish('ns', 'TaskOOM', { containerId: 'x' }), (e: unknown) => e instanceof TtrpcError && e.code === Code.UNAVAILABLE);
  lone.close();
});
