// The JS side of the multi-call program. The C launcher (addon/launcher/, main in vnode.c) handles the
// per-pod fast paths itself and starts Node only for the long-running manager, the CLI, and the
// fallbacks of entries whose manager is unreachable. It names the entry in VNODE_ENTRY.
import { basename } from 'node:path';

type EntryMain = (argv: string[]) => Promise<number>;

const entries: Record<string, () => Promise<EntryMain>> = {
  'vnode-manager': async () => (await import('./manager/managerMain.js')).managerMain,
  'containerd-shim-vnode-v2': async () => (await import('./shim/shimEntry.js')).shimMain,
  'vnode-cni': async () => (await import('./cni/cniEntry.js')).cniMain,
  vnode: async () => (await import('./cli/cliMain.js')).cliMain,
};

export async function main(argv: string[]): Promise<number> {
  const name = process.env.VNODE_ENTRY ?? basename(argv[1] ?? 'vnode').replace(/\.js$/, '');
  const load = entries[name] ?? entries.vnode!;
  const run = await load();
  return run(argv.slice(2));
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${process.env.VNODE_ENTRY ?? 'vnode'}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
