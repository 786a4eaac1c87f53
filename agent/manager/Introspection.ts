// What the manager tells about itself, read-only: health per subsystem, status, the vNodes with
// their pods, one vNode or pod in detail. Built from the live objects at the moment of asking
// (no file of the manager's is read behind its back); `vnode-introspect` and /metrics use it.
import { access, constants, stat } from 'node:fs/promises';
import { readFileSync, readlinkSync } from 'node:fs';
import { readMountInfo, type MountInfo } from '../common/mountinfo.js';
import type { SeccompAgent } from '../seccomp/SeccompAgent.js';
import type { ContainerRegistry } from '../pods/ContainerRegistry.js';
import type { VnodeFs } from '../vnodefs/VnodeFs.js';
import type { VNodeManager } from '../vnode/VNodeManager.js';
import { NAMESPACE_KINDS, type VNode } from '../vnode/VNodeRecord.js';
import type { InspectReport, ListReport, PodSummary, StatusReport, SubsystemHealth, SyscallCounts, VNodeSummary, HealthReport } from './introspectionReports.js';

export interface ManagerParts {
  version: string;
  startedAt: number;
  runDir: string;
  stateDir: string;
  cni: { confDir: string; binDir: string };
  vnodes: VNodeManager;
  registry: ContainerRegistry;
  /** Kubernetes namespace and name of a pod, as its sandbox's annotations said. */
  podIdentity: (podId: string) => { namespace: string; name: string } | undefined;
  seccomp: SeccompAgent;
  vnodefs: VnodeFs | undefined;
  /** Unix sockets the manager listens on, with the inode it made: a socket file replaced or
   * removed under it means nobody reaches the manager there any more. */
  sockets: { launch: { path: string; ino: number } };
  metricsUrl: () => string | null;
  metricsError: () => string | null;
}

export class IntrospectionError extends Error {
  override name = 'IntrospectionError';
}

