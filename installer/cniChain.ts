// The vnode handler's own CNI config dir: the host's network, as containerd would pick it, with
// vnode-cni chained last. The host's dir is only read; its conflist is never edited, so pods of
// other handlers never run vnode-cni. CNI providers rewrite their conflist (Calico, Cilium, Flannel
// on start-up and upgrade), so a CniChainSync keeps the copy in step: fs.watch for speed and a
// periodic rescan because watches miss events on some file systems and on a replaced directory.
import { watch, type FSWatcher } from 'node:fs';
import { posix } from 'node:path';
import { z } from 'zod';
import type { HostRoot } from './HostRoot.js';
import { logger, type Logger } from '../agent/common/log.js';
import { CniVersionSchema } from '../agent/cni/cniVersion.js';

/** The file the installer writes in the vnode dir; the only file it ever writes there. */
export const CHAINED_FILE = '10-vnode.conflist';
/** Extensions libcni's ConfFiles reads, as go-cni asks for them. */
const CNI_EXTENSIONS = ['.conf', '.conflist', '.json'];

const PluginConf = z.object({ type: z.string().min(1) }).passthrough();
const ConfList = z
  .object({
    cniVersion: CniVersionSchema.optional(),
    name: z.string().min(1),
    plugins: z.array(PluginConf).min(1, 'has no plugins'),
  })
  .passthrough();
const SingleConf = z.object({ cniVersion: CniVersionSchema.optional(), name: z.string().min(1), type: z.string().min(1) }).passthrough();

export type CniConfList = z.infer<typeof ConfList>;

export class CniConfigError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'CniConfigError';
  }
}

export interface ChainOptions {
  /** The plugin entry appended to the host's chain. */
  plugin: Record<string, unknown> & { type: string };
}

/** vnode-cni asks for the pod's annotations (CRI's capability): `vnode.loft.sh/name` picks a shared vNode. */
export const DEFAULT_CHAIN: ChainOptions = { plugin: { type: 'vnode-cni', capabilities: { 'io.kubernetes.cri.pod-annotations': true } } };

/** The host file containerd's default network comes from: the first by name, as libcni sorts. */
export function pickHostNetworkFile(names: string[]): string | undefined {
  return names.filter((n) => CNI_EXTENSIONS.some((e) => n.endsWith(e)) && !n.startsWith('.')).sort()[0];
}

/** The chained conflist for one host file's text (a .conf becomes a one-plugin list, as libcni does). */
export function chainConfig(fileName: string, text: string, opts: ChainOptions = DEFAULT_CHAIN): CniConfList {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CniConfigError(fileName, `not valid JSON: ${(e as Error).message}`);
  }
  let list: CniConfList;
  if (fileName.endsWith('.conflist')) {
    const r = ConfList.safeParse(raw);
    if (!r.success) throw new CniConfigError(fileName, r.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; '));
    list = r.data;
  } else {
    const r = SingleConf.safeParse(raw);
    if (!r.success) throw new CniConfigError(fileName, r.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; '));
    // libcni's ConfListFromConf keeps the whole conf as the single plugin.
    list = { ...(r.data.cniVersion ? { cniVersion: r.data.cniVersion } : {}), name: r.data.name, plugins: [r.data] };
  }
  const plugins = list.plugins.filter((p) => p.type !== opts.plugin.type);
  return { ...list, plugins: [...plugins, { ...opts.plugin }] };
}

export interface SyncResult {
  /** The host file the chain came from; undefined when the host has no network config yet. */
  source?: string;
  changed: boolean;
  error?: string;
}

/** One pass: make the vnode dir hold exactly the chained copy of the host's current network. */
export function syncChain(host: HostRoot, hostConfDir: string, vnodeConfDir: string, opts: ChainOptions = DEFAULT_CHAIN): SyncResult {
  const norm = (d: string) => posix.normalize(d).replace(/\/+$/, '');
  if (norm(hostConfDir) === norm(vnodeConfDir)) {
    throw new CniConfigError(vnodeConfDir, 'the vnode CNI dir must not be the host CNI dir');
  }
  host.mkdirp(vnodeConfDir);
  const target = posix.join(vnodeConfDir, CHAINED_FILE);
  let changed = false;
  // Anything else in our dir would be picked before or beside our file: it is not the host's to keep.
  for (const n of host.list(vnodeConfDir)) {
    if (n !== CHAINED_FILE) changed = host.remove(posix.join(vnodeConfDir, n)) || changed;
  }
  const source = pickHostNetworkFile(host.list(hostConfDir));
  if (!source) {
    changed = host.remove(target) || changed;
    return { changed };
  }
  const text = host.readText(posix.join(hostConfDir, source));
  if (text === undefined) return { changed, source, error: 'vanished while reading' };
  let chained: CniConfList;
  try {
    chained = chainConfig(source, text, opts);
  } catch (e) {
    // A provider half way through writing its file: keep the last good copy, the next pass retries.
    return { changed, source, error: (e as Error).message };
  }
  const want = `${JSON.stringify(chained, null, 2)}\n`;
  if (host.readText(target) !== want) {
    host.writeAtomic(target, want);
    changed = true;
  }
  return { changed, source };
}

export interface CniChainSyncOptions {
  host: HostRoot;
  hostConfDir: string;
  vnodeConfDir: string;
  chain?: ChainOptions;
  rescanMs?: number;
  /** Coalesces bursts of watch events (providers write several files in a row). */
  debounceMs?: number;
  log?: Logger;
  onSync?: (r: SyncResult) => void;
}

/** Keeps the vnode CNI dir in step with the host's until stopped. */
export class CniChainSync {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  last: SyncResult | undefined;

  constructor(private readonly o: CniChainSyncOptions) {
    this.log = o.log ?? logger('cni-chain');
  }

  start(): SyncResult {
    const first = this.sync();
    this.rewatch();
    this.timer = setInterval(() => {
      this.sync();
      if (!this.watcher) this.rewatch();
    }, this.o.rescanMs ?? 10_000);
    this.timer.unref();
    return first;
  }

  stop(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  sync(): SyncResult {
    let r: SyncResult;
    try {
      r = syncChain(this.o.host, this.o.hostConfDir, this.o.vnodeConfDir, this.o.chain);
    } catch (e) {
      r = { changed: false, error: (e as Error).message };
    }
    if (r.error) this.log.warn('host CNI config not usable; vnode copy kept as it was', { source: r.source, error: r.error });
    else if (r.changed) this.log.info('vnode CNI chain updated', { source: r.source ?? null });
    this.last = r;
    this.o.onSync?.(r);
    return r;
  }

  private rewatch(): void {
    this.watcher?.close();
    this.watcher = undefined;
    try {
      this.watcher = watch(this.o.host.path(this.o.hostConfDir), { persistent: false }, () => this.kick());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // The host dir does not exist yet (no CNI provider installed): the rescan finds it later.
    }
  }

  private kick(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.sync(), this.o.debounceMs ?? 200);
    this.debounce.unref();
  }
}
