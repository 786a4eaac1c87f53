// vnode-cni when no manager answers the launcher (the launcher then runs this in Node). DEL must
// still succeed, or containerd can never remove the pod: the pod's netns bind mount is removed
// here and the next manager reconciles its records. ADD and CHECK need the manager.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_ID, CNI_SUPPORTED_VERSIONS, cniError, cniVersionResult } from './cniResult.js';

/** Prints a CNI error object and returns the exit code. */
function fail(code: number, msg: string, cniVersion: string): number {
  process.stdout.write(cniError(code, msg, '', cniVersion).stdout);
  return 1;
}

export async function cniMain(_argv: string[]): Promise<number> {
  const cmd = process.env.CNI_COMMAND;
  let cniVersion = '1.0.0';
  try {
    const conf = JSON.parse(readFileSync(0, 'utf8') || '{}') as { cniVersion?: unknown } | null;
    if (typeof conf?.cniVersion === 'string' && CNI_SUPPORTED_VERSIONS.includes(conf.cniVersion)) cniVersion = conf.cniVersion;
  } catch {
    // VERSION has no config; others are answered below
  }
  if (cmd === 'VERSION') {
    process.stdout.write(cniVersionResult());
    return 0;
  }
  if (cmd === 'DEL') {
    // DEL succeeds for any input: an id we could not have used names nothing of ours.
    const id = process.env.CNI_CONTAINERID ?? '';
    if (!CNI_ID.test(id)) return 0;
    const vnodes = join(process.env.VNODE_RUN_DIR || '/run/vnode', 'vnodes');
    for (const v of existsSync(vnodes) ? readdirSync(vnodes) : []) {
      const path = join(vnodes, v, 'netns', id);
      if (!existsSync(path)) continue;
      spawnSync('umount', ['-l', path]);
      rmSync(path, { force: true });
    }
    return 0;
  }
  return fail(11, `vnode-cni ${cmd ?? ''}: vnode-manager is not running`, cniVersion);
}
