// The installer's container image, built without a Docker engine: the staged tree at
// /opt/vnode-image, the shared libraries its node binary and addon need, and the few host tools
// the installer runs (nsenter, chroot, a busybox shell), written as a deterministic OCI image
// layout tar that `ctr images import` takes. The Dockerfile builds the same layout from
// debian:bookworm-slim for a registry; this is what the e2e imports.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildImage } from '../../e2e/lib/ociImage.js';
import { IMAGE_TREE } from '../../charts/source/objects.js';

export const INSTALLER_ENTRY = `${IMAGE_TREE}/lib/app/installer/installerEntry.js`;
const TOOLS = ['/usr/bin/nsenter', '/usr/sbin/chroot'];

/** Absolute paths of the shared objects `bin` loads (ldd), the dynamic loader included. */
export function sharedLibraries(bin: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [bin], { encoding: 'utf8' });
  } catch {
    return []; // static, or not an ELF file
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

function copyInto(root: string, src: string): void {
  const dst = join(root, src);
  if (existsSync(dst)) return;
  mkdirSync(dirname(dst), { recursive: true });
  copyFileSync(realpathSync(src), dst);
  chmodSync(dst, lstatSync(realpathSync(src)).mode & 0o777);
}

function walkFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walkFiles(p, out);
    else if (e.isFile() && (e.name.endsWith('.node') || e.name === 'node')) out.push(p);
  }
  return out;
}

/** Fills `root` with the image's file system. */
export function installerRootfs(treeDir: string, root: string): void {
  const tree = join(root, IMAGE_TREE);
  mkdirSync(dirname(tree), { recursive: true });
  execFileSync('cp', ['-a', treeDir, tree]);
  for (const d of ['tmp', 'proc', 'sys', 'dev', 'etc', 'host', 'bin']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  const elves = [...walkFiles(join(tree, 'lib')), ...TOOLS.filter((t) => existsSync(t))];
  for (const t of TOOLS) if (existsSync(t)) copyInto(root, t);
  for (const e of elves) for (const lib of sharedLibraries(e)) copyInto(root, lib);
  if (existsSync('/bin/busybox')) {
    copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
    chmodSync(join(root, 'bin/busybox'), 0o755);
    symlinkSync('busybox', join(root, 'bin/sh'));
  }
}

export interface InstallerImage {
  tar: string;
  name: string;
  digest: string;
}

/** Builds `name` from the staged tree as an OCI layout tar at `out`. */
export function buildInstallerImage(treeDir: string, out: string, name = 'localhost/vnode-installer:test'): InstallerImage {
  if (!existsSync(join(treeDir, 'lib/app/installer/installerEntry.js'))) throw new Error(`${treeDir} is not a staged tree with the installer (run node scripts/build.mjs)`);
  mkdirSync(dirname(out), { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'vnode-inst-image-'));
  try {
    installerRootfs(treeDir, work);
    const digest = buildImage(
      {
        name,
        layers: [work],
        config: {
          Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `VNODE_TREE=${IMAGE_TREE}`],
          Entrypoint: [`${IMAGE_TREE}/lib/node`, '--enable-source-maps', INSTALLER_ENTRY],
          Cmd: ['run'],
          WorkingDir: '/',
        },
      },
      out,
    );
    return { tar: out, name, digest };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
