// The vNode registry: get-or-create by key with pod reference counting, teardown on the last
// pod, per-pod network namespaces owned by the vNode's user namespace, and on start the reload
// of every recorded vNode (live holders re-adopted, dead ones cleaned up).
//
// Crash safety, step by step: the id range is persisted before anything uses it; the holder
// waits for a commit byte that is only sent after the record naming it ("ready") is on disk, so
// a manager killed at any point leaves either a recorded holder or none. Anything a crash leaves
// half-done (a range without record, a "deleting" record, a record whose holder is gone, a
// directory without record) is cleaned up by reload().
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { chmodSync, mkdirSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createNetns } from '../../addon/holder.js';
import { MountConstants, umount2 } from '../../addon/mount.js';
import { isSyscallError } from '../../addon/native.js';
import type { ExitInfo } from '../../addon/pidfd.js';
import type { Config } from '../common/config.js';
import { logger, type Logger } from '../common/log.js';
import { mountPointsUnder, readMountInfo } from '../common/mountinfo.js';
import { Holder, locateTree } from './Holder.js';
import { IdAllocator } from './IdAllocator.js';
import { StateStore } from './StateStore.js';
import { CONTAINER_ID } from '../common/containerId.js';
import { vnodeName } from './VNodePlacement.js';
import { viewOf, VNodeRecordSchema, type VNode, type VNodeRecord } from './VNodeRecord.js';

export class VNodeError extends Error {
  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`vNode ${key}: ${message}`, options);
    this.name = 'VNodeError';
  }
}

const NETNS_ID = CONTAINER_ID;

/** Mount points (from /proc/self/mountinfo) at or below dir, deepest first. */
export function mountsBelow(dir: string): string[] {
  return mountPointsUnder(dir, readMountInfo());
}

/**
 * Detaches every mount stacked at one path (a netns bind, a layer bind), without reading
 * mountinfo: umount2 until the kernel says nothing is mounted there. For a path under which
 * other mounts may hide, unmountBelow.
 */
export async function detachAt(path: string): Promise<void> {
  for (let round = 0; round < 16; round++) {
    try {
      await umount2(path, MountConstants.MNT_DETACH);
    } catch (e) {
      if (isSyscallError(e, 'EINVAL') || isSyscallError(e, 'ENOENT')) return;
      throw e;
    }
  }
  throw new Error(`mounts at ${path} keep coming back`);
}

/** Detaches every mount at or below dir (stacked ones too). */
export async function unmountBelow(dir: string): Promise<void> {
  for (let round = 0; round < 16; round++) {
    const mps = mountsBelow(dir);
    if (!mps.length) return;
    for (const mp of mps) await detachAt(mp);
  }
  throw new Error(`mounts below ${dir} keep coming back: ${mountsBelow(dir).join(', ')}`);
}

export interface ReleaseResult {
  /** The key had a vNode. */
  found: boolean;
  /** That was its last pod: the vNode is gone. */
  destroyed: boolean;
}

/** Throws unless the vNode can take pods: a failed one waits for its pods to be released. */
function usable(r: VNodeRecord): void {
  if (r.state === 'failed') throw new VNodeError(r.key, `${r.name} lost its holder (pid ${r.holder?.pid}); release its pods (${r.pods.join(', ')}) so it can be recreated`);
  if (r.state !== 'ready') throw new VNodeError(r.key, `${r.name} is ${r.state}`);
}

