// vnode-cni when no manager answers the launcher (the launcher then runs this in Node). DEL must
// still succeed, or containerd can never remove the pod: the pod's netns bind mount is removed
// here and the next manager reconciles its records. ADD and CHECK need the manager.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_SUPPORTED_VERSIONS } from './cniLaunch.js';

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function out(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
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
    out({ cniVersion: '1.0.0', supportedVersions: CNI_SUPPORTED_VERSIONS });
    return 0;
  }
  if (cmd === 'DEL') {
    const id = process.env.CNI_CONTAINERID ?? '';
    if (!ID.test(id)) {
      out({ cniVersion, code: 7, msg: 'CNI_CONTAINERID is missing or malformed' });
      return 1;
    }
    const vnodes = join(process.env.VNODE_RUN_DIR || '/run/vnode', 'vnodes');
    for (const v of existsSync(vnodes) ? readdirSync(vnodes) : []) {
      const path = join(vnodes, v, 'netns', id);
      if (!existsSync(path)) continue;
      spawnSync('umount', ['-l', path]);
      rmSync(path, { force: true });
    }
    return 0;
  }
  out({ cniVersion, code: 11, msg: `vnode-cni ${cmd ?? ''}: vnode-manager is not running` });
  return 1;
}
