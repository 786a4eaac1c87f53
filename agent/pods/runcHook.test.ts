// vnode-runc's hooks, the whole life of a container as the vNode layer sees it: create records it
// and prepares it (refused with the reason in runc's log and stderr, nothing left), start waits
// for the sandbox's network and fails closed without a container's binds, delete lets it go (the
// pod with its last container), and reconcile finds what was deleted while no manager answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logger } from '../common/log.js';
import { RUNC_COMMAND_AT, RUNC_PATH_ENV, type LaunchRequest } from '../launch/launchProtocol.js';
import { ContainerRegistry, type ContainerRecord } from './ContainerRegistry.js';
import { forcedDeleteOfNothing, parseCreateArgs, parseRuncArgs, RuncHook, type ContainerLife, type CreateContext } from './runcHook.js';

const RUNC = '/opt/vnode/current/bin/runc';
/** What vnode-runc forwards: the command line, and where its runc command is (the launcher's
 * parse; these tests' command lines use no valued global flag but --root, --log and --log-format). */
function req(argv: string[], cwd = '/'): LaunchRequest {
  let at = -1;
  for (let i = 0; i < argv.length && at < 0; i++) {
    if (['--root', '--log', '--log-format'].includes(argv[i]!)) i++;
    else if (!argv[i]!.startsWith('-')) at = i;
  }
  return { entry: 'vnode-runc', argv: ['vnode-runc', ...argv], env: { [RUNC_COMMAND_AT]: String(at < 0 ? -1 : at + 1), [RUNC_PATH_ENV]: RUNC }, cwd, stdin: Buffer.alloc(0) };
}

class Life implements ContainerLife {
  calls: string[] = [];
  failCreate: string | undefined;
  failNetwork: string | undefined;
  failBinds: string | undefined;
  createEnv: Record<string, string> | undefined;
  async prepareCreate(ctx: CreateContext): Promise<{ env?: Record<string, string> } | void> {
    this.calls.push(`create ${ctx.id} pod=${ctx.podId} sandbox=${ctx.sandbox} ns=${ctx.namespace}`);
    if (this.failCreate) throw new Error(this.failCreate);
    return this.createEnv ? { env: this.createEnv } : undefined;
  }
  async beforeSandboxStart(podId: string): Promise<void> {
    this.calls.push(`network ${podId}`);
    if (this.failNetwork) throw new Error(this.failNetwork);
  }
  failStart: string | undefined;
  async beforeStart(rec: ContainerRecord, pid: number): Promise<void> {
    this.calls.push(`beforeStart ${rec.id} pid=${pid}`);
    if (this.failStart) throw new Error(this.failStart);
  }
  async bindBeforeStart(id: string, pid: number): Promise<void> {
    this.calls.push(`binds ${id} pid=${pid}`);
    if (this.failBinds) throw new Error(this.failBinds);
  }
  async taskGone(id: string, podId: string): Promise<void> {
    this.calls.push(`gone ${id} pod=${podId}`);
  }
  async podGone(podId: string): Promise<void> {
    this.calls.push(`podGone ${podId}`);
  }
  adoptSandbox(r: ContainerRecord): void {
    this.calls.push(`adopt ${r.podId}`);
  }
}

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-hook-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const life = new Life();
  const registry = new ContainerRegistry(join(dir, 'state'), logger('test'));
  const hook = new RuncHook(life, registry, logger('test'));
  const bundle = (ns: string, id: string, annotations: Record<string, string>) => {
    const b = join(dir, 'task', ns, id);
    mkdirSync(b, { recursive: true });
    copyFileSync(new URL('../../../agent/spec/fixtures/container-plain.json', import.meta.url), join(b, 'config.json'));
    const spec = JSON.parse(readFileSync(join(b, 'config.json'), 'utf8')) as { annotations: Record<string, string> };
    spec.annotations = annotations;
    writeFileSync(join(b, 'config.json'), JSON.stringify(spec));
    return b;
  };
  const root = join(dir, 'runc-root');
  // The runc shim's command lines (containerd-shim-runc-v2 1.6 through go-runc).
  const create = (b: string, id: string) => ['--root', root, '--log', join(b, 'log.json'), '--log-format', 'json', 'create', '--bundle', b, '--pid-file', join(b, 'init.pid'), id];
  const start = (b: string, id: string) => ['--root', root, '--log', join(b, 'log.json'), '--log-format', 'json', 'start', id];
  const del = (b: string, id: string, force = false) => ['--root', root, '--log', join(b, 'log.json'), '--log-format', 'json', 'delete', ...(force ? ['--force'] : []), id];
  return { dir, life, registry, hook, bundle, root, create, start, del };
}

