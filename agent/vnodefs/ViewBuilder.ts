// Assembles a renderer's input for one caller: the cgroup parts and host files the file needs,
// the pod's start time, the container's load and, for identity files, the caller's vNode.
import { join } from 'node:path';

import { AgingMap } from '../cgroup/AgingMap.js';
import { CgroupReader } from '../cgroup/CgroupReader.js';
import { readText } from '../cgroup/readText.js';
import { HostFactsReader } from './HostFactsReader.js';
import { LoadTable } from './LoadTable.js';
import type { ViewFile } from './ProcFile.js';
import type { VnodeIdentity } from './render/renderIdentity.js';
import type { ViewInput } from './render/ViewInput.js';
import type { SharedKv } from './SharedKv.js';
import type { CallerView } from './ViewResolver.js';
import { VnodeIdentities } from './VnodeIdentities.js';

/** Key of a registered start time for a cgroup path (the same path in v1 and v2). */
export const startKey = (cgroupPath: string): string => `start:${cgroupPath.replace(/\/+$/, '') || '/'}`;

export class ViewBuilder {
  private readonly loads: LoadTable;
  /** Cgroup creation times of containers without a registered start (gone a minute after their last read). */
  private readonly created = new AgingMap<string, number>(60_000, 8192);
  readonly identities: VnodeIdentities;

  constructor(
    readonly reader: CgroupReader,
    readonly host: HostFactsReader,
    private readonly kv: SharedKv,
    private readonly procRoot = '/proc',
  ) {
    this.loads = new LoadTable(kv, procRoot);
    this.identities = new VnodeIdentities(kv);
  }

  /**
   * The pod's start: the nearest registered start time on the cgroup path (the manager
   * registers the pod cgroup), else when the container's cgroup was created.
   */
  startedAt(c: CallerView, now: number): number {
    if (c.key === 'host') return now - Number((readText(join(this.procRoot, 'uptime')) ?? '0').split(' ')[0]) * 1000;
    let p = c.cgroupPath;
    for (;;) {
      const v = this.kv.get(startKey(p));
      if (v !== undefined) return Number(v);
      if (p === '/' || p === '') break;
      p = p.slice(0, p.lastIndexOf('/')) || '/';
    }
    let t = this.created.get(c.key);
    if (t === undefined) {
      t = this.reader.createdAtMs(c.membership) ?? now;
      this.created.set(c.key, t);
    }
    return t;
  }

  /** The input for file f as read by caller c, whose request carried host uid `uid`. */
  build(f: ViewFile, c: CallerView, now: number, uid: number): ViewInput {
    const vnode = f.needs.identity ? this.identityOf(f, uid) : null;
    const host = this.host.read(f.needs.host, now);
    // Without host swap every swap figure is 0: skip reading the cgroup's swap files.
    const swap = !f.needs.memory || !/^SwapTotal:\s+0 kB$/m.test(host.meminfo);
    const cg = this.reader.snapshot(c.membership, { ...f.needs, swap });
    const load = f.needs.load && c.key !== 'host' ? this.loads.getOrStart(c.key, this.reader, c.membership, now) : null;
    return { cg, host, nowMs: now, startedAtMs: f.needs.start ? this.startedAt(c, now) : now, load, vnode };
  }

  /**
   * An identity file is only ever the caller's vNode's: a caller of no registered vNode (the
   * host, or a vNode the manager failed to register) gets an error (EIO, logged with this
   * message), never the host's values nor another vNode's.
   */
  private identityOf(f: ViewFile, uid: number): VnodeIdentity {
    const v = this.identities.forUid(uid);
    if (!v) throw new Error(`${f.path}: host uid ${uid} is in no registered vNode's id range`);
    return v;
  }
}
