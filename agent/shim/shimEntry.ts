// containerd-shim-vnode-v2 when no manager answers the launcher: `-v` and `-info` (start and
// delete never get here: the launcher runs the stock runc shim for them).
import { RUNC_PATH_ENV } from '../launch/launchProtocol.js';
import { parseShimArgs, SHIM_VERSION_TEXT, VNODE_VERSION } from './shimLaunch.js';

export async function shimMain(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseShimArgs(argv);
  } catch (e) {
    process.stderr.write(`containerd-shim-vnode-v2: ${(e as Error).message}\n`);
    return 2;
  }
  if (args.version) {
    process.stdout.write(SHIM_VERSION_TEXT);
    return 0;
  }
  if (args.info) {
    const { runtimeInfo } = await import('./runtimeInfo.js');
    const { readFileSync } = await import('node:fs');
    // The runc the launcher runs (it says so before it execs this entry).
    process.stdout.write(runtimeInfo(VNODE_VERSION, readFileSync(0), process.env[RUNC_PATH_ENV] ?? ''));
    return 0;
  }
  process.stderr.write(`containerd-shim-vnode-v2 ${args.action}: start and delete are run by the launcher (the stock runc shim); unknown here\n`);
  return 1;
}
