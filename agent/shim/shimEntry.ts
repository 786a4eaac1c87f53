// containerd-shim-vnode-v2 when no manager answers the launcher: `-v` and an orphan `delete`
// still work (containerd must be able to clean up after a manager that is gone); `start` cannot.
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
    const { TREE_BIN } = await import('../launch/treePaths.js');
    process.stdout.write(runtimeInfo(VNODE_VERSION, readFileSync(0), `${TREE_BIN}/runc`));
    return 0;
  }
  if (args.action === 'delete') {
    const { standaloneDelete } = await import('./ShimBinaryActions.js');
    const r = standaloneDelete(args, process.cwd());
    if (r.stderr) process.stderr.write(`${r.stderr}\n`);
    process.stdout.write(r.stdout);
    return 0;
  }
  process.stderr.write(`containerd-shim-vnode-v2 ${args.action}: vnode-manager is not running\n`);
  return 1;
}
