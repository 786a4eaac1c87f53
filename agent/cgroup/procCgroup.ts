// Parses /proc/<pid>/cgroup: which cgroup a process is in, per v1 hierarchy and in the v2 tree.

/** Where one process sits: v1 paths by controller name, and the v2 path (the "0::" line). */
export interface CgroupMembership {
  /** controller -> path, e.g. memory -> /kubepods/pod1/c1. Named hierarchies ("name=systemd") are skipped. */
  v1: Map<string, string>;
  /** path in the unified hierarchy, or null when there is no 0:: line. */
  v2: string | null;
}

export function parseProcCgroup(text: string): CgroupMembership {
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  for (const line of text.split('\n')) {
    if (!line) continue;
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) continue;
    const ctrls = line.slice(a + 1, b);
    const path = line.slice(b + 1);
    if (line.slice(0, a) === '0' && ctrls === '') {
      v2 = path;
      continue;
    }
    for (const c of ctrls.split(',')) if (c && !c.startsWith('name=')) v1.set(c, path);
  }
  return { v1, v2 };
}

/** A stable text key for a membership: the cgroup that identifies the container. */
export function membershipKey(m: CgroupMembership): string {
  const p = m.v1.get('memory') ?? m.v1.get('cpu') ?? m.v1.get('cpuacct') ?? m.v1.get('pids');
  if (p !== undefined) return `v1:${p}`;
  return `v2:${m.v2 ?? '/'}`;
}
