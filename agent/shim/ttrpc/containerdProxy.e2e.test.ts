// Our server against a real Go client that matters most: containerd 1.6 itself. A throwaway
// runtime `io.containerd.vnodettrpc.v2` (a shell script) starts a stock runc shim and prints OUR
// server's address instead of the runc shim's, so containerd speaks the Task API to us; a tiny
// proxy built from this module's parts rewrites Create's options (typed) and forwards every other
// call unchanged (raw) to the runc shim. `ctr run` of a busybox rootfs must print its output and
// exit cleanly. This is the pass-through path the manager's Task proxy will use, end to end.
// Needs root, containerd, ctr, runc, the runc shim and busybox.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TASK_SERVICE, type TaskApi } from '../../proto/taskApi.js';
import { RUNC_SHIM } from './runcShimHarness.js';
import { messageCodec, runcOptionsCodec, taskService } from './shimApi.js';
import { recordingLogger } from './testUtil.js';
import { TtrpcClient } from './TtrpcClient.js';
import { TtrpcServer, type CallContext } from './TtrpcServer.js';
import { registerService, ServiceClient } from './typedService.js';
import { installed, ROOT, skipUnless } from '../../../e2e/lib/e2eGate.js';

const NS = 'vnode-ttrpc-ctd';
const need = ['/usr/bin/containerd', '/usr/bin/ctr', RUNC_SHIM, '/usr/sbin/runc', '/bin/busybox'];
const skip = skipUnless(ROOT, ...need.map((p) => installed(p)));

