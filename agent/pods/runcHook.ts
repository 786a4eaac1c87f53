// vnode-runc's step into the manager: the launcher forwards the runc commands listed in
// VNODE_RUNC_HOOKED (today only `start`) and execs whatever the answer names. Before `runc start`
// the container exists with its namespaces but runs nothing yet: the moment to bind into it what
// config.json cannot say.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from '../common/log.js';
import type { LaunchAnswer, LaunchRequest } from '../launch/launchProtocol.js';

export const RUNC_HOOKED = ',start,';

/** runc's global flags that take a value (runc 1.1). */
const VALUED = new Set(['--root', '--log', '--log-format', '--criu', '--rootless']);

export function parseRuncArgs(argv: string[]): { command: string | undefined; log: string | undefined; rest: string[] } {
  let log: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) return { command: a, log, rest: argv.slice(i + 1) };
    const [flag, inline] = a.split('=', 2) as [string, string | undefined];
    if (VALUED.has(flag)) {
      const v = inline ?? argv[++i];
      if (flag === '--log') log = v;
    }
  }
  return { command: undefined, log, rest: [] };
}

/**
 * `startCommand(pid, runcStart)` is what to exec instead of runc start: a vnode-inject that binds
 * what the container needs and then execs runc start (undefined: nothing is configured to bind;
 * it throws when binds are configured but cannot be made). `wants(id)` says whether the container
 * needs them (the pod's sandbox, our pause process, does not). Fail closed: a container that needs
 * its binds never starts without them; runc start is refused with the reason instead.
 */
export function runcHook(
  runc: string,
  wants: (id: string) => boolean,
  startCommand: (pid: number, then: string[]) => { path: string; argv: string[] } | undefined,
  log: Logger,
): (req: LaunchRequest) => Promise<LaunchAnswer> {
  return async (req) => {
    const args = req.argv.slice(1);
    const exec: LaunchAnswer = { kind: 'exec', path: runc, argv: ['runc', ...args] };
    const p = parseRuncArgs(args);
    const id = p.rest[p.rest.length - 1] ?? '';
    if (p.command !== 'start' || !wants(id)) return exec;
    const refuse = (why: string): LaunchAnswer => {
      log.error('container not started without its vNode binds', { id, why });
      return { kind: 'exit', code: 1, stderr: `vnode-runc: container ${id} not started: ${why}\n` };
    };
    // The runc shim passes --log <bundle>/log.json and created the container with
    // --pid-file <bundle>/init.pid.
    if (!p.log) return refuse('runc start without --log, so its bundle (and init.pid) is unknown');
    let pid: number;
    try {
      pid = Number(readFileSync(join(dirname(p.log), 'init.pid'), 'utf8').trim());
    } catch (e) {
      return refuse(`cannot read its init pid: ${(e as Error).message}`);
    }
    if (!Number.isInteger(pid) || pid <= 0) return refuse(`its init.pid holds no pid`);
    let cmd: { path: string; argv: string[] } | undefined;
    try {
      cmd = startCommand(pid, [runc, ...args]);
    } catch (e) {
      return refuse((e as Error).message);
    }
    if (!cmd) return exec;
    // A failed binding exits non-zero before runc start runs: the container does not start
    // without its vNode's files.
    log.debug('binding into the container before start', { pid });
    return { kind: 'exec', path: cmd.path, argv: cmd.argv };
  };
}
