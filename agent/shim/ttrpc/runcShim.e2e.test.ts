// Interop with real Go ttrpc: our client against a real containerd-shim-runc-v2 (Task API, errors,
// a container's whole life with real runc), and our server against the shim's Go client (the
// shim publishes its task events to TTRPC_ADDRESS, which is our Events/Forward server).
// Needs root, runc and containerd-shim-runc-v2.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TASK_SERVICE, TaskStatus, type Envelope, type TaskApi } from '../../proto/taskApi.js';
import { NAMESPACE_KEY } from './Metadata.js';
import { RUNC_SHIM, startRuncShim } from './runcShimHarness.js';
import { eventsService, messageCodec, runcOptionsCodec, taskEventCodec, taskService } from './shimApi.js';
import { recordingLogger } from './testUtil.js';
import { TtrpcClient } from './TtrpcClient.js';
import { Code, TtrpcError } from './TtrpcError.js';
import { TtrpcServer } from './TtrpcServer.js';
import { registerService, ServiceClient } from './typedService.js';
import { installed, ROOT, skipUnless } from '../../../e2e/lib/e2eGate.js';

const NS = 'vnode-ttrpc-e2e';
const skip = skipUnless(installed(RUNC_SHIM), ROOT);

const dir = mkdtempSync('/run/vnode-ttrpc-e2e-');
after(() => rmSync(dir, { recursive: true, force: true }));

/** Our Events server standing in for containerd's TTRPC address. */
async function eventSink(t: TestContext): Promise<{ path: string; envelopes: (Envelope & { mdNamespace: string | undefined })[] }> {
  const envelopes: (Envelope & { mdNamespace: string | undefined })[] = [];
  const server = new TtrpcServer({ log: recordingLogger().log });
  registerService(server, eventsService(), {
    Forward: (req, ctx) => {
      envelopes.push({ ...req.envelope!, mdNamespace: ctx.metadata.namespace });
      return {};
    },
  });
  const path = join(dir, `events-${envelopes.length}-${Math.random().toString(36).slice(2)}.sock`);
  await server.listen(path);
  t.after(() => server.close());
  return { path, envelopes };
}

async function shimClient(t: TestContext, id: string, ttrpcAddress: string): Promise<{ task: ServiceClient<TaskApi>; client: TtrpcClient; shim: Awaited<ReturnType<typeof startRuncShim>>; shimPid: number }> {
  const shim = await startRuncShim({ dir, id, namespace: NS, ttrpcAddress });
  let shimPid = 0;
  t.after(() => shim.cleanup(shimPid));
  const client = await TtrpcClient.connect(shim.address, { metadata: { [NAMESPACE_KEY]: NS }, log: recordingLogger().log });
  t.after(() => client.close());
  const task = new ServiceClient<TaskApi>(client, taskService());
  shimPid = (await task.call('Connect', { id }, { timeoutMs: 5000 })).shimPid;
  return { task, client, shim, shimPid };
}

const code = async (p: Promise<unknown>): Promise<[number, string]> => {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TtrpcError, String(e));
    return [e.code, e.details];
  }
  return [0, ''];
};

