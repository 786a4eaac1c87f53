import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ForeignFileError, Installer, InstallRolledBack, SimulatedCrash, type StepPhase } from './Installer.js';
import { STEP_NAMES, type StepName } from './InstallJournal.js';
import { CONFIG, fakeOptions, makeFakeHost, RecordingNode, snapshotTree } from './testing/fakeHost.js';

// The fake containerd's own state file is not part of the host under test.
const SKIP = ['/run'];

function setup(t: { after: (fn: () => void) => void }) {
  const root = mkdtempSync(join(tmpdir(), 'vnode-inst-host-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  makeFakeHost(root);
  return { root, host: join(root, 'host'), original: snapshotTree(join(root, 'host'), SKIP) };
}

test('install, install again, uninstall: one restart each way, nothing changed the second time, host restored byte for byte', async (t) => {
  const { root, host, original } = setup(t);
  const node = new RecordingNode();
  const { opts, containerd } = fakeOptions(root, { node, taintWhileInstalling: true });
  const r1 = await new Installer(opts).install();
  assert.deepEqual(r1.changed, ['tree', 'cniBin', 'shimLink', 'cliLink', 'cniDir', 'config', 'restart', 'label']);
  assert.equal(containerd.restarts, 1);
  assert.deepEqual(await containerd.runtimeHandlers(), ['runc', 'vnode']);
  assert.equal(node.ready, true);
  assert.equal(node.tainted, false, 'the installing taint is lifted at the end');
  assert.equal(readFileSync(opts.host.path('/opt/cni/bin/vnode-cni'), 'utf8'), '#!/bin/sh\nexit 0\n', 'the CNI link reaches the installed binary (through the host root)');
  // containerd 1.6 finds the sandbox's shim by name on its PATH: a link made in a dir the host lacked.
  assert.equal(readlinkSync(join(host, 'usr/local/bin/containerd-shim-vnode-v2')), '/opt/vnode/current/bin/containerd-shim-vnode-v2');
  assert.equal(readFileSync(opts.host.path('/usr/local/bin/containerd-shim-vnode-v2'), 'utf8'), '#!/bin/sh\nexit 0\n');
  // The operator's CLI beside it, on the host's PATH.
  assert.equal(readlinkSync(join(host, 'usr/local/bin/vnode')), '/opt/vnode/current/bin/vnode');
  assert.equal(r1.cliLink, '/usr/local/bin/vnode');
  const chained = JSON.parse(readFileSync(join(host, 'etc/cni/vnode.d/10-vnode.conflist'), 'utf8'));
  assert.deepEqual(chained.plugins.map((p: { type: string }) => p.type), ['calico', 'portmap', 'vnode-cni']);
  assert.deepEqual(chained.plugins[2].capabilities, { 'io.kubernetes.cri.pod-annotations': true }, 'vnode-cni gets the pod annotations (the tenant)');
  assert.match(readFileSync(join(host, CONFIG), 'utf8'), /runtime_path = "\/opt\/vnode\/current\/bin\/containerd-shim-vnode-v2"/);
  const installed = snapshotTree(host, [...SKIP, '/var/lib/vnode-installer']);

  const r2 = await new Installer(opts).install();
  assert.deepEqual(r2.changed, [], 'second install changes nothing');
  assert.equal(r2.restarted, false);
  assert.equal(containerd.restarts, 1);
  assert.deepEqual(snapshotTree(host, [...SKIP, '/var/lib/vnode-installer']), installed);

  const u = await new Installer(opts).uninstall();
  assert.deepEqual(u.changed, ['label', 'config', 'cniDir', 'cliLink', 'shimLink', 'cniBin', 'tree']);
  assert.equal(containerd.restarts, 2);
  assert.deepEqual(await containerd.runtimeHandlers(), ['runc']);
  assert.equal(node.ready, false);
  assert.equal(node.evictions, 1, 'vNode pods are asked to leave before the handler goes');
  assert.deepEqual(snapshotTree(host, SKIP), original, 'host byte-identical, state dir gone too');
});

const points: [StepName, StepPhase][] = STEP_NAMES.flatMap((s) => (['before', 'middle', 'after'] as StepPhase[]).map((p) => [s, p] as [StepName, StepPhase]));

test('a crash at any step of install: the next install finishes (same host as a clean install), the next uninstall restores', async (t) => {
  const { root, host, original } = setup(t);
  // Reference: a clean install.
  const ref = fakeOptions(root);
  await new Installer(ref.opts).install();
  const clean = snapshotTree(host, [...SKIP, '/var/lib/vnode-installer']);
  await new Installer(ref.opts).uninstall();
  let crashes = 0;
  for (const [step, phase] of points) {
    const { opts, containerd } = fakeOptions(root, {
      onStep: (n, p, op) => {
        if (n === step && p === phase && op === 'install') throw new SimulatedCrash(`${n}:${p}`);
      },
    });
    const crashed = await new Installer(opts).install().then(() => false, (e: unknown) => e instanceof SimulatedCrash);
    crashes += crashed ? 1 : 0;
    const { opts: again } = fakeOptions(root);
    await new Installer(again).install();
    assert.deepEqual(snapshotTree(host, [...SKIP, '/var/lib/vnode-installer']), clean, `finished after a crash at ${step}:${phase}`);
    assert.deepEqual(await containerd.runtimeHandlers(), ['runc', 'vnode'], `containerd has the handler after ${step}:${phase}`);
    // And the uninstall after a crashed install restores the host too.
    await new Installer(opts).install().catch(() => undefined);
    await new Installer(again).uninstall();
    assert.deepEqual(snapshotTree(host, SKIP), original, `restored after a crash at ${step}:${phase}`);
    assert.deepEqual(await containerd.runtimeHandlers(), ['runc']);
  }
  assert.ok(crashes >= 12, `crash points hit: ${crashes}`);
});

test('a crash at any step of uninstall: the next uninstall completes and restores the host', async (t) => {
  const { root, host, original } = setup(t);
  for (const [step, phase] of points) {
    const { opts: plain, containerd } = fakeOptions(root);
    await new Installer(plain).install();
    const { opts } = fakeOptions(root, {
      onStep: (n, p, op) => {
        if (n === step && p === phase && op === 'uninstall') throw new SimulatedCrash(`${n}:${p}`);
      },
    });
    await new Installer(opts).uninstall().catch((e: unknown) => assert.ok(e instanceof SimulatedCrash));
    await new Installer(plain).uninstall();
    assert.deepEqual(snapshotTree(host, SKIP), original, `restored after an uninstall crash at ${step}:${phase}`);
    assert.deepEqual(await containerd.runtimeHandlers(), ['runc'], `handler gone after ${step}:${phase}`);
  }
});

test('containerd that does not come back with the handler: the install rolls itself back', async (t) => {
  const { root, host, original } = setup(t);
  const { opts, containerd } = fakeOptions(root, { readinessTimeoutMs: 100 });
  containerd.failLoading = true;
  await assert.rejects(new Installer(opts).install(), (e: unknown) => e instanceof InstallRolledBack && /handler "vnode" present within 100 ms/.test(e.message));
  assert.equal(containerd.restarts, 2, 'one restart in, one back out');
  assert.deepEqual(snapshotTree(host, SKIP), original);
});

test('uninstall refuses to strand vNode pods: it waits for them and stays installed if they do not go', async (t) => {
  const { root, host } = setup(t);
  const { opts, containerd } = fakeOptions(root, { drainTimeoutMs: 200 });
  await new Installer(opts).install();
  containerd.sandboxes = 2;
  await assert.rejects(new Installer(opts).uninstall(), /2 pod sandbox\(es\) of handler "vnode" are still on this node/);
  assert.match(readFileSync(join(host, CONFIG), 'utf8'), /runtimes\.vnode\]/, 'config untouched, so the pods keep their manager');
  assert.equal(containerd.restarts, 1);
  containerd.sandboxes = 0;
  await new Installer(opts).uninstall();
});

test('kill -9 of a real installer process at the config write: the next run finishes, the next uninstall restores', async (t) => {
  const { root, host, original } = setup(t);
  const child = fileURLToPath(new URL('./testing/installerChild.js', import.meta.url));
  for (const at of ['config:middle', 'restart:middle', 'tree:after']) {
    const p = spawn(process.execPath, [child, root, 'install', at], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      p.stdout.on('data', (b: Buffer) => {
        if (b.toString().includes('PAUSED')) resolve();
      });
      p.once('exit', (c) => reject(new Error(`child exited (${c}) before ${at}`)));
    });
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
    const journal = JSON.parse(readFileSync(join(host, 'var/lib/vnode-installer/journal.json'), 'utf8'));
    assert.equal(journal.op.kind, 'install', 'the killed run left its op in the journal');
    const { opts, containerd } = fakeOptions(root);
    const r = await new Installer(opts).install();
    assert.deepEqual(await containerd.runtimeHandlers(), ['runc', 'vnode'], `finished after kill at ${at}`);
    if (at === 'config:middle') assert.equal(r.restarted, true, 'the restart the killed run owed is done');
    await new Installer(opts).uninstall();
    assert.deepEqual(snapshotTree(host, SKIP), original, `restored after kill at ${at}`);
  }
});

