// The figures of one container that the sysinfo, sched_getaffinity and reboot handlers need,
// computed with the same code as vnodefs (agent/cgroup reader, memoryFigures, visibleCpus) so
// `free` and /proc/meminfo, `nproc` and /sys/devices/system/cpu/online always agree.
import { readFileSync } from 'node:fs';
import { CgroupReader, MEMORY_FIGURES_TTL_MS } from '../cgroup/CgroupReader.js';
import type { CgroupSnapshot } from '../cgroup/CgroupSnapshot.js';
import { membershipKey, parseProcCgroup, type CgroupMembership } from '../cgroup/procCgroup.js';
import { readText } from '../cgroup/readText.js';
import { HostFactsReader } from '../vnodefs/HostFactsReader.js';
import { memoryFigures, type MemoryFigures } from '../vnodefs/render/memoryFigures.js';
import { visibleCpus } from '../vnodefs/render/visibleCpus.js';
import type { SysinfoFacts } from '../../addon/seccompwatch.js';
import type { SeccompTarget } from './SeccompTarget.js';

const USER_HZ = 100;

/** Shared by every connection of a worker: cgroup limits cached for a second, usage read fresh. */
export class FactsSources {
  readonly cgroups: CgroupReader;
  readonly host: HostFactsReader;

  constructor(opts: { cgroupRoot?: string; procRoot?: string; sysRoot?: string } = {}) {
    this.cgroups = new CgroupReader({ root: opts.cgroupRoot ?? '/sys/fs/cgroup', limitTtlMs: 1000, openFiles: 256, memoryTtlMs: MEMORY_FIGURES_TTL_MS });
    this.host = new HostFactsReader(opts.procRoot ?? '/proc', opts.sysRoot ?? '/sys');
  }
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks after boot. */
export function startTicks(pid: number): number | undefined {
  const text = readText(`/proc/${pid}/stat`);
  if (!text) return undefined;
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const v = Number(fields[19]);
  return Number.isFinite(v) ? v : undefined;
}

export class ContainerFacts {
  private member: { at: number; m: CgroupMembership } | undefined;
  private readonly initStart: number | undefined;

  constructor(
    readonly target: SeccompTarget,
    /** the process the listener was made for (init or exec'd process): its cgroup is the container's */
    private readonly statePid: number,
    private readonly src: FactsSources,
  ) {
    this.initStart = startTicks(target.rootPid);
  }

  membership(now = Date.now()): CgroupMembership {
    if (this.member && now - this.member.at < 1000) return this.member.m;
    const text = readText(`/proc/${this.statePid}/cgroup`) ?? readText(`/proc/${this.target.rootPid}/cgroup`);
    const m = text ? parseProcCgroup(text) : (this.member?.m ?? { v1: new Map(), v2: null });
    this.member = { at: now, m };
    return m;
  }

  snapshot(parts: { memory?: boolean; cpu?: boolean }): CgroupSnapshot {
    return this.src.cgroups.snapshot(this.membership(), { memory: parts.memory ?? false, cpu: parts.cpu ?? false, io: false });
  }

  private mem: { at: number; v: { figures: MemoryFigures; shmem: number } | null } | undefined;

  /** The container's memory as /proc/meminfo shows it; null: no limit to show (host figures).
   * Kept for as long as the cgroup reader keeps the group's figures (MEMORY_FIGURES_TTL_MS):
   * parsing the host's meminfo and computing the figures again on every call cost a sysinfo
   * loop more than the figures' own reads. */
  memory(now = Date.now()): { figures: MemoryFigures; shmem: number } | null {
    if (this.mem && now - this.mem.at < MEMORY_FIGURES_TTL_MS && now >= this.mem.at) return this.mem.v;
    const cg = this.snapshot({ memory: true });
    const host = this.src.host.read(['meminfo']);
    const figures = memoryFigures({ cg, host, nowMs: now, startedAtMs: 0, load: null, vnode: null });
    const v = figures && cg.memory ? { figures, shmem: Math.min(cg.memory.stat.shmem, figures.total) } : null;
    this.mem = { at: now, v };
    return v;
  }