test('our client against a real runc shim: Connect, error statuses, Shutdown', { skip }, async (t) => {
  const sink = await eventSink(t);
  const { task, client, shim, shimPid } = await shimClient(t, 'probe', sink.path);
  const conn = await task.call('Connect', { id: 'probe' });
  assert.ok(conn.shimPid > 1, 'shim pid');
  assert.equal(conn.taskPid, 0, 'no task yet: pid 0, no error');
  assert.equal(shimPid, conn.shimPid);
  // An unknown task: NotFound, with containerd's errdefs text.
  assert.deepEqual(await code(task.call('State', { id: 'no-such-task' })), [Code.NOT_FOUND, 'container not created: not found']);
  assert.deepEqual(await code(task.call('Pids', { id: 'no-such-task' })), [Code.NOT_FOUND, 'container not created: not found']);
  // Go ttrpc's own statuses decode the same way.
  assert.deepEqual(await code(client.callRaw(TASK_SERVICE, 'NoSuchMethod', Buffer.alloc(0))), [Code.UNIMPLEMENTED, 'method NoSuchMethod']);
  assert.deepEqual(await code(client.callRaw('no.such.Service', 'X', Buffer.alloc(0))), [Code.UNIMPLEMENTED, 'service no.such.Service']);
  const [gc, gm] = await code(client.callRaw(TASK_SERVICE, 'State', Buffer.from([0xff, 0xff])));
  assert.equal(gc, Code.INTERNAL);
  assert.match(gm, /error unmarshalling payload/);
  // A deadline we send is honoured by the Go side: Wait on nothing returns NotFound at once, so
  // use the client-side limit on a call that takes longer than it (timeout_nano of 1 ms).
  const [dc] = await code(task.call('Connect', { id: 'probe' }, { timeoutMs: 0.001 }));
  assert.ok(dc === Code.DEADLINE_EXCEEDED || dc === 0);
  // The connection is still fine after all of that.
  assert.equal((await task.call('Connect', { id: 'probe' })).shimPid, shimPid);

  // Shutdown with no containers: the shim exits, our client sees the close, the socket goes.
  const closed = once(client, 'close');
  const [sc] = await code(task.call('Shutdown', { id: 'probe' }, { timeoutMs: 3000 }));
  assert.ok(sc === 0 || sc === Code.UNAVAILABLE, `Shutdown answered ${sc}`);
  await closed;
  const sock = shim.address.slice('unix://'.length);
  for (let i = 0; i < 100 && existsSync(sock); i++) await sleep(20);
  assert.equal(existsSync(sock), false, 'shim removed its socket');
  // Gone, or a zombie waiting for whoever reaps orphans here (the shim daemon is re-parented).
  let state = '';
  for (let i = 0; i < 100; i++) {
    try {
      state = readFileSync(`/proc/${shimPid}/stat`, 'utf8').replace(/^.*\) /, '')[0]!;
    } catch {
      state = 'gone';
    }
    if (state === 'gone' || state === 'Z') break;
    await sleep(20);
  }
  assert.ok(state === 'gone' || state === 'Z', `shim process state ${state}`);
});