/** A vNode's user namespace as vnodefs keys per-vNode values ("userns:<inode>"); undefined when its holder is gone. */
function usernsIdOf(pid: number): string | undefined {
  try {
    const m = /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/user`));
    return m ? `userns:${m[1]}` : undefined;
  } catch {
    return undefined;
  }
}

/** Told when a vNode is torn down (its holder killed), with its user namespace id when known. */
export type TeardownListener = (v: VNode, usernsId: string | undefined) => void;

export class VNodeManager {
  private readonly records = new Map<string, VNodeRecord>();
  private readonly holders = new Map<string, Holder>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Each live vNode's user namespace id (by name), read while its holder runs: inode numbers are
   * reused once the namespace is gone, so it is known at teardown even if the holder died first. */
  private readonly usernsIds = new Map<string, string>();
  private readonly teardownListeners: TeardownListener[] = [];
  private readonly holderDeathListeners: ((v: VNode) => void)[] = [];
  private readonly vnodesDir: string;

  private constructor(
    private readonly cfg: Config,
    private readonly store: StateStore,
    private readonly ids: IdAllocator,
    private readonly treeDir: string,
    private readonly log: Logger,
  ) {
    this.vnodesDir = join(cfg.runDir, 'vnodes');
  }

  /** Loads the state, re-adopts live holders and cleans up what died while we were away. */
  static async open(cfg: Config, opts: { log?: Logger; treeDir?: string } = {}): Promise<VNodeManager> {
    const store = new StateStore(cfg.stateDir);
    const ids = await IdAllocator.load(store, cfg.idPool);
    const m = new VNodeManager(cfg, store, ids, locateTree(opts.treeDir ?? cfg.treeDir), opts.log ?? logger('vnode'));
    await m.reload();
    return m;
  }

  get(key: string): VNode | undefined {
    const r = this.records.get(key);
    return r && viewOf(r);
  }

  list(): VNode[] {
    return [...this.records.values()].map(viewOf).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * The vNode a pod is in (a member, or the owner of its netns), the first by name as in list()
   * if several claim it. Looked up in the records: a view (a deep copy) is made of the match only,
   * not of every vNode, on each of a pod's several lookups.
   */
  ofPod(podId: string): VNode | undefined {
    let found: VNodeRecord | undefined;
    for (const r of this.records.values()) {
      if (!r.pods.includes(podId) && r.netns[podId] === undefined) continue;
      if (!found || r.name.localeCompare(found.name) < 0) found = r;
    }
    return found && viewOf(found);
  }

  /** Calls fn for every vNode torn down from now on (after its holder is killed). */
  onTeardown(fn: TeardownListener): void {
    this.teardownListeners.push(fn);
  }

  /** Calls fn when a vNode's holder dies under its pods (the vNode is then failed). */
  onHolderDeath(fn: (v: VNode) => void): void {
    this.holderDeathListeners.push(fn);
  }

  /** Sizes of the in-memory tables (the manager's state entry). */
  stats(): { vnodes: number; holders: number; locks: number; usernsIds: number } {
    return { vnodes: this.records.size, holders: this.holders.size, locks: this.locks.size, usernsIds: this.usernsIds.size };
  }

  /** The id allocations as persisted (owner = vNode name). */
  idRanges(): ReturnType<IdAllocator['entries']> {
    return this.ids.entries();
  }

  /** The vNode for key with podRef counted in, created (holder ready) if there is none. */
  getOrCreate(key: string, podRef: string): Promise<VNode> {
    return this.locked(key, async () => {
      let r = this.records.get(key);
      if (!r) return viewOf(await this.create(key, podRef));
      usable(r);
      if (!r.pods.includes(podRef)) {
        r = { ...r, pods: [...r.pods, podRef] };
        await this.save(r, false);
      }
      return viewOf(r);
    });
  }

  /** Drops podRef; the last pod's release tears the vNode down. Idempotent. */
  release(key: string, podRef: string): Promise<ReleaseResult> {
    return this.locked(key, async () => {
      const r = this.records.get(key);
      if (!r) return { found: false, destroyed: false };
      const pods = r.pods.filter((p) => p !== podRef);
      if (pods.length > 0) {
        if (pods.length !== r.pods.length) await this.save({ ...r, pods }, false);
        return { found: true, destroyed: false };
      }
      await this.teardown(r);
      return { found: true, destroyed: true };
    });
  }

  /** Tears a vNode down whatever its pods (admin and tests). */
  destroy(key: string): Promise<boolean> {
    return this.locked(key, async () => {
      const r = this.records.get(key);
      if (!r) return false;
      await this.teardown(r);
      return true;
    });
  }

  /** Where createPodNetns(key, id) binds the pod's netns: known before it (or its vNode) exists. */
  podNetnsPath(key: string, id: string): string {
    if (!NETNS_ID.test(id)) throw new VNodeError(key, `netns id ${JSON.stringify(id)} must match ${NETNS_ID}`);
    return join(this.records.get(key)?.dir ?? join(this.vnodesDir, vnodeName(key)), 'netns', id);
  }

  /** A network namespace owned by the vNode's user namespace, bind-mounted at the returned path
   * (below the vNode's run dir), for a pod's network (vnode-cni). Idempotent per id. */
  createPodNetns(key: string, id: string): Promise<string> {
    if (!NETNS_ID.test(id)) throw new VNodeError(key, `netns id ${JSON.stringify(id)} must match ${NETNS_ID}`);
    return this.locked(key, async () => this.podNetnsLocked(this.ready(key), id));
  }

  /**
   * getOrCreate(key, podRef) then createPodNetns(key, id), with one state write instead of two
   * when the vNode exists already (each write is fsync'd: 1-3 ms on a virtual disk).
   */
  async joinWithNetns(key: string, podRef: string, id: string): Promise<string> {
    if (!NETNS_ID.test(id)) throw new VNodeError(key, `netns id ${JSON.stringify(id)} must match ${NETNS_ID}`);
    const path = await this.locked(key, async () => {
      const r = this.records.get(key);
      if (!r) return undefined; // created below, the usual way
      usable(r);
      return this.podNetnsLocked(r, id, podRef);
    });
    if (path !== undefined) return path;
    await this.getOrCreate(key, podRef);
    return this.createPodNetns(key, id);
  }

  /** With the key's lock held: the pod's netns (and, with joinRef, the pod counted in). */
  private async podNetnsLocked(r: VNodeRecord, id: string, joinRef?: string): Promise<string> {
    const existing = r.netns[id];
    const joined = joinRef === undefined || r.pods.includes(joinRef);
    if (existing && joined && mountsBelow(existing).length) return existing;
    const path = this.podNetnsPath(r.key, id);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    // Recorded before it exists, so a crash in between still gets it unmounted on teardown.
    r = { ...r, pods: joined ? r.pods : [...r.pods, joinRef!], netns: { ...r.netns, [id]: path } };
    await this.save(r, false);
    if (existing && mountsBelow(existing).length) return existing;
    await writeFile(path, '', { mode: 0o444 });
    try {
      await createNetns(viewOf(r).namespaces.user, path, this.cfg.holderReadyTimeoutMs);
    } catch (e) {
      await this.dropNetns(r, id);
      throw new VNodeError(r.key, `cannot create netns ${id}: ${(e as Error).message}`, { cause: e });
    }
    return path;
  }

  removePodNetns(key: string, id: string): Promise<boolean> {
    return this.locked(key, async () => {
      const r = this.records.get(key);
      if (!r || !r.netns[id]) return false;
      await this.dropNetns(r, id);
      return true;
    });
  }

  /** Lets go of every holder without killing them: they outlive a manager restart. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.locks.values()]);
    for (const h of this.holders.values()) h.close();
    this.holders.clear();
  }

  // ---- internals ----

  private ready(key: string): VNodeRecord {
    const r = this.records.get(key);
    if (!r) throw new VNodeError(key, 'no such vNode');
    if (r.state !== 'ready') throw new VNodeError(key, `${r.name} is ${r.state}`);
    return r;
  }

  private async create(key: string, podRef: string): Promise<VNodeRecord> {
    const t0 = performance.now();
    const name = vnodeName(key);
    for (const other of this.records.values())
      if (other.name === name) throw new VNodeError(key, `name ${name} is taken by key ${other.key}`);
    // The block is ours at once; its commit to disk (an fsync) runs while the holder starts, and
    // is waited for, with the "ready" record's, before the holder is committed.
    const { range: idRange, committed: idsCommitted } = await this.ids.reserve(name);
    const tIds = performance.now();
    const dir = join(this.vnodesDir, name);
    let r: VNodeRecord = {
      version: 1,
      name,
      key,
      idRange,
      hostname: name,
      dir,
      rootDir: join(dir, 'root'),
      state: 'creating',
      holder: null,
      pods: [podRef],
      netns: {},
      createdAt: new Date().toISOString(),
    };
    // Not saved yet: until the "ready" record is on disk the holder is uncommitted (it exits if
    // we die) and the range and directory are orphans that reload() frees.
    let tDirs = 0;
    let tHolder = 0;
    try {
      // The holder runs as an unprivileged host uid: every directory on its way must be
      // traversable (0711), and its root stays empty and unwritable (0555, owned by host root).
      // Quick local calls, made at once (a thread-pool hop each cost more than the call).
      mkdirSync(this.vnodesDir, { recursive: true, mode: 0o711 });
      chmodSync(this.vnodesDir, 0o711);
      mkdirSync(r.rootDir, { recursive: true, mode: 0o711 });
      chmodSync(dir, 0o711);
      chmodSync(r.rootDir, 0o555);
      tDirs = performance.now();
      const { holder, commit } = await Holder.spawn(
        { treeDir: this.treeDir, hostname: r.hostname, rootDir: r.rootDir, idRange, timeoutMs: this.cfg.holderReadyTimeoutMs },
        (h, e) => this.onHolderExit(h, e),
      );
      this.holders.set(name, holder);
      const userns = usernsIdOf(holder.pid);
      if (userns) this.usernsIds.set(name, userns);
      r = { ...r, holder: { pid: holder.pid, startTime: holder.startTime }, state: 'ready' };
      tHolder = performance.now();
      // Both on disk before the holder is committed (a manager that dies first leaves an
      // uncommitted holder, which exits, and a record reload() cleans up); written side by side.
      await Promise.all([idsCommitted, this.save(r)]);
      commit();
    } catch (e) {
      await this.teardown(r).catch((te: unknown) => this.log.error('cleanup after a failed create failed', { key, name, error: (te as Error).message }));
      throw new VNodeError(key, `cannot create ${name}: ${(e as Error).message}`, { cause: e });
    }
    const tEnd = performance.now();
    const ms = (a: number, b: number): number => +(b - a).toFixed(2);
    this.log.info('vNode created', { key, name, uidStart: idRange.uidStart, holder: r.holder?.pid, ms: ms(t0, tEnd), idsMs: ms(t0, tIds), dirsMs: ms(tIds, tDirs), holderMs: ms(tDirs, tHolder), saveMs: ms(tHolder, tEnd) });
    return r;
  }

  private async dropNetns(r: VNodeRecord, id: string): Promise<void> {
    const path = r.netns[id];
    if (path) {
      // A netns file: nothing can be mounted below it, only on it.
      await detachAt(path);
      await rm(path, { force: true });
    }
    const netns = { ...r.netns };
    delete netns[id];
    if (this.records.get(r.key)) await this.save({ ...this.records.get(r.key)!, netns }, false);
  }

  /** Kills the holder, removes every mount and file of the vNode, its record and id range. Every
   * step runs even if an earlier one failed; the record stays ("deleting") until all succeeded,
   * so reload() tries again. */
  private async teardown(r: VNodeRecord): Promise<void> {
    const t0 = performance.now();
    const errors: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        errors.push(`${what}: ${(e as Error).message}`);
      }
    };
    r = { ...r, state: 'deleting' };
    await step('record deleting', () => this.save(r));
    await step('kill holder', async () => {
      let h = this.holders.get(r.name);
      if (!h && r.holder) h = Holder.adopt(r.holder.pid, r.holder.startTime, r.idRange, () => undefined) ?? undefined;
      if (h) await h.kill();
      this.holders.delete(r.name);
    });
    const userns = this.usernsIds.get(r.name);
    this.usernsIds.delete(r.name);
    const view = viewOf(r);
    for (const fn of this.teardownListeners) {
      try {
        fn(view, userns);
      } catch (e) {
        this.log.error('vNode teardown listener failed', { key: r.key, name: r.name, error: (e as Error).message });
      }
    }
    await step('unmount', () => unmountBelow(r.dir));
    await step('remove files', () => rm(r.dir, { recursive: true, force: true }));
    if (errors.length) {
      this.log.error('vNode teardown incomplete', { key: r.key, name: r.name, errors });
      throw new VNodeError(r.key, `teardown of ${r.name} incomplete: ${errors.join('; ')}`);
    }
    await this.store.remove(this.recordFile(r.name));
    this.records.delete(r.key);
    await this.ids.release(r.name);
    this.log.info('vNode removed', { key: r.key, name: r.name, ms: +(performance.now() - t0).toFixed(2) });
  }

  private onHolderExit(h: Holder, e: ExitInfo | null): void {
    for (const r of this.records.values()) {
      if (r.holder?.pid !== h.pid || r.holder.startTime !== h.startTime) continue;
      if (r.state !== 'ready') return; // our own teardown
      this.log.error('vNode holder died', { key: r.key, name: r.name, pid: h.pid, exit: e, pods: r.pods });
      this.holders.delete(r.name);
      h.close();
      for (const fn of this.holderDeathListeners) {
        try {
          fn(viewOf(r));
        } catch (err) {
          this.log.error('holder death listener failed', { key: r.key, error: (err as Error).message });
        }
      }
      void this.locked(r.key, async () => {
        const cur = this.records.get(r.key);
        if (cur && cur.state === 'ready' && cur.holder?.pid === h.pid) await this.save({ ...cur, state: 'failed' });
      }).catch((err: unknown) => this.log.error('cannot record holder death', { key: r.key, error: (err as Error).message }));
      return;
    }
  }

  private recordFile(name: string): string {
    return `vnodes/${name}.json`;
  }

  /**
   * durable (fsync'd) for what a vNode is (created, failed, deleting); a pod joining or leaving, or
   * its netns, only as the boot's page cache keeps it: a restarted manager reads it back, and
   * after a power loss no holder, netns or pod of the record is left anyway (reload tears such a
   * vNode down). Each fsync cost 2-5 ms of a pod's start here and queued behind containerd's.
   */
  private async save(r: VNodeRecord, durable = true): Promise<void> {
    await this.store.writeJson(this.recordFile(r.name), r, { durable });
    this.records.set(r.key, r);
  }

  private async reload(): Promise<void> {
    const adopted: string[] = [];
    const cleaned: string[] = [];
    for (const file of await this.store.list('vnodes')) {
      let r: VNodeRecord | undefined;
      try {
        r = await this.store.readJson(file, VNodeRecordSchema);
      } catch (e) {
        this.log.error('unreadable vNode record left as it is', { file, error: (e as Error).message });
        continue;
      }
      if (!r) continue;
      this.records.set(r.key, r);
      if (r.state === 'ready' && r.holder) {
        const h = Holder.adopt(r.holder.pid, r.holder.startTime, r.idRange, (hh, e) => this.onHolderExit(hh, e));
        if (h) {
          this.holders.set(r.name, h);
          const userns = usernsIdOf(h.pid);
          if (userns) this.usernsIds.set(r.name, userns);
          adopted.push(r.name);
          continue;
        }
        this.log.warn('vNode holder gone while the manager was down', { key: r.key, name: r.name, pid: r.holder.pid, pods: r.pods });
      }
      if (r.state === 'failed' && r.pods.length) continue; // kept until its pods are released
      try {
        await this.teardown(r);
        cleaned.push(r.name);
      } catch (e) {
        this.log.error('cannot clean up vNode', { key: r.key, name: r.name, error: (e as Error).message });
      }
    }
    const names = new Set([...this.records.values()].map((r) => r.name));
    for (const [owner] of this.ids.entries()) {
      if (!names.has(owner)) {
        await this.ids.release(owner);
        cleaned.push(`range of ${owner}`);
      }
    }
    let dirs: string[] = [];
    try {
      dirs = await readdir(this.vnodesDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const d of dirs) {
      if (names.has(d)) continue;
      await unmountBelow(join(this.vnodesDir, d));
      await rm(join(this.vnodesDir, d), { recursive: true, force: true });
      cleaned.push(`dir ${d}`);
    }
    this.log.info('vNode state reloaded', { adopted, cleaned, kept: [...names] });
  }

  private locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }
}