  private cpus: { at: number; list: number[] } | undefined;

  /** The CPUs /sys/devices/system/cpu/online shows this container (quota and cpuset change
   * rarely: re-read at most every second, like vnodefs's limit cache). */
  visibleCpus(now = Date.now()): number[] {
    if (this.cpus && now - this.cpus.at < 1000) return this.cpus.list;
    const cg = this.snapshot({ cpu: true });
    this.cpus = { at: now, list: visibleCpus(cg.cpu, this.src.host.read(['onlineCpus']).onlineCpus) };
    return this.cpus.list;
  }

  /** What sysinfo answers from (NaN fields: the host's), valid while both the memory figures and
   * the task count stay cached here: for the addon's own answers (seccompwatch.cc), which then
   * give exactly what the JS handler would. */
  sysinfoFacts(now = Date.now()): SysinfoFacts {
    const mem = this.memory(now);
    const procs = this.tasks(now);
    const memAt = this.mem!.at;
    const tasksAt = this.taskCount!.at;
    return {
      from: Math.max(memAt, tasksAt),
      until: Math.min(memAt + MEMORY_FIGURES_TTL_MS, tasksAt + 1000),
      totalram: mem?.figures.total,
      freeram: mem?.figures.free,
      sharedram: mem?.shmem,
      bufferram: mem ? 0 : undefined,
      totalswap: mem?.figures.swapTotal,
      freeswap: mem?.figures.swapFree,
      procs,
      startedAtMs: this.target.startedAtMs,
      initStartSec: this.initStart === undefined ? undefined : this.initStart / USER_HZ,
    };
  }

  /** visibleCpus with the window it stays cached for. */
  visibleCpusWindow(now = Date.now()): { list: number[]; from: number; until: number } {
    const list = this.visibleCpus(now);
    return { list, from: this.cpus!.at, until: this.cpus!.at + 1000 };
  }

  /** Seconds the container has been up, given the host's uptime. */
  uptime(hostUptime: number, nowMs = Date.now()): number {
    if (this.target.startedAtMs !== undefined) return Math.max(0, Math.floor((nowMs - this.target.startedAtMs) / 1000));
    if (this.initStart === undefined) return hostUptime;
    return Math.max(0, Math.floor(hostUptime - this.initStart / USER_HZ));
  }

  private taskCount: { at: number; n: number | undefined } | undefined;

  /** Tasks in the container (pids.current, re-read at most every second), or undefined without
   * a pids controller. */
  tasks(now = Date.now()): number | undefined {
    if (this.taskCount && now - this.taskCount.at < 1000) return this.taskCount.n;
    this.taskCount = { at: now, n: this.readTasks() };
    return this.taskCount.n;
  }

  private readTasks(): number | undefined {
    const m = this.membership();
    const dir = this.src.cgroups.v1Dir(m, 'pids') ?? this.src.cgroups.v2Dir(m);
    const v = dir ? Number(readText(`${dir}/pids.current`)?.trim()) : NaN;
    return Number.isFinite(v) ? v : undefined;
  }

  /** Host pids in the container's cgroup (every hierarchy that has one), for stopping it. */
  cgroupProcs(): { key: string; pids: number[] } {
    const m = this.membership(0);
    const dirs = new Set<string>();
    // A root cgroup ('/') holds the host: never treat it as the container's.
    for (const [c, path] of m.v1) {
      const d = path !== '/' ? this.src.cgroups.v1Dir(m, c) : null;
      if (d) dirs.add(d);
    }
    const v2 = m.v2 !== '/' ? this.src.cgroups.v2Dir(m) : null;
    if (v2) dirs.add(v2);
    const pids = new Set<number>();
    for (const d of dirs) {
      for (const l of (readText(`${d}/cgroup.procs`) ?? '').split('\n')) if (/^\d+$/.test(l)) pids.add(Number(l));
    }
    return { key: membershipKey(m), pids: [...pids] };
  }
}

/** The caller's membership key now (to check a pid still belongs to the container). */
export function membershipKeyOf(pid: number): string | undefined {
  try {
    return membershipKey(parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'latin1')));
  } catch {
    return undefined;
  }
}