async function socketCheck(path: string, ino: number): Promise<string | null> {
  try {
    const st = await stat(path);
    return st.ino === ino ? null : `${path} was replaced by another file (inode ${st.ino}, ours ${ino})`;
  } catch (e) {
    return `${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
}

function nsIds(pid: number | null): Record<string, string | null> {
  return Object.fromEntries(
    NAMESPACE_KINDS.map((k) => {
      if (!pid) return [k, null];
      try {
        return [k, readlinkSync(`/proc/${pid}/ns/${k}`)];
      } catch {
        return [k, null];
      }
    }),
  );
}

const mountOf = (m: MountInfo) => ({ mountPoint: m.mountPoint, fsType: m.fsType, source: m.source });

export class Introspection {
  constructor(private readonly p: ManagerParts) {}

  /** The launch socket's inode, once it listens. */
  setLaunchInode(ino: number): void {
    this.p.sockets.launch.ino = ino;
  }

  async health(): Promise<HealthReport> {
    const p = this.p;
    const sub: SubsystemHealth[] = [];
    const launch = await socketCheck(p.sockets.launch.path, p.sockets.launch.ino);
    sub.push({ name: 'launch', status: launch ? 'failed' : 'ok', detail: launch ?? `${p.sockets.launch.path} answers`, live: true });
    if (p.vnodefs) {
      const h = p.vnodefs.health(readMountInfo());
      sub.push({ name: 'vnodefs', status: h.ok ? 'ok' : 'failed', detail: h.detail, live: true });
    } else sub.push({ name: 'vnodefs', status: 'off', detail: 'vnodefs disabled or no /dev/fuse', live: true });
    const s = await p.seccomp.health();
    sub.push({ name: 'seccomp', status: s.ok ? 'ok' : 'failed', detail: s.detail, live: true });
    // State: the manager must be able to record what it does (a read-only or vanished state dir
    // makes the next pod fail); a restart does not fix that, so it is readiness only.
    const state = await Promise.all([access(p.stateDir, constants.W_OK), access(p.runDir, constants.W_OK)]).then(
      () => null,
      (e: NodeJS.ErrnoException) => `${e.path ?? ''}: ${e.code ?? e.message}`,
    );
    sub.push({ name: 'state', status: state ? 'failed' : 'ok', detail: state ?? `${p.vnodes.list().length} vNodes, ${p.registry.taskCount} containers recorded`, live: false });
    const url = p.metricsUrl();
    const merr = p.metricsError();
    sub.push({ name: 'metrics', status: url ? 'ok' : merr ? 'failed' : 'off', detail: url ?? merr ?? 'metrics disabled', live: false });
    return { pid: process.pid, uptimeSeconds: (Date.now() - p.startedAt) / 1000, subsystems: sub };
  }

  async status(): Promise<StatusReport> {
    const p = this.p;
    const vnodes = p.vnodes.list();
    const totals = await p.seccomp.syscallTotals();
    let calls = 0;
    for (const byName of totals.values()) for (const byOutcome of byName.values()) for (const n of byOutcome.values()) calls += n;
    const fuse = p.vnodefs ? Object.values(p.vnodefs.metrics.totals()).reduce((a, f) => a + f.requests, 0) : 0;
    return {
      ...(await this.health()),
      version: p.version,
      startedAt: new Date(p.startedAt).toISOString(),
      runDir: p.runDir,
      stateDir: p.stateDir,
      cni: p.cni,
      metricsUrl: p.metricsUrl(),
      counts: {
        vnodes: vnodes.length,
        pods: vnodes.reduce((a, v) => a + v.pods.length, 0),
        containers: p.registry.taskCount,
        seccompListeners: p.seccomp.connections().length,
        syscallsIntercepted: calls,
        vnodefsRequests: fuse,
      },
    };
  }

  list(): ListReport {
    return { vnodes: this.p.vnodes.list().map((v) => this.summary(v)) };
  }

  private pod(podId: string): PodSummary {
    const who = this.p.podIdentity(podId);
    return { id: podId, namespace: who?.namespace ?? '', name: who?.name ?? '', containers: this.p.registry.tasksOfPod(podId).length };
  }

  private summary(v: VNode): VNodeSummary {
    return {
      name: v.name,
      key: v.key,
      state: v.state,
      idRange: v.idRange,
      holderPid: v.holder?.pid ?? null,
      namespaces: nsIds(v.holder?.pid ?? null),
      createdAt: v.createdAt,
      pods: v.pods.map((id) => this.pod(id)),
    };
  }

  /**
   * `ref` is a vNode name, a pod id, or a container id; ids may be shortened to a unique prefix
   * of at least 4 characters, as `crictl` allows.
   */
  async inspect(ref: string): Promise<InspectReport> {
    const p = this.p;
    const vnodes = p.vnodes.list();
    let v = vnodes.find((x) => x.name === ref);
    let podId: string | undefined;
    if (!v) {
      if (ref.length < 4) throw new IntrospectionError(`no vNode named ${JSON.stringify(ref)}, and a pod or container id prefix needs at least 4 characters`);
      const hits = new Set<string>();
      for (const x of vnodes)
        for (const id of x.pods) {
          if (id.startsWith(ref)) hits.add(id);
          for (const t of p.registry.tasksOfPod(id)) if (t.id.startsWith(ref)) hits.add(id);
        }
      if (hits.size > 1) throw new IntrospectionError(`${JSON.stringify(ref)} matches ${hits.size} pods: ${[...hits].join(', ')}`);
      podId = [...hits][0];
      v = podId ? vnodes.find((x) => x.pods.includes(podId!)) : undefined;
      if (!v) throw new IntrospectionError(`no vNode, pod or container ${JSON.stringify(ref)} on this node (vnode ls lists them)`);
    }
    const pods = podId ? [podId] : v.pods;
    const conns = p.seccomp.connections().filter((c) => c.vnodeId === v!.name);
    const containers = pods.flatMap((pid) =>
      p.registry.tasksOfPod(pid).map((t) => {
        const mine = conns.filter((c) => c.containerId === t.id);
        // The listener runc made at create names the container's first process.
        const first = mine.find((c) => c.status === 'creating') ?? mine[0];
        const pid = first?.pid ?? null;
        let uidMap: string | null = null;
        let mounts: ReturnType<typeof mountOf>[] = [];
        if (pid) {
          try {
            uidMap = readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().replace(/\s+/g, ' ');
            mounts = readMountInfo(pid).map(mountOf);
          } catch {
            // the process is gone
          }
        }
        return { id: t.id, sandbox: t.sandbox, pid, namespaces: nsIds(pid), uidMap, mounts, seccompListeners: mine.length };
      }),
    );
    const totals = (await p.seccomp.syscallTotals()).get(v.name);
    const syscalls: SyscallCounts = {};
    for (const [name, byOutcome] of totals ?? []) syscalls[name] = Object.fromEntries(byOutcome);
    const fs = p.vnodefs;
    const usernsId = (() => {
      try {
        return v.holder ? `userns:${/\[(\d+)\]/.exec(readlinkSync(`/proc/${v.holder.pid}/ns/user`))?.[1]}` : undefined;
      } catch {
        return undefined;
      }
    })();
    return {
      kind: podId ? 'pod' : 'vnode',
      vnode: this.summary(v),
      pod: podId ? this.pod(podId) : null,
      containers,
      hostMounts: readMountInfo()
        .filter((m) => m.mountPoint === v!.dir || m.mountPoint.startsWith(`${v!.dir}/`))
        .map(mountOf),
      seccomp: { listeners: conns.length, syscalls },
      vnodefs: {
        mounted: !!fs,
        ...(fs ? fs.stats() : { requests: 0, malformed: 0, failed: 0, openHandles: 0 }),
        ...(fs ? { requests: Object.values(fs.metrics.totals()).reduce((a, f) => a + f.requests, 0) } : {}),
        sysctlsWritten: fs && usernsId ? fs.sysctlValues(usernsId) : {},
      },
    };
  }
}
