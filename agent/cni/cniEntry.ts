// vnode-cni when no manager answers the launcher (the launcher then runs this in Node). DEL must
// still succeed, or containerd can never remove the pod: the pod's netns bind mount is removed
// here and the next manager reconciles its records. ADD and CHECK need the manager.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_ID, cniError, cniVersionResult } from './cniResult.js';
import { answerVersion } from './cniVersion.js';

/** What vnode-cni answers without a manager, for a CNI environment and stdin. */
export function cniFallback(env: NodeJS.ProcessEnv, stdin: Buffer): { code: number; stdout: string } {
  const cmd = env.CNI_COMMAND;
  const cniVersion = answerVersion(stdin);
  if (cmd === 'VERSION') return { code: 0, stdout: cniVersionResult() };
  if (cmd === 'DEL') {
    // DEL succeeds for any input: an id we could not have used names nothing of ours.
    const id = env.CNI_CONTAINERID ?? '';
    if (!CNI_ID.test(id)) return { code: 0, stdout: '' };
    const vnodes = join(env.VNODE_RUN_DIR || '/run/vnode', 'vnodes');
    try {
      for (const v of existsSync(vnodes) ? readdirSync(vnodes) : []) {
        const path = join(vnodes, v, 'netns', id);
        if (!existsSync(path)) continue;
        spawnSync('umount', ['-l', path]);
        rmSync(path, { force: true });
      }
    } catch {
      // Best effort: the next manager reconciles what is left.
    }
    return { code: 0, stdout: '' };
  }
  return { code: 1, stdout: cniError(11, `vnode-cni ${cmd ?? ''}: vnode-manager is not running`, '', cniVersion).stdout };
}

export async function cniMain(_argv: string[]): Promise<number> {
  let stdin: Buffer;
  try {
    stdin = readFileSync(0);
  } catch {
    stdin = Buffer.alloc(0);
  }
  const r = cniFallback(process.env, stdin);
  process.stdout.write(r.stdout);
  return r.code;
}
