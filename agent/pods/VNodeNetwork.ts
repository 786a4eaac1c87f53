// The vNode's own network, for its hostNetwork pods: the host's pod network (the vnode handler's
// CNI config without vnode-cni) run into the holder's network namespace, once, and removed with
// the vNode's last pod. What the plugins returned is kept in <vNode dir>/network.json for the DEL.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cniAdd, cniDel, loadConfList, type CniRun, type ConfList } from '../cni/CniRunner.js';
import type { Logger } from '../common/log.js';
import type { VNode } from '../vnode/VNodeRecord.js';

/** The vnode handler's CNI config dir and plugin dir. */
export interface VNodeCniDirs {
  confDir: string;
  binDir: string;
}

const execFileP = promisify(execFile);

/**
 * The vNode's own network: the host's pod network (the vnode handler's CNI config without
 * vnode-cni) run into the holder's network namespace, once, for the vNode's hostNetwork pods.
 */
export async function ensureVNodeNetwork(v: VNode, cni: VNodeCniDirs | undefined, log: Logger): Promise<void> {
  const file = join(v.dir, 'network.json');
  if (existsSync(file) || !cni) return;
  const { confDir, binDir } = cni;
  const list = loadConfList(confDir, ['vnode-cni']);
  const run = { containerId: `vnode-${v.name}`, netns: v.namespaces.net, ifname: 'eth0', args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'vnode-system', K8S_POD_NAME: v.name } };
  const result = await cniAdd(list, binDir, run);
  // The host's network plugins leave loopback to the runtime.
  await execFileP('nsenter', [`--net=${v.namespaces.net}`, 'ip', 'link', 'set', 'lo', 'up']);
  writeFileSync(file, JSON.stringify({ list, run, result }));
  log.info('vNode network attached', { vnode: v.name, network: list.name });
}

export async function removeVNodeNetwork(v: VNode, cni: VNodeCniDirs | undefined): Promise<void> {
  const file = join(v.dir, 'network.json');
  if (!existsSync(file) || !cni) return;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { list: ConfList; run: CniRun; result: unknown };
  await cniDel(saved.list, cni.binDir, saved.run, saved.result);
  rmSync(file, { force: true });
}