test('create: recorded with its pod, prepared, then runc create; a refusal says why and leaves nothing', async (t) => {
  const s = setup(t);
  const sb = s.bundle('k8s.io', 'sb1', { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-id': 'sb1' });
  assert.deepEqual(await s.hook.handle(req(s.create(sb, 'sb1'))), { kind: 'exec', path: RUNC, argv: ['runc', ...s.create(sb, 'sb1')] });
  const c = s.bundle('k8s.io', 'c1', { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': 'sb1' });
  s.life.createEnv = { _VNODE_PIDNS: '/proc/42/ns/pid' };
  assert.deepEqual(await s.hook.handle(req(s.create(c, 'c1'))), { kind: 'exec', path: RUNC, argv: ['runc', ...s.create(c, 'c1')], env: { _VNODE_PIDNS: '/proc/42/ns/pid' } }, "the vNode layer's environment goes to runc create");
  s.life.createEnv = undefined;
  // A bare client's sandbox: no annotations at all.
  const bare = s.bundle('default', 'bare1', {});
  await s.hook.handle(req(['create', '--bundle', bare, 'bare1']));
  assert.deepEqual(s.life.calls, ['create sb1 pod=sb1 sandbox=true ns=k8s.io', 'create c1 pod=sb1 sandbox=false ns=k8s.io', 'create bare1 pod=bare1 sandbox=true ns=default']);
  assert.deepEqual(s.registry.tasksOfPod('sb1').map((r) => [r.id, r.sandbox, r.root]), [['sb1', true, s.root], ['c1', false, s.root]]);
  assert.equal(s.registry.task('bare1')?.root, '/run/runc', "runc's default root when none is passed");
  // The records survive the manager.
  assert.equal(new ContainerRegistry(join(s.dir, 'state'), logger('test')).taskCount, 3);

  s.life.calls.length = 0;
  s.life.failCreate = 'device request "/dev/kmsg" refused';
  const c2 = s.bundle('k8s.io', 'c2', { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': 'sb1' });
  const a = await s.hook.handle(req(s.create(c2, 'c2')));
  assert.deepEqual([a.kind, (a as { code: number }).code], ['exit', 1]);
  assert.match(String((a as { stderr: string }).stderr), /container c2 not created: device request/);
  const logged = JSON.parse(readFileSync(join(c2, 'log.json'), 'utf8').trim()) as { level: string; msg: string };
  assert.equal(logged.level, 'error', 'the runc shim returns the last error line of runc\'s log to containerd');
  assert.match(logged.msg, /not created: device request/);
  assert.deepEqual(s.life.calls, ['create c2 pod=sb1 sandbox=false ns=k8s.io', 'gone c2 pod=sb1']);
  assert.equal(s.registry.task('c2'), undefined);

  // Input containerd never sends: refused before anything is recorded or prepared.
  s.life.calls.length = 0;
  for (const argv of [['create', '--bundle', sb, '../x'], ['create', '--bundle', sb], ['create', '--bundle', join(s.dir, 'nowhere'), 'c3']]) {
    const r = await s.hook.handle(req(argv));
    assert.equal(r.kind, 'exit', argv.join(' '));
    assert.match(String((r as { stderr: string }).stderr), /cannot create/);
  }
  const bad = s.bundle('k8s.io', 'c4', { 'io.kubernetes.cri.sandbox-id': '../../etc' });
  assert.match(String(((await s.hook.handle(req(['create', '-b', bad, 'c4']))) as { stderr: string }).stderr), /sandbox id .* is not one containerd makes/);
  assert.deepEqual(s.life.calls, []);
  assert.equal(s.registry.taskCount, 3);
});

test('start: the sandbox waits for its network; a container gets its binds or does not start', async (t) => {
  const s = setup(t);
  const sb = s.bundle('k8s.io', 'sb1', { 'io.kubernetes.cri.container-type': 'sandbox' });
  const c = s.bundle('k8s.io', 'c1', { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': 'sb1' });
  await s.hook.handle(req(s.create(sb, 'sb1')));
  await s.hook.handle(req(s.create(c, 'c1')));
  assert.deepEqual(await s.hook.handle(req(s.start(sb, 'sb1'))), { kind: 'exec', path: RUNC, argv: ['runc', ...s.start(sb, 'sb1')] });
  s.life.failNetwork = 'bridge: no IP left';
  const refused = await s.hook.handle(req(s.start(sb, 'sb1')));
  assert.match(String((refused as { stderr: string }).stderr), /pod sb1 not started: bridge: no IP left/);
  assert.deepEqual(s.life.calls.filter((x) => x.startsWith('network')), ['network sb1', 'network sb1']);

  // No init.pid yet: refused, not a plain runc start.
  let a = await s.hook.handle(req(s.start(c, 'c1')));
  assert.match(String((a as { stderr: string }).stderr), /container c1 not started: cannot read its init pid/);
  writeFileSync(join(c, 'init.pid'), 'garbage');
  a = await s.hook.handle(req(s.start(c, 'c1')));
  assert.match(String((a as { stderr: string }).stderr), /holds no pid/);
  writeFileSync(join(c, 'init.pid'), '4242\n');
  a = await s.hook.handle(req(s.start(c, 'c1')));
  assert.deepEqual(a, { kind: 'exec', path: RUNC, argv: ['runc', ...s.start(c, 'c1')] });
  assert.deepEqual(s.life.calls.filter((x) => x.startsWith('beforeStart') || x.startsWith('binds')), ['beforeStart c1 pid=4242', 'binds c1 pid=4242'], 'the host-side steps and the binds ran with the init pid, then plain runc start');
  assert.ok(!s.life.calls.some((x) => x.startsWith('binds sb1')), 'the sandbox gets none');
  s.life.failStart = 'cannot delegate its cgroup';
  a = await s.hook.handle(req(s.start(c, 'c1')));
  assert.match(String((a as { stderr: string }).stderr), /container c1 not started: cannot delegate its cgroup/, 'a failed host-side step refuses the start');
  s.life.failStart = undefined;
  s.life.failBinds = 'cannot bind vnodefs\' /proc/sys entries into container c1 (pid 4242): resolve target: EACCES';
  a = await s.hook.handle(req(s.start(c, 'c1')));
  assert.match(String((a as { stderr: string }).stderr), /container c1 not started: cannot bind vnodefs' \/proc\/sys entries/, 'fail closed: no start without its binds');
  // A start of a container whose create never went through the hook: refused (fail closed).
  assert.match(String((await s.hook.handle(req(['start', 'other'])) as { stderr: string }).stderr), /container other not started: vnode-runc has no record of creating it/);
  // Every other runc command: plain runc.
  const state = ['--root', '/r', 'state', 'c1'];
  assert.deepEqual(await s.hook.handle(req(state)), { kind: 'exec', path: RUNC, argv: ['runc', ...state] });
});

test('delete: the container goes, the pod with its last one; a second delete (containerd\'s shim delete) is a no-op', async (t) => {
  const s = setup(t);
  const sb = s.bundle('k8s.io', 'sb1', { 'io.kubernetes.cri.container-type': 'sandbox' });
  const c = s.bundle('k8s.io', 'c1', { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': 'sb1' });
  await s.hook.handle(req(s.create(sb, 'sb1')));
  await s.hook.handle(req(s.create(c, 'c1')));
  s.life.calls.length = 0;
  assert.deepEqual(await s.hook.handle(req(s.del(c, 'c1'))), { kind: 'exec', path: RUNC, argv: ['runc', ...s.del(c, 'c1')] });
  assert.equal(s.hook.podHasContainers('sb1'), true);
  // runc still has the sandbox (its state dir): the forced delete goes to runc.
  mkdirSync(join(s.root, 'sb1'), { recursive: true });
  assert.deepEqual(await s.hook.handle(req(s.del(sb, 'sb1', true))), { kind: 'exec', path: RUNC, argv: ['runc', ...s.del(sb, 'sb1', true)] });
  rmSync(join(s.root, 'sb1'), { recursive: true });
  // Gone from runc too: runc delete --force would do nothing and exit 0, so the answer is that.
  assert.deepEqual(await s.hook.handle(req(s.del(sb, 'sb1', true))), { kind: 'exit', code: 0 });
  assert.deepEqual(s.life.calls, ['gone c1 pod=sb1', 'gone sb1 pod=sb1', 'podGone sb1']);
  assert.equal(s.hook.podHasContainers('sb1'), false);
  // Only the forced form: a plain delete of a missing container is runc's error to give.
  assert.deepEqual(await s.hook.handle(req(s.del(c, 'c1'))), { kind: 'exec', path: RUNC, argv: ['runc', ...s.del(c, 'c1')] });
});

test('forcedDeleteOfNothing: only --force (or -f), an absolute root, an id containerd makes and no directory for it', (t) => {
  const s = setup(t);
  const id = 'a'.repeat(64);
  const at = (argv: string[]) => parseRuncArgs(argv, argv.indexOf('delete'));
  const gone = (argv: string[]) => forcedDeleteOfNothing(at(argv), argv[argv.length - 1]!);
  assert.equal(gone(['--root', s.root, 'delete', '--force', id]), true);
  assert.equal(gone(['--root', s.root, 'delete', '-f', id]), true);
  assert.equal(gone(['--root', s.root, 'delete', id]), false, 'not forced');
  assert.equal(gone(['--root', 'rel/root', 'delete', '--force', id]), false, 'relative root');
  assert.equal(gone(['--root', s.root, 'delete', '--force', '../etc']), false, 'an id containerd does not make');
  mkdirSync(join(s.root, id), { recursive: true });
  assert.equal(gone(['--root', s.root, 'delete', '--force', id]), false, 'runc has it');
});

test('reconcile: running sandboxes adopted; containers with no runc state (deleted while no manager answered) go once old enough', async (t) => {
  const s = setup(t);
  const at = Date.now() - 60_000;
  const rec = (id: string, podId: string, sandbox: boolean, createdAt = at): ContainerRecord => ({ id, podId, sandbox, bundle: join(s.dir, id), root: s.root, createdAt });
  s.registry.add(rec('sb1', 'sb1', true));
  s.registry.add(rec('c1', 'sb1', false));
  s.registry.add(rec('sb2', 'sb2', true));
  s.registry.add(rec('sb3', 'sb3', true, Date.now()));
  for (const id of ['sb1', 'c1']) {
    mkdirSync(join(s.root, id), { recursive: true });
    writeFileSync(join(s.root, id, 'state.json'), '{}');
  }
  assert.deepEqual(await s.hook.reconcile({ adopt: true }), { gone: 1, adopted: 1 });
  assert.deepEqual(s.life.calls, ['adopt sb1', 'gone sb2 pod=sb2', 'podGone sb2']);
  assert.ok(s.registry.task('sb3'), 'a container still in runc create is left be');
});

test('a forwarded call without the runc it runs is refused, nothing done; the previous release\'s launcher (no command position) is still served', async (t) => {
  const s = setup(t);
  const b = await s.hook.handle({ ...req(['create', 'c9']), env: { [RUNC_COMMAND_AT]: '1' } });
  assert.equal(b.kind, 'exit');
  assert.match(String((b as { stderr: string }).stderr), /did not say which runc it runs/);
  const bad = await s.hook.handle({ ...req(['create', 'c9']), env: { [RUNC_COMMAND_AT]: '7', [RUNC_PATH_ENV]: RUNC } });
  assert.match(String((bad as { stderr: string }).stderr), /did not say where the runc command is/);
  assert.deepEqual(s.life.calls, []);
  // The runc shim's own command line, from a launcher that does not say where its command is.
  const del = ['--root', '/r', '--log', '/b/log.json', '--log-format', 'json', 'delete', 'gone1'];
  assert.deepEqual(await s.hook.handle({ ...req(del), env: { [RUNC_PATH_ENV]: RUNC } }), { kind: 'exec', path: RUNC, argv: ['runc', ...del] });
});

test("runc's command lines: split where the launcher found the command; create's bundle and id", () => {
  assert.deepEqual(parseRuncArgs(['--root', '/r', '--log=/b/log.json', '--debug', 'start', 'c1'], 4), { command: 'start', log: '/b/log.json', root: '/r', rest: ['c1'] });
  assert.deepEqual(parseRuncArgs(['--log', '/b/log.json', '--systemd-cgroup', 'kill', 'c1', 'KILL'], 3), { command: 'kill', log: '/b/log.json', root: undefined, rest: ['c1', 'KILL'] });
  assert.deepEqual(parseRuncArgs(['--root'], -1), { command: undefined, log: undefined, root: undefined, rest: [] });
  assert.deepEqual(parseCreateArgs(['--bundle', '/b', '--pid-file', '/b/init.pid', '--console-socket', '/s', 'c1'], '/'), { bundle: '/b', id: 'c1' });
  assert.deepEqual(parseCreateArgs(['--pid-file=/p', '--no-pivot', 'c1'], '/cwd'), { bundle: '/cwd', id: 'c1' });
  assert.deepEqual(parseCreateArgs(['-b', 'rel', 'c1'], '/cwd'), { bundle: '/cwd/rel', id: 'c1' });
  assert.throws(() => parseCreateArgs(['--bundle', '/b'], '/'), /without a container id/);
});
