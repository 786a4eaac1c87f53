// Refusing a host vNode cannot run on, before anything is touched, with a message that says why.
// Facts are gathered from the host (gatherHostFacts) and judged by a pure function (judgeHost), so
// tests give fake facts.
import { execFile } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { posix } from 'node:path';
import { promisify } from 'node:util';
import { atLeast, formatVersion, parseContainerdVersion, type ContainerdVersion } from './containerdVersion.js';
import type { HostRoot } from './HostRoot.js';

export type CgroupMode = 'v2' | 'hybrid' | 'v1';

export interface HostFacts {
  /** /proc/sys/kernel/osrelease, e.g. "6.1.0-18-amd64". */
  kernelRelease: string;
  cgroup: CgroupMode | 'unknown';
  /** /proc/sys/kernel/seccomp/actions_avail; undefined when the kernel has no seccomp filter support. */
  seccompActions?: string[];
  /** /proc/sys/user/max_user_namespaces. */
  maxUserNamespaces?: number;
  containerd?: ContainerdVersion;
  containerdError?: string;
  /** File system type of containerd's root dir (snapshots live there), from statfs. */
  containerdRootFs?: string;
  /** A real idmapped-mount probe, where one ran: true/false; undefined when none could run. */
  idmapProbe?: { ok: boolean; detail: string };
}

export interface PreflightPolicy {
  allowedCgroups: CgroupMode[];
}

export const DEFAULT_POLICY: PreflightPolicy = { allowedCgroups: ['v2', 'hybrid', 'v1'] };

/** What a finding is about: `vnode doctor` gives one verdict and fix per check. */
export type HostCheck = 'kernel' | 'cgroup' | 'seccomp' | 'userns' | 'containerd' | 'idmap';

export interface Finding {
  check: HostCheck;
  level: 'problem' | 'warning';
  message: string;
}

export interface Verdict {
  ok: boolean;
  problems: string[];
  warnings: string[];
  /** The same problems and warnings, each with the check it belongs to. */
  findings: Finding[];
}

export class UnsupportedHostError extends Error {
  constructor(readonly problems: string[]) {
    super(`this node cannot run vNode:\n  - ${problems.join('\n  - ')}`);
    this.name = 'UnsupportedHostError';
  }
}

