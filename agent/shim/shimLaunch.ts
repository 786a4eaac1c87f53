// containerd-shim-vnode-v2 as the manager (and the no-manager fallback) serve it: flag parsing,
// `-v` and `-info`.
import { RUNC_PATH_ENV, type LaunchAnswer, type LaunchRequest } from '../launch/launchProtocol.js';
import { runtimeInfo } from './runtimeInfo.js';

export const VNODE_VERSION = '0.1.0';

export interface ShimArgs {
  namespace: string;
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  debug: boolean;
  version: boolean;
  info: boolean;
  action: string;
}

/** Parses the shim v2 command line (Go flag syntax: -flag value, -flag=value, --flag). */
export function parseShimArgs(argv: string[]): ShimArgs {
  const out: ShimArgs = { namespace: '', address: '', publishBinary: '', id: '', bundle: '', debug: false, version: false, info: false, action: '' };
  const valued: Record<string, keyof ShimArgs> = { namespace: 'namespace', address: 'address', 'publish-binary': 'publishBinary', id: 'id', bundle: 'bundle' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) {
      out.action = a;
      continue;
    }
    const [rawName, inline] = a.replace(/^--?/, '').split(/=(.*)/s, 2) as [string, string | undefined];
    if (rawName === 'debug') out.debug = true;
    else if (rawName === 'v') out.version = true;
    else if (rawName === 'info') out.info = true;
    else if (valued[rawName]) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`flag -${rawName} needs a value`);
      (out as unknown as Record<string, string>)[valued[rawName]] = v;
    } else throw new Error(`unknown flag ${a}`);
  }
  return out;
}

export const SHIM_VERSION_TEXT = `containerd-shim-vnode-v2:\n  Version: ${VNODE_VERSION}\n  Runtime: io.containerd.vnode.v2\n`;

/**
 * What the manager answers for containerd-shim-vnode-v2: `-v` and `-info`. `start` and `delete`
 * never come here: the launcher runs the stock runc shim for them (addon/launcher/runc.c
 * shim_exec), so containerd's task connections go to each pod's runc shim, not to the manager.
 */
export function shimLaunch(): (req: LaunchRequest) => Promise<LaunchAnswer> {
  return async (req) => {
    let args: ShimArgs;
    try {
      args = parseShimArgs(req.argv.slice(1));
    } catch (e) {
      return { kind: 'exit', code: 2, stderr: `containerd-shim-vnode-v2: ${(e as Error).message}\n` };
    }
    if (args.version) return { kind: 'exit', code: 0, stdout: SHIM_VERSION_TEXT };
    // The runc the launcher runs (it says so; addon/launcher/runc.c runc_path).
    if (args.info) return { kind: 'exit', code: 0, stdout: runtimeInfo(VNODE_VERSION, req.stdin, req.env[RUNC_PATH_ENV] ?? '') };
    if (args.action === 'start' || args.action === 'delete')
      return { kind: 'exit', code: 1, stderr: `containerd-shim-vnode-v2 ${args.action}: run by the launcher as the stock runc shim; this launcher (${req.argv[0]}) is older than the manager\n` };
    return { kind: 'exit', code: 2, stderr: `containerd-shim-vnode-v2: unknown action ${JSON.stringify(args.action)}\n` };
  };
}
