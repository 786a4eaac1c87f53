import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TASK_METHODS, TaskStatus } from '../../proto/taskApi.js';
import { messageCodec, runcOptionsCodec, runtimeOptionsCodec, taskEventCodec, taskService } from './shimApi.js';
import { TtrpcError } from './TtrpcError.js';

test('the Task definition has every method with its request and response types', () => {
  const def = taskService();
  assert.equal(def.name, 'containerd.task.v2.Task');
  assert.deepEqual(Object.keys(def.methods).sort(), [...TASK_METHODS].sort());
  assert.equal(def.methods.Create.request.name, 'containerd.task.v2.CreateTaskRequest');
  assert.equal(def.methods.Kill.response.name, 'google.protobuf.Empty');
  assert.equal(def.methods.Wait.response.name, 'containerd.task.v2.WaitResponse');
});

test('runc options round-trip and sit in an Any under containerd.runc.v1.Options', () => {
  const any = runcOptionsCodec().toAny({ binaryName: 'vnode-runc', root: '/run/vnode/runc', systemdCgroup: false });
  assert.equal(any.type_url, 'containerd.runc.v1.Options');
  // Field 6 (binary_name) then 7 (root), as Go would lay them out.
  assert.deepEqual([...any.value.subarray(0, 2)], [0x32, 10]);
  const back = runcOptionsCodec().decode(any.value);
  assert.equal(back.binaryName, 'vnode-runc');
  assert.equal(back.root, '/run/vnode/runc');
  assert.equal(back.noPivotRoot, false, 'defaults filled in');
  const ro = runtimeOptionsCodec().decode(runtimeOptionsCodec().encode({ typeUrl: 'x', configPath: '/etc/vnode.toml' }));
  assert.deepEqual(ro, { typeUrl: 'x', configPath: '/etc/vnode.toml' });
});

test('decoded messages: int64 as number, enums as number, bytes as Buffer, absent messages null, maps as objects', () => {
  const state = messageCodec<Record<string, unknown>>('containerd.task.v2.StateResponse');
  const s = state.decode(state.encode({ id: 'a', status: TaskStatus.PAUSED, exitedAt: { seconds: 2 ** 40, nanos: 1 } }));
  assert.equal(s['status'], 4);
  assert.deepEqual(s['exitedAt'], { seconds: 2 ** 40, nanos: 1 });
  assert.equal(s['execId'], '');
  const create = taskService().methods.Create.request;
  const c = create.decode(create.encode({ id: 'x', rootfs: [{ type: 'overlay', source: 'overlay', target: '', options: ['lowerdir=/a'] }] }));
  assert.equal(c.options, null);
  assert.deepEqual(c.rootfs[0]!.options, ['lowerdir=/a']);
  const upd = taskService().methods.Update.request;
  const u = upd.decode(upd.encode({ id: 'x', annotations: { k: 'v' }, resources: { type_url: 't', value: Buffer.from([9]) } }));
  assert.deepEqual(u.annotations, { k: 'v' });
  assert.ok(Buffer.isBuffer(u.resources!.value));
  // An exec's ProcessInfo carries runc's ProcessDetails in an Any.
  const pids = taskService().methods.Pids.response;
  const details = messageCodec<{ execId: string }>('containerd.runc.v1.ProcessDetails');
  const p = pids.decode(pids.encode({ processes: [{ pid: 7, info: details.toAny({ execId: 'e1' }) }] }));
  assert.equal(details.decode(p.processes[0]!.info!.value).execId, 'e1');
});

test('bytes that are not the message are an INVALID_ARGUMENT naming the type', () => {
  // Field 1 with wire type 7 (none such). Note: protobufjs reading from a Buffer clamps a
  // truncated string instead of failing, so truncation alone is not a reliable garbage sample.
  assert.throws(() => taskEventCodec('TaskExit').decode(Buffer.from([0x0f, 0x01])), (e: unknown) => {
    assert.ok(e instanceof TtrpcError);
    assert.equal(e.code, 3);
    assert.match(e.details, /cannot decode containerd\.events\.TaskExit/);
    return true;
  });
});

test('encoding matches what Go would send for the same values (golden bytes)', () => {
  // KillRequest{id:"c1", signal:9, all:true}: 0a 02 63 31 18 09 20 01
  const kill = taskService().methods.Kill.request.encode({ id: 'c1', signal: 9, all: true });
  assert.equal(Buffer.from(kill).toString('hex'), '0a026331180920' + '01');
  // ConnectResponse{shim_pid:1, task_pid:300}: 08 01 10 ac 02
  const conn = taskService().methods.Connect.response.encode({ shimPid: 1, taskPid: 300 });
  assert.equal(Buffer.from(conn).toString('hex'), '080110ac02');
});
