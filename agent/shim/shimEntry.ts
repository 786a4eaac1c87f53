// containerd-shim-vnode-v2 when no manager answers the launcher: the contracts containerd
// expects even then (see docs/architecture.md).
export async function shimMain(argv: string[]): Promise<number> {
  const action = argv[argv.length - 1];
  if (argv.includes('-v')) {
    process.stdout.write('containerd-shim-vnode-v2 (vNode runtime)\n');
    return 0;
  }
  process.stderr.write(`containerd-shim-vnode-v2 ${action ?? ''}: vnode-manager is not running\n`);
  return 1;
}