test('containerd 1.6 runs a container through our TTRPC server (typed Create, raw pass-through for the rest)', { skip, timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync('/run/vnode-ttrpc-ctd-');
  const sock = join(dir, 'containerd.sock');
  const proxySock = join(dir, 'proxy.sock');
  const routes = join(dir, 'routes');
  const runcRoot = join(dir, 'runc');
  const procs: ChildProcess[] = [];
  t.after(async () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
    await sleep(300);
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    // A failed run can leave containers (even a `runc init` waiting for start): remove them by
    // their runc root, which is this test's own.
    try {
      const list = JSON.parse(execFileSync('runc', ['--root', runcRoot, 'list', '--format', 'json'], { encoding: 'utf8' }) || '[]') as { id: string }[] | null;
      for (const c of list ?? []) execFileSync('runc', ['--root', runcRoot, 'delete', '--force', c.id], { stdio: 'ignore' });
    } catch {
      // no runc root, nothing created
    }
    for (const f of existsSync(routes) ? readdirSync(routes) : []) {
      // A runc shim whose task never reached Shutdown is still alive: find its pid and end it.
      const addr = readFileSync(join(routes, f), 'utf8').trim();
      const path = addr.replace(/^unix:\/\//, '');
      if (!path.startsWith('/run/containerd/s/') || !existsSync(path)) continue;
      try {
        const c = await TtrpcClient.connect(addr, { connectTimeoutMs: 1000, log: recordingLogger().log });
        const { shimPid } = await new ServiceClient<TaskApi>(c, taskService()).call('Connect', { id: f }, { timeoutMs: 1000, metadata: { 'containerd-namespace-ttrpc': NS } });
        c.close();
        if (shimPid > 1) process.kill(shimPid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      rmSync(path, { force: true });
    }
    rmSync(dir, { recursive: true, force: true });
    // ctr's default spec puts containers in cgroup /<namespace>/<id>; runc removes the leaf only.
    for (const ctrl of readdirSync('/sys/fs/cgroup')) {
      try {
        rmdirSync(join('/sys/fs/cgroup', ctrl, NS));
      } catch {
        // not there, or not a cgroup hierarchy
      }
    }
  });
  for (const d of ['bin', 'routes', 'runc', 'rootfs/bin', 'rootfs/proc', 'rootfs/dev', 'rootfs/sys', 'rootfs/tmp']) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'rootfs/bin/busybox'));
  chmodSync(join(dir, 'rootfs/bin/busybox'), 0o755);
  symlinkSync('busybox', join(dir, 'rootfs/bin/sh'));

  // The runtime's shim: start = start a real runc shim, note its address, print ours.
  const shim = join(dir, 'bin/containerd-shim-vnodettrpc-v2');
  writeFileSync(shim, `#!/bin/sh
id=""; prev=""; last=""
for a in "$@"; do [ "$prev" = "-id" ] && id="$a"; prev="$a"; last="$a"; done
if [ "$last" = start ]; then
  addr=$(${RUNC_SHIM} "$@") || { echo "runc shim start failed: $addr"; exit 1; }
  echo "$addr" > ${routes}/"$id"
  echo "unix://${proxySock}"
else
  exec ${RUNC_SHIM} "$@"
fi
`);
  chmodSync(shim, 0o755);

  // The proxy.
  const { log } = recordingLogger();
  const server = new TtrpcServer({ log });
  const seen: string[] = [];
  const upstreams = new Map<string, Promise<TtrpcClient>>();
  const idOf = messageCodec<{ id: string }>('containerd.task.v2.PidsRequest'); // every Task request has id = 1
  const upstream = (id: string): Promise<TtrpcClient> => {
    let c = upstreams.get(id);
    if (!c) {
      c = TtrpcClient.connect(readFileSync(join(routes, id), 'utf8').trim(), { log });
      upstreams.set(id, c);
    }
    return c;
  };
  const fwd = (ctx: CallContext) => ({ metadata: ctx.metadata, deadline: ctx.deadline, signal: ctx.signal });
  registerService(server, taskService(), {
    Create: async (req, ctx) => {
      seen.push('Create');
      // What the manager does: send the runc shim its own runc options.
      const options = runcOptionsCodec().toAny({ root: runcRoot });
      return new ServiceClient<TaskApi>(await upstream(req.id), taskService()).call('Create', { ...req, options }, fwd(ctx));
    },
  }, {
    fallback: async (method, payload, ctx) => {
      seen.push(method);
      return (await upstream(idOf.decode(payload).id)).callRaw(TASK_SERVICE, method, payload, fwd(ctx));
    },
  });
  const closes: (string | undefined)[] = [];
  server.on('connectionClose', (_c, reason) => closes.push(reason));
  await server.listen(proxySock);
  t.after(async () => {
    for (const c of upstreams.values()) (await c.catch(() => undefined))?.close();
    await server.close();
  });

  const cfg = join(dir, 'config.toml');
  writeFileSync(cfg, `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${sock}"
[ttrpc]
  address = "${sock}.ttrpc"
`);
  const ctd = spawn('/usr/bin/containerd', ['--config', cfg], { env: { ...process.env, PATH: `${dir}/bin:${process.env['PATH'] ?? '/usr/bin:/bin'}` }, stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(ctd);
  let ctdLog = '';
  ctd.stderr!.on('data', (d: Buffer) => (ctdLog += d.toString()));
  // Asynchronous on purpose: the proxy serving containerd lives on this event loop.
  const ctr = (...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile('/usr/bin/ctr', ['-a', sock, '-n', NS, ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
        resolve({ status: code, stdout, stderr });
      });
    });
  for (let i = 0; i < 100 && (await ctr('version')).status !== 0; i++) await sleep(100);
  assert.equal((await ctr('version')).status, 0, `containerd did not come up:\n${ctdLog}`);

  const r = await ctr('run', '--rm', '--runtime', 'io.containerd.vnodettrpc.v2', '--rootfs', join(dir, 'rootfs'), 'ttrpc-proxy-1', '/bin/busybox', 'echo', 'hello through the proxy');
  assert.equal(r.status, 0, `ctr run failed: ${r.stdout}${r.stderr}\ncontainerd log:\n${ctdLog.slice(-4000)}`);
  assert.equal(r.stdout.trim(), 'hello through the proxy');
  // containerd drove the whole life over our server.
  for (const m of ['Create', 'Connect', 'Start', 'Wait', 'Delete']) assert.ok(seen.includes(m), `${m} went through the proxy: ${seen.join(',')}`);
  // Shutdown then close: containerd dropped the task's connection without any fault.
  for (let i = 0; i < 100 && closes.length === 0; i++) await sleep(20);
  assert.ok(seen.includes('Shutdown'), `Shutdown seen: ${seen.join(',')}`);
  assert.deepEqual(closes, [undefined]);
  // And a non-zero exit status travels back intact.
  const bad = await ctr('run', '--rm', '--runtime', 'io.containerd.vnodettrpc.v2', '--rootfs', join(dir, 'rootfs'), 'ttrpc-proxy-2', '/bin/busybox', 'sh', '-c', 'exit 7');
  assert.equal(bad.status, 7, `${bad.stdout}${bad.stderr}`);
  assert.equal((await ctr('containers', 'ls', '-q')).stdout.trim(), '', 'nothing left in containerd');
});