test('a containerd-shim-vnode-v2 or vnode-cni that is not vNode\'s: refused before anything changes, and never removed', async (t) => {
  const { root, host } = setup(t);
  mkdirSync(join(host, 'usr/local/bin'), { recursive: true });
  for (const [path, make, found] of [
    ['usr/local/bin/containerd-shim-vnode-v2', (p: string) => writeFileSync(p, 'someone else\'s shim'), /not a symbolic link/],
    ['usr/local/bin/containerd-shim-vnode-v2', (p: string) => symlinkSync('/srv/other/shim', p), /a link to \/srv\/other\/shim/],
    ['opt/cni/bin/vnode-cni', (p: string) => symlinkSync('/srv/other/vnode-cni', p), /a link to \/srv\/other\/vnode-cni/],
  ] as const) {
    make(join(host, path));
    const before = snapshotTree(host, SKIP);
    const { opts, containerd } = fakeOptions(root);
    await assert.rejects(new Installer(opts).install(), (e: unknown) => e instanceof ForeignFileError && e.path === `/${path}` && found.test(e.message) && /nothing was changed/.test(e.message));
    assert.deepEqual(snapshotTree(host, SKIP), before, `host untouched with a foreign ${path}`);
    assert.equal(containerd.restarts, 0);
    rmSync(join(host, path));
  }
  // A link of an earlier vNode version (into the install dir) is vNode's: replaced, then removed.
  symlinkSync('/opt/vnode/versions/old/bin/containerd-shim-vnode-v2', join(host, 'usr/local/bin/containerd-shim-vnode-v2'));
  const { opts } = fakeOptions(root);
  await new Installer(opts).install();
  assert.equal(readlinkSync(join(host, 'usr/local/bin/containerd-shim-vnode-v2')), '/opt/vnode/current/bin/containerd-shim-vnode-v2');
  await new Installer(opts).uninstall();
  assert.deepEqual(readdirSync(join(host, 'usr/local/bin')), [], 'the link is gone; the dir the host had stays');
});