/** Kernel release -> [major, minor, patch]; distribution suffixes ignored. */
export function kernelVersion(release: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

const kernelAtLeast = (k: [number, number, number], major: number, minor: number) => k[0] > major || (k[0] === major && k[1] >= minor);

// The kernel that first supports idmapped mounts on each file system containerd's snapshots may
// live on (mount_setattr MOUNT_ATTR_IDMAP: ext4/xfs/fat 5.12, btrfs 5.15, f2fs 5.18, tmpfs 6.3).
// overlayfs as the snapshot root means nested containers whose lower dirs cannot be idmapped here.
const IDMAP_FS: Record<string, [number, number]> = { ext4: [5, 12], xfs: [5, 12], vfat: [5, 12], btrfs: [5, 15], f2fs: [5, 18], tmpfs: [6, 3], zfs: [99, 0] };

export function judgeHost(f: HostFacts, policy: PreflightPolicy = DEFAULT_POLICY): Verdict {
  const findings: Finding[] = [];
  let check: HostCheck = 'kernel';
  const problems = { push: (message: string) => findings.push({ check, level: 'problem', message }) };
  const warnings = { push: (message: string) => findings.push({ check, level: 'warning', message }) };
  const k = kernelVersion(f.kernelRelease);
  if (!k) problems.push(`kernel release "${f.kernelRelease}" cannot be read`);
  else if (!kernelAtLeast(k, 5, 12)) {
    problems.push(`kernel ${f.kernelRelease} is older than 5.12: vNode needs idmapped mounts (mount_setattr, 5.12) and seccomp user notification with ADDFD (5.9)`);
  }

  check = 'cgroup';
  if (f.cgroup === 'unknown') problems.push('cgroup mode unknown: /sys/fs/cgroup of the host is neither cgroup2 nor a cgroup v1 tmpfs');
  else if (!policy.allowedCgroups.includes(f.cgroup)) problems.push(`cgroup ${f.cgroup} is not allowed by this installation (allowed: ${policy.allowedCgroups.join(', ')})`);
  else if (f.cgroup !== 'v2') warnings.push(`cgroup ${f.cgroup}: vNode is built for cgroup v2 nodes; v1 controllers work but per-vNode limits are coarser`);

  check = 'seccomp';
  if (!f.seccompActions) problems.push('seccomp filters are not available (/proc/sys/kernel/seccomp/actions_avail missing): vNode intercepts syscalls with seccomp user notification');
  else if (!f.seccompActions.includes('user_notif')) problems.push(`seccomp user notification is not available (actions: ${f.seccompActions.join(' ')}): vNode needs SECCOMP_RET_USER_NOTIF`);

  check = 'userns';
  if (f.maxUserNamespaces !== undefined && f.maxUserNamespaces < 1) problems.push('user namespaces are disabled (/proc/sys/user/max_user_namespaces is 0)');

  check = 'containerd';
  if (!f.containerd) problems.push(`containerd version unknown: ${f.containerdError ?? 'not found'}`);
  else if (!atLeast(f.containerd, 1, 6)) problems.push(`containerd ${formatVersion(f.containerd)} is older than 1.6: the vnode handler needs a per-runtime cni_conf_dir (1.6+)`);
  else if (f.containerd.major >= 3) problems.push(`containerd ${formatVersion(f.containerd)} is newer than this installer knows (1.6 to 2.x)`);

  check = 'idmap';
  if (f.idmapProbe) {
    if (!f.idmapProbe.ok) problems.push(`idmapped mounts do not work here: ${f.idmapProbe.detail}`);
  } else if (k && f.containerdRootFs) {
    const need = IDMAP_FS[f.containerdRootFs];
    if (f.containerdRootFs === 'overlay') problems.push("containerd's root is on overlayfs (a nested container?): its snapshots cannot be idmapped");
    else if (!need) warnings.push(`idmapped mounts on ${f.containerdRootFs} (containerd's root) are not known to work; vNode may fail to start pods`);
    else if (!kernelAtLeast(k, need[0], need[1])) {
      problems.push(`idmapped mounts on ${f.containerdRootFs} (containerd's root) need kernel ${need[0]}.${need[1]}+, this is ${f.kernelRelease}`);
    }
  }
  const of = (level: Finding['level']) => findings.filter((x) => x.level === level).map((x) => x.message);
  return { ok: of('problem').length === 0, problems: of('problem'), warnings: of('warning'), findings };
}

const FS_MAGIC: Record<number, string> = {
  0xef53: 'ext4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlay',
  0xf2f52010: 'f2fs',
  0x4d44: 'vfat',
  0x2fc12fc1: 'zfs',
  0x63677270: 'cgroup2',
  0x27e0eb: 'cgroup',
};

function fsType(podPath: string): string | undefined {
  try {
    const t = Number(statfsSync(podPath).type);
    return FS_MAGIC[t] ?? `0x${t.toString(16)}`;
  } catch {
    return undefined;
  }
}

export function cgroupMode(host: HostRoot): CgroupMode | 'unknown' {
  const top = fsType(host.path('/sys/fs/cgroup'));
  if (top === 'cgroup2') return 'v2';
  if (top !== 'tmpfs') return 'unknown';
  return fsType(host.path('/sys/fs/cgroup/unified')) === 'cgroup2' ? 'hybrid' : 'v1';
}

export interface GatherOptions {
  /** Host path of the containerd binary. */
  containerdBinary: string;
  /** Host path of containerd's root dir. */
  containerdRoot: string;
  /** Runs `<binary> --version`; default: exec the binary through the host root (it is static or
   * finds its libraries there only with chroot, so the default chroots when the root is not "/"). */
  runVersion?: (binaryPodPath: string) => Promise<string>;
  idmapProbe?: () => Promise<{ ok: boolean; detail: string }>;
}

export async function gatherHostFacts(host: HostRoot, o: GatherOptions): Promise<HostFacts> {
  const read = (p: string) => host.readText(p)?.trim();
  // /proc is the pod's, but in every pod it shows the one kernel the node runs.
  const facts: HostFacts = {
    kernelRelease: read('/proc/sys/kernel/osrelease') ?? (await import('node:os')).release(),
    cgroup: cgroupMode(host),
  };
  const actions = read('/proc/sys/kernel/seccomp/actions_avail');
  if (actions !== undefined) facts.seccompActions = actions.split(/\s+/);
  const maxNs = read('/proc/sys/user/max_user_namespaces');
  if (maxNs !== undefined) facts.maxUserNamespaces = Number(maxNs);
  const run = o.runVersion ?? ((bin: string) => defaultRunVersion(host, bin, o.containerdBinary));
  try {
    facts.containerd = parseContainerdVersion(await run(host.path(o.containerdBinary)));
  } catch (e) {
    facts.containerdError = `${o.containerdBinary} --version: ${(e as Error).message}`;
  }
  const rootFs = fsType(host.path(nearestExisting(host, o.containerdRoot)));
  if (rootFs) facts.containerdRootFs = rootFs;
  if (o.idmapProbe) facts.idmapProbe = await o.idmapProbe();
  return facts;
}

function nearestExisting(host: HostRoot, p: string): string {
  let cur = p;
  while (cur !== '/' && !host.exists(cur)) cur = posix.dirname(cur);
  return cur;
}

async function defaultRunVersion(host: HostRoot, podPath: string, hostBinary: string): Promise<string> {
  const exec = promisify(execFile);
  if (host.root === '/') return (await exec(podPath, ['--version'], { timeout: 10_000 })).stdout;
  return (await exec('chroot', [host.root, hostBinary, '--version'], { timeout: 10_000 })).stdout;
}