test('a container through a real runc shim, and its events through our server from Go ttrpc', { skip: skip || skipUnless(installed('/bin/busybox')) }, async (t) => {
  const sink = await eventSink(t);
  const id = 'life';
  const { task, shim } = await shimClient(t, id, sink.path);
  const created = await task.call('Create', {
    id,
    bundle: shim.bundle,
    options: runcOptionsCodec().toAny({ root: shim.runcRoot }),
  }, { timeoutMs: 20000 }).catch((e: unknown) => {
    throw new Error(`Create failed: ${String(e)}\nshim log:\n${shim.log()}`);
  });
  assert.ok(created.pid > 1);
  let st = await task.call('State', { id });
  assert.equal(st.status, TaskStatus.CREATED);
  assert.equal(st.pid, created.pid);
  assert.equal(st.bundle, shim.bundle);
  const started = await task.call('Start', { id });
  assert.equal(started.pid, created.pid);
  st = await task.call('State', { id });
  assert.equal(st.status, TaskStatus.RUNNING);
  assert.equal((await task.call('Connect', { id })).taskPid, created.pid, 'Connect reports the task pid');
  const pids = await task.call('Pids', { id });
  assert.ok(pids.processes.some((p) => p.pid === created.pid), 'Pids lists the init');

  // Wait blocks until the exit: start it, then kill.
  const waiting = task.call('Wait', { id });
  await sleep(50);
  await task.call('Kill', { id, signal: 9, all: false });
  const waited = await waiting;
  assert.equal(waited.exitStatus, 137);
  assert.ok(waited.exitedAt && waited.exitedAt.seconds > 1_600_000_000);
  assert.equal((await task.call('State', { id })).status, TaskStatus.STOPPED);
  const del = await task.call('Delete', { id });
  assert.equal(del.exitStatus, 137);
  assert.equal(del.pid, created.pid);

  // Events: published by the shim's Go ttrpc client to our server, in order.
  for (let i = 0; i < 200 && sink.envelopes.length < 4; i++) await sleep(20);
  const topics = sink.envelopes.map((e) => e.topic);
  assert.deepEqual(topics, ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
  for (const e of sink.envelopes) {
    assert.equal(e.namespace, NS);
    assert.equal(e.mdNamespace, NS, 'Go client sent the namespace metadata');
    assert.ok(e.timestamp && e.timestamp.seconds > 1_600_000_000);
  }
  const ev = (i: number): { type_url: string; value: Uint8Array } => sink.envelopes[i]!.event!;
  assert.equal(ev(0).type_url, 'containerd.events.TaskCreate');
  const tc = taskEventCodec('TaskCreate').decode(ev(0).value);
  assert.equal(tc.containerId, id);
  assert.equal(tc.pid, created.pid);
  assert.equal(tc.bundle, shim.bundle);
  const te = taskEventCodec('TaskExit').decode(ev(2).value);
  assert.deepEqual([te.containerId, te.id, te.pid, te.exitStatus], [id, id, created.pid, 137]);
  const td = taskEventCodec('TaskDelete').decode(ev(3).value);
  assert.deepEqual([td.containerId, td.pid, td.exitStatus], [id, created.pid, 137]);
  assert.equal(messageCodec('containerd.events.TaskStart').name, ev(1).type_url);

  await task.call('Shutdown', { id }).catch(() => undefined);
});

test('round trip of a small call: our server+client vs the real runc shim (median)', { skip }, async (t) => {
  const N = 3000;
  const median = async (call: () => Promise<unknown>): Promise<number> => {
    for (let i = 0; i < 200; i++) await call();
    const ts: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = process.hrtime.bigint();
      await call();
      ts.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    ts.sort((a, b) => a - b);
    return ts[N >> 1]!;
  };
  const ours = new TtrpcServer({ log: recordingLogger().log });
  registerService(ours, taskService(), { Connect: () => ({ shimPid: process.pid, taskPid: 0, version: '' }) });
  const path = join(dir, 'rt.sock');
  await ours.listen(path);
  t.after(() => ours.close());
  const oc = new ServiceClient<TaskApi>(await TtrpcClient.connect(path), taskService());
  t.after(() => oc.client.close());
  const sink = await eventSink(t);
  const { task } = await shimClient(t, 'bench', sink.path);
  // A pass-through hop in front of the runc shim, as the manager's proxy will be.
  const proxy = new TtrpcServer({ log: recordingLogger().log });
  registerService(proxy, taskService(), {}, { fallback: (method, payload, ctx) => task.client.callRaw(TASK_SERVICE, method, payload, { metadata: ctx.metadata }) });
  const proxyPath = join(dir, 'proxy.sock');
  await proxy.listen(proxyPath);
  t.after(() => proxy.close());
  const viaProxy = new ServiceClient<TaskApi>(await TtrpcClient.connect(proxyPath, { metadata: { [NAMESPACE_KEY]: NS } }), taskService());
  t.after(() => viaProxy.client.close());

  const raw = Buffer.from(taskService().methods.Connect.request.encode({ id: 'bench' }));
  const oursUs = await median(() => oc.call('Connect', { id: 'bench' }));
  const oursRawUs = await median(() => oc.callRaw('Connect', raw));
  const goUs = await median(() => task.call('Connect', { id: 'bench' }));
  const proxyUs = await median(() => viaProxy.call('Connect', { id: 'bench' }));
  assert.equal((await viaProxy.call('Connect', { id: 'bench' })).shimPid, (await task.call('Connect', { id: 'bench' })).shimPid);
  console.log(
    `BENCH ttrpc-roundtrip calls=${N} ours_typed_us=${oursUs.toFixed(1)} ours_raw_us=${oursRawUs.toFixed(1)} ` +
      `runc_shim_us=${goUs.toFixed(1)} via_proxy_to_runc_shim_us=${proxyUs.toFixed(1)} ratio=${(oursUs / goUs).toFixed(2)}`,
  );
  assert.ok(oursUs < 5000 && goUs < 5000);
  await task.call('Shutdown', { id: 'bench' }).catch(() => undefined);
});
