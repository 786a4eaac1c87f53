// vnode-runc's start hook fails closed: a container that needs its vNode binds never starts
// without them (the runc shim's `runc start` answered with an error and the reason).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logger } from '../common/log.js';
import type { LaunchRequest } from '../launch/launchProtocol.js';
import { parseRuncArgs, runcHook } from './runcHook.js';

const RUNC = '/opt/vnode/current/bin/runc';
const req = (argv: string[]): LaunchRequest => ({ entry: 'vnode-runc', argv: ['vnode-runc', ...argv], env: {}, cwd: '/', stdin: Buffer.alloc(0) });

test('runc start of a container that wants its binds: vnode-inject, else refused with the reason', async (t) => {
  const bundle = mkdtempSync(join(tmpdir(), 'vnode-hook-'));
  t.after(() => rmSync(bundle, { recursive: true, force: true }));
  const start = ['--root', '/run/vnode/runc', '--log', join(bundle, 'log.json'), '--log-format', 'json', 'start', 'c1'];
  const inject = (pid: number, then: string[]) => ({ path: '/bin/vnode', argv: ['vnode-inject', String(pid), '/x=/proc/sys', '--', ...then] });
  const hook = (wants = true, cmd: (pid: number, then: string[]) => { path: string; argv: string[] } | undefined = inject) =>
    runcHook(RUNC, () => wants, cmd, logger('test'));

  // No init.pid yet: refused, not a plain runc start.
  let a = await hook()(req(start));
  assert.equal(a.kind, 'exit');
  assert.match(String((a as { stderr: string }).stderr), /container c1 not started: cannot read its init pid/);
  writeFileSync(join(bundle, 'init.pid'), 'garbage');
  a = await hook()(req(start));
  assert.match(String((a as { stderr: string }).stderr), /holds no pid/);

  writeFileSync(join(bundle, 'init.pid'), '4242\n');
  a = await hook()(req(start));
  assert.deepEqual(a, { kind: 'exec', path: '/bin/vnode', argv: ['vnode-inject', '4242', '/x=/proc/sys', '--', RUNC, ...start] });
  // Binds configured but impossible: refused with startCommand's reason.
  a = await hook(true, () => {
    throw new Error('no launcher to inject its /proc binds with');
  })(req(start));
  assert.deepEqual([a.kind, (a as { code: number }).code], ['exit', 1]);
  assert.match(String((a as { stderr: string }).stderr), /no launcher to inject/);
  // No --log: the bundle is unknown: refused.
  a = await hook()(req(['start', 'c1']));
  assert.match(String((a as { stderr: string }).stderr), /without --log/);
  // Nothing configured to bind: plain runc start.
  a = await hook(true, () => undefined)(req(start));
  assert.deepEqual(a, { kind: 'exec', path: RUNC, argv: ['runc', ...start] });
  // The sandbox (pause) and every other runc command: plain runc.
  assert.deepEqual(await hook(false)(req(start)), { kind: 'exec', path: RUNC, argv: ['runc', ...start] });
  const state = ['--root', '/r', 'state', 'c1'];
  assert.deepEqual(await hook()(req(state)), { kind: 'exec', path: RUNC, argv: ['runc', ...state] });
});

test("runc's global flags: valued ones skipped with their value, inline or not", () => {
  assert.deepEqual(parseRuncArgs(['--root', '/r', '--log=/b/log.json', '--debug', 'start', 'c1']), { command: 'start', log: '/b/log.json', rest: ['c1'] });
  assert.deepEqual(parseRuncArgs(['--log', '/b/log.json', '--systemd-cgroup', 'kill', 'c1', 'KILL']), { command: 'kill', log: '/b/log.json', rest: ['c1', 'KILL'] });
  assert.deepEqual(parseRuncArgs(['--root']), { command: undefined, log: undefined, rest: [] });
});
