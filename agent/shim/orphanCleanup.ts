// Cleanup of a task whose shim is gone (containerd runs `shim delete` for it): what the runc
// shim's own `delete` does — runc delete --force with the runc and root the runc shim recorded in
// the bundle at Create, then unmount the rootfs — so it works with or without a manager.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMountPoint as inMountTable } from '../common/mountinfo.js';

export interface OrphanResult {
  pid: number;
  exitStatus: number;
  warnings: string[];
}

export function cleanupOrphan(bundle: string, id: string, namespace: string): OrphanResult {
  const warnings: string[] = [];
  let runtime = 'runc';
  let root = '/run/containerd/runc';
  try {
    const r = readFileSync(join(bundle, 'runtime'), 'utf8').trim();
    if (r) runtime = r;
  } catch {
    // no Create happened: nothing of runc's to remove
  }
  try {
    const o = JSON.parse(readFileSync(join(bundle, 'options.json'), 'utf8')) as { root?: string; binary_name?: string };
    if (o.root) root = o.root;
    if (o.binary_name) runtime = o.binary_name;
  } catch {
    // defaults
  }
  if (existsSync(join(bundle, 'runtime')) || existsSync(join(bundle, 'options.json'))) {
    const d = spawnSync(runtime, ['--root', join(root, namespace), 'delete', '--force', id], { encoding: 'utf8', timeout: 4000 });
    if (d.status !== 0 && !/does not exist|not found/.test(d.stderr)) warnings.push(`runc delete: ${(d.stderr || d.error?.message || '').trim()}`);
  }
  const rootfs = join(bundle, 'rootfs');
  for (let i = 0; i < 8 && isMountPoint(rootfs); i++) {
    const u = spawnSync('umount', [rootfs], { encoding: 'utf8' });
    if (u.status !== 0) {
      warnings.push(`umount ${rootfs}: ${u.stderr.trim()}`);
      break;
    }
  }
  let pid = 0;
  try {
    pid = Number(readFileSync(join(bundle, 'init.pid'), 'utf8').trim()) || 0;
  } catch {
    // never started
  }
  return { pid, exitStatus: 128 + 9, warnings };
}

function isMountPoint(path: string): boolean {
  return existsSync(path) && inMountTable(path);
}
