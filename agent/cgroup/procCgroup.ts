// Parses /proc/<pid>/cgroup: which cgroup a process is in, per v1 hierarchy and in the v2 tree.

/** Where one process sits: v1 paths by controller name, and the v2 path (the "0::" line). */
export interface CgroupMembership {
  /** controller -> path, e.g. memory -> /kubepods/pod1/c1. Named hierarchies ("name=systemd") are skipped. */
  v1: Map<string, string>;
  /** path in the unified hierarchy, or null when there is no 0:: line. */
  v2: string | null;
}

/** One line of /proc/<pid>/cgroup: hierarchy id, its controllers (v1; "name=..." for a named
 * hierarchy; none for the v2 tree, id 0) and the path. */
export interface ProcCgroupLine {
  id: string;
  controllers: string[];
  path: string;
}

export function procCgroupLines(text: string): ProcCgroupLine[] {
  const out: ProcCgroupLine[] = [];
  for (const line of text.split('\n')) {
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) continue;
    out.push({ id: line.slice(0, a), controllers: line.slice(a + 1, b).split(',').filter(Boolean), path: line.slice(b + 1) });
  }
  return out;
}

/** Whether a line is the v2 tree's ("0::path"). */
export const isV2Line = (l: ProcCgroupLine): boolean => l.id === '0' && l.controllers.length === 0;

export function parseProcCgroup(text: string): CgroupMembership {
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  for (const l of procCgroupLines(text)) {
    if (isV2Line(l)) {
      v2 = l.path;
      continue;
    }
    for (const c of l.controllers) if (!c.startsWith('name=')) v1.set(c, l.path);
  }
  return { v1, v2 };
}

/** A stable text key for a membership: the cgroup that identifies the container. */
export function membershipKey(m: CgroupMembership): string {
  const p = m.v1.get('memory') ?? m.v1.get('cpu') ?? m.v1.get('cpuacct') ?? m.v1.get('pids');
  if (p !== undefined) return `v1:${p}`;
  return `v2:${m.v2 ?? '/'}`;
}
