// A temp host root for installer tests: containerd 1.6's default config, a CNI provider's
// conflist, a CNI bin dir, and a staged tree; plus a snapshot of every file and link under it, to
// compare hosts before and after.
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import winston from 'winston';
import { HostRoot } from '../HostRoot.js';
import type { InstallerOptions, NodeAccess } from '../Installer.js';
import { FakeContainerd } from './FakeContainerd.js';

export const CONFIG = '/etc/containerd/config.toml';

export function makeFakeHost(root: string, configFixture = 'v16-default.toml'): void {
  const fx = new URL(`../../../installer/fixtures/containerd/${configFixture}`, import.meta.url);
  mkdirSync(join(root, 'host/etc/containerd'), { recursive: true });
  copyFileSync(fx, join(root, 'host', CONFIG));
  mkdirSync(join(root, 'host/etc/cni/net.d'), { recursive: true });
  writeFileSync(join(root, 'host/etc/cni/net.d/10-calico.conflist'), JSON.stringify({ name: 'k8s-pod-network', cniVersion: '0.3.1', plugins: [{ type: 'calico' }, { type: 'portmap', capabilities: { portMappings: true } }] }));
  mkdirSync(join(root, 'host/opt/cni/bin'), { recursive: true });
  mkdirSync(join(root, 'host/var/lib'), { recursive: true });
  writeFileSync(join(root, 'host/opt/cni/bin/calico'), 'binary');
  const staged = join(root, 'staged');
  mkdirSync(join(staged, 'bin'), { recursive: true });
  mkdirSync(join(staged, 'lib'), { recursive: true });
  writeFileSync(join(staged, 'bin/vnode'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(staged, 'bin/vnode'), 0o755);
  for (const l of ['containerd-shim-vnode-v2', 'vnode-cni', 'vnode-runc', 'vnode-manager']) symlinkSync('vnode', join(staged, 'bin', l));
  writeFileSync(join(staged, 'lib/app.js'), 'export {};\n');
  writeFileSync(join(staged, 'VERSION'), '0.1.0\n');
}

export class RecordingNode implements NodeAccess {
  ready = false;
  tainted = false;
  evictions = 0;
  async setReady(ready: boolean): Promise<boolean> {
    const changed = this.ready !== ready;
    this.ready = ready;
    return changed;
  }
  async setInstallingTaint(present: boolean): Promise<boolean> {
    const changed = this.tainted !== present;
    this.tainted = present;
    return changed;
  }
  async evictRuntimePods(): Promise<number> {
    this.evictions++;
    return 0;
  }
}

export function fakeOptions(root: string, extra: Partial<InstallerOptions> = {}): { opts: InstallerOptions; containerd: FakeContainerd } {
  const host = new HostRoot(join(root, 'host'));
  const containerd = new FakeContainerd(host, CONFIG);
  const opts: InstallerOptions = {
    host,
    stagedTree: join(root, 'staged'),
    installDir: '/opt/vnode',
    shimLinkDir: '/usr/local/bin',
    stateDir: '/var/lib/vnode-installer',
    target: { flavor: 'containerd', configPath: CONFIG, dropInName: 'vnode-runtime.toml', version: { major: 1, minor: 6, patch: 20, raw: '1.6.20' } },
    runtime: { handler: 'vnode', runtimeType: 'io.containerd.vnode.v2', cniConfDir: '/etc/cni/vnode.d', cniMaxConfNum: 1, podAnnotations: ['vnode.loft.sh/*'], containerAnnotations: [] },
    restarter: containerd,
    cri: containerd,
    readinessTimeoutMs: 2000,
    drainTimeoutMs: 1000,
    log: process.env.VNODE_TEST_LOG ? undefined : winston.createLogger({ silent: true }),
    ...extra,
  };
  return { opts, containerd };
}

/** Every entry under dir: file contents, link targets, dirs; `skip` prefixes left out. */
export function snapshotTree(dir: string, skip: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const r = `${rel}/${name}`;
      if (skip.some((s) => r === s || r.startsWith(`${s}/`))) continue;
      const st = lstatSync(join(dir, r));
      if (st.isSymbolicLink()) out[r] = `link -> ${readlinkSync(join(dir, r))}`;
      else if (st.isDirectory()) {
        out[r] = 'dir';
        walk(r);
      } else out[r] = `${(st.mode & 0o777).toString(8)} ${readFileSync(join(dir, r), 'utf8')}`;
    }
  };
  walk('');
  return out;
}
