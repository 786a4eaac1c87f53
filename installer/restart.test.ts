import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandRestarter, NsenterRestarter, defaultUnit, handlersFromStatus, waitForHandler, type CriRuntimeProbe } from './restart.js';

test('command strategy runs the argv once and reports a failure with its stderr', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-inst-restart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const count = join(dir, 'count');
  await new CommandRestarter(['sh', '-c', `echo restarted >> ${count}`]).restart();
  assert.equal(readFileSync(count, 'utf8'), 'restarted\n');
  await assert.rejects(new CommandRestarter(['sh', '-c', 'echo unit not found >&2; exit 5']).restart(), /exit 5: unit not found/);
  await assert.rejects(new CommandRestarter(['/nonexistent/restart']).restart(), /ENOENT/);
  await assert.rejects(new CommandRestarter(['sleep', '5'], 100).restart(), /no exit within 100 ms/);
});

test('nsenter strategy enters every namespace of host pid 1 and restarts the flavor\'s unit', () => {
  assert.deepEqual(new NsenterRestarter(defaultUnit('containerd', false)).argv(), ['nsenter', '--target', '1', '--mount', '--uts', '--ipc', '--net', '--pid', '--', 'systemctl', 'restart', 'containerd']);
  assert.equal(defaultUnit('k3s', false), 'k3s-agent');
  assert.equal(defaultUnit('k3s', true), 'k3s');
  assert.equal(defaultUnit('rke2', false), 'rke2-agent');
});

test('handler names come from runtime_handlers, else from the verbose info.config of containerd 1.x', () => {
  assert.deepEqual(handlersFromStatus({ runtimeHandlers: [{ name: 'runc' }, { name: 'vnode' }] }), ['runc', 'vnode']);
  const config = JSON.stringify({ containerd: { snapshotter: 'overlayfs', defaultRuntimeName: 'runc', runtimes: { runc: {}, vnode: { runtimeType: 'io.containerd.vnode.v2' } } } });
  assert.deepEqual(handlersFromStatus({ info: { config } }), ['runc', 'vnode']);
  assert.throws(() => handlersFromStatus({ info: {} }), /neither runtime_handlers nor info\.config/);
});

test('waitForHandler waits through an unreachable CRI until the handler appears, and times out saying why', async () => {
  let calls = 0;
  const probe: CriRuntimeProbe = {
    runtimeHandlers: async () => {
      calls++;
      if (calls < 3) throw new Error('connect ECONNREFUSED');
      if (calls < 5) return ['runc'];
      return ['runc', 'vnode'];
    },
  };
  await waitForHandler(probe, 'vnode', true, { intervalMs: 1 });
  assert.equal(calls, 5);
  await assert.rejects(waitForHandler({ runtimeHandlers: async () => { throw new Error('ECONNREFUSED'); } }, 'vnode', true, { timeoutMs: 30, intervalMs: 5 }), /within 30 ms \(last error: ECONNREFUSED\)/);
  assert.ok((await waitForHandler({ runtimeHandlers: async () => ['runc'] }, 'vnode', false)) >= 0);
});