test('a `vnode` in the link dir that is not vNode\'s: the install goes on without the CLI link, and uninstall leaves that file alone', async (t) => {
  const { root, host } = setup(t);
  mkdirSync(join(host, 'usr/local/bin'), { recursive: true });
  writeFileSync(join(host, 'usr/local/bin/vnode'), 'another program called vnode');
  const withForeign = snapshotTree(host, SKIP);
  const { opts, containerd } = fakeOptions(root);
  const r = await new Installer(opts).install();
  assert.equal(r.cliLink, null, 'the report says the CLI was not linked');
  assert.ok(!r.changed.includes('cliLink'));
  assert.deepEqual(await containerd.runtimeHandlers(), ['runc', 'vnode'], 'the runtime is installed all the same');
  assert.equal(readFileSync(join(host, 'usr/local/bin/vnode'), 'utf8'), 'another program called vnode');
  await new Installer(opts).uninstall();
  assert.deepEqual(snapshotTree(host, SKIP), withForeign, 'the foreign vnode stays; everything of ours went');
  // Once the name is free, the next install links the CLI and the report says so.
  rmSync(join(host, 'usr/local/bin/vnode'));
  const r2 = await new Installer(opts).install();
  assert.equal(r2.cliLink, '/usr/local/bin/vnode');
  assert.equal(readlinkSync(join(host, 'usr/local/bin/vnode')), '/opt/vnode/current/bin/vnode');
  await new Installer(opts).uninstall();
  assert.deepEqual(readdirSync(join(host, 'usr/local/bin')), []);
});
