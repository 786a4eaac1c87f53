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
 * what the container needs and then execs runc start (undefined: nothing to bind). `wants(id)`
 * says whether the container needs any (the pod's sandbox, our pause process, does not).
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
    if (p.command !== 'start' || !p.log || !wants(p.rest[p.rest.length - 1] ?? '')) return exec;
    // The runc shim passes --log <bundle>/log.json and created the container with
    // --pid-file <bundle>/init.pid.
    let pid = 0;
    try {
      pid = Number(readFileSync(join(dirname(p.log), 'init.pid'), 'utf8').trim());
    } catch {
      return exec;
    }
    const cmd = startCommand(pid, [runc, ...args]);
    if (!cmd) return exec;
    // A failed binding exits non-zero before runc start runs: the container does not start
    // without its vNode's files.
    log.debug('binding into the container before start', { pid });
    return { kind: 'exec', path: cmd.path, argv: cmd.argv };
  };
}
