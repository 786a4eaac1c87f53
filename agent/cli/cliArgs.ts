// The `vnode` command line, parsed by node:util parseArgs: one command, its options, and a
// usage error that says what was wrong (exit 2), never a guess.
import { parseArgs } from 'node:util';

export const COMMANDS = ['status', 'ls', 'inspect', 'doctor', 'health', 'version', 'help'] as const;
export type Command = (typeof COMMANDS)[number];

export interface CliOptions {
  runDir: string;
  timeoutMs: number;
  json: boolean;
  /** health: readiness (every subsystem) instead of liveness */
  ready: boolean;
  containerdConfig: string;
  containerdRoot: string;
}

export type ParsedCli = { ok: true; command: Command; ref?: string; options: CliOptions } | { ok: false; error: string };

export const USAGE = `usage: vnode COMMAND [options]
  status            the manager: version, uptime, subsystems and their health, counts
  ls                vNodes with their namespaces, id ranges and pods
  inspect REF       one vNode (name) or pod (id, or a unique prefix of a pod or container id):
                    ids, namespaces, mounts, seccomp and vnodefs counters
  doctor            host checks, each with a verdict and the fix
  health [--ready]  exit 0 when the manager is live (with --ready: every subsystem works)
  version
options:
  --json            machine-readable output (one JSON document)
  --run-dir DIR     the manager's run dir (default $VNODE_RUN_DIR or /run/vnode)
  --timeout-ms N    how long to wait for the manager (default 3000)
  --containerd-config FILE, --containerd-root DIR   for doctor (default $VNODE_CONTAINERD_CONFIG
                    or /etc/containerd/config.toml, $VNODE_CONTAINERD_ROOT or /var/lib/containerd)
`;

const ALLOWED: Record<Command, string[]> = {
  status: ['json', 'run-dir', 'timeout-ms'],
  ls: ['json', 'run-dir', 'timeout-ms'],
  inspect: ['json', 'run-dir', 'timeout-ms'],
  doctor: ['json', 'run-dir', 'timeout-ms', 'containerd-config', 'containerd-root'],
  health: ['run-dir', 'timeout-ms', 'ready'],
  version: [],
  help: [],
};

export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedCli {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        ready: { type: 'boolean' },
        'run-dir': { type: 'string' },
        'timeout-ms': { type: 'string' },
        'containerd-config': { type: 'string' },
        'containerd-root': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    });
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  const { values, positionals } = parsed;
  const first = positionals[0] ?? (values.version ? 'version' : 'help');
  if (!(COMMANDS as readonly string[]).includes(first)) return { ok: false, error: `unknown command ${JSON.stringify(first)} (one of ${COMMANDS.join(', ')})` };
  const command = values.help ? 'help' : (first as Command);
  const given = Object.keys(values).filter((k) => k !== 'help' && k !== 'version');
  const extra = given.filter((k) => !ALLOWED[command].includes(k));
  if (extra.length) return { ok: false, error: `vnode ${command} takes no --${extra.join(', --')}` };
  const args = positionals.slice(1);
  if (command === 'inspect' && args.length !== 1) return { ok: false, error: 'vnode inspect takes one vNode name, pod id or container id' };
  if (command !== 'inspect' && args.length) return { ok: false, error: `vnode ${command} takes no argument (got ${JSON.stringify(args[0])})` };
  const t = values['timeout-ms'];
  if (t !== undefined && !/^[1-9]\d*$/.test(t)) return { ok: false, error: `--timeout-ms must be a positive number of milliseconds, not ${JSON.stringify(t)}` };
  return {
    ok: true,
    command,
    ...(command === 'inspect' ? { ref: args[0]! } : {}),
    options: {
      runDir: values['run-dir'] ?? (env.VNODE_RUN_DIR || '/run/vnode'),
      timeoutMs: t ? Number(t) : 3000,
      json: !!values.json,
      ready: !!values.ready,
      containerdConfig: values['containerd-config'] ?? (env.VNODE_CONTAINERD_CONFIG || '/etc/containerd/config.toml'),
      containerdRoot: values['containerd-root'] ?? (env.VNODE_CONTAINERD_ROOT || '/var/lib/containerd'),
    },
  };
}
