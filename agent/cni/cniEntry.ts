// vnode-cni when no manager answers the launcher (the launcher then runs this in Node). DEL must
// still succeed, or containerd can never remove the pod: the pod's netns bind mount is removed
// here and the next manager reconciles its records. ADD and CHECK need the manager.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cniError, cniVersionResult } from './cniResult.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Prints a CNI error object and returns the exit code. */
function fail(code: number, msg: string, cniVersion: string): number {
  process.stdout.write(cniError(code, msg, '', cniVersion).stdout);
  return 1;
}

export async function cniMain(_argv: string[]): Promise<number> {
  const cmd = process.env.CNI_COMMAND;
  let cniVersion = '1.0.0';
  try {
    const conf = JSON.parse(readFileSync(0, 'utf8') || '{}') as { cniVersion?: string };
    if (conf.cniVersion) cniVersion = conf.cniVersion;
  } catch {
    // VERSION has no config; others are answered below
  }
  if (cmd === 'VERSION') {
    process.stdout.write(cniVersionResult());
    return 0;
  }
  if (cmd === 'DEL') {
    const id = process.env.CNI_CONTAINERID ?? '';
    if (!ID.test(id)) return fail(7, 'CNI_CONTAINERID is missing or malformed', cniVersion);
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
