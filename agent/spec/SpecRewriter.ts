// The OCI spec rewrite that puts a pod's containers into their vNode. A pure function from the
// spec containerd wrote (config.json) plus what the vNode layer knows, to the spec runc runs:
// - the vNode's user namespace (joined by path) with its uid/gid maps on every container;
// - the pod's own network namespace owned by that user namespace (made by vnode-cni), or the
//   vNode's network for hostNetwork pods, the vNode's pid/ipc/uts for hostPID/hostIPC/hostNetwork;
// - privileged stays privileged, but only inside the user namespace: host devices are cut down to
//   a safe set, and nothing else of the host is granted; devices the container asked for (and the
//   manager allowed, DeviceRequests.ts) are bound from nodes owned by the vNode's ids;
// - the FUSE /proc and /sys files of vnodefs bound over the real ones, where it runs, also over
//   the procfs and sysfs instances that stand in for a hostPath of the host's /proc or /sys.
// Host-path mounts pass through unchanged: the user namespace makes them owned by unmapped ids,
// so a root-owned host file stays unwritable (docs/pods.md).
import { z } from 'zod';

const NamespaceSchema = z.object({ type: z.string(), path: z.string().optional() }).passthrough();
const IdMapSchema = z.object({ containerID: z.number(), hostID: z.number(), size: z.number() });
const MountSchema = z.object({ destination: z.string(), type: z.string().optional(), source: z.string().optional(), options: z.array(z.string()).optional() }).passthrough();
const DeviceSchema = z.object({ path: z.string(), type: z.string(), major: z.number().optional(), minor: z.number().optional() }).passthrough();
const DeviceRuleSchema = z.object({ allow: z.boolean(), type: z.string().optional(), major: z.number().nullable().optional(), minor: z.number().nullable().optional(), access: z.string().optional() }).passthrough();

/** The parts of an OCI runtime spec the rewrite reads or writes; everything else passes through. */
export const OciSpecSchema = z
  .object({
    ociVersion: z.string(),
    process: z.object({}).passthrough().optional(),
    root: z.object({ path: z.string(), readonly: z.boolean().optional() }).passthrough().optional(),
    hostname: z.string().optional(),
    mounts: z.array(MountSchema).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    linux: z
      .object({
        namespaces: z.array(NamespaceSchema).optional(),
        uidMappings: z.array(IdMapSchema).optional(),
        gidMappings: z.array(IdMapSchema).optional(),
        devices: z.array(DeviceSchema).optional(),
        resources: z.object({ devices: z.array(DeviceRuleSchema).optional() }).passthrough().optional(),
        seccomp: z.object({}).passthrough().optional(),
        maskedPaths: z.array(z.string()).optional(),
        readonlyPaths: z.array(z.string()).optional(),
      })
      .passthrough(),
  })
  .passthrough();
export type OciSpec = z.infer<typeof OciSpecSchema>;
export type OciMount = z.infer<typeof MountSchema>;

export class SpecError extends Error {
  override name = 'SpecError';
}

/** Parses config.json text; a malformed spec is an error naming the bad field. */
export function parseSpec(text: string, where: string): OciSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SpecError(`${where}: not JSON: ${(e as Error).message}`);
  }
  const r = OciSpecSchema.safeParse(raw);
  if (!r.success) throw new SpecError(`${where}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** What the rewrite needs to know about the vNode and the pod. */
export interface VNodeTarget {
  /** /proc/<holder>/ns/<kind> of the vNode's holder. */
  namespaces: { user: string; net: string; ipc: string; uts: string; pid: string };
  idRange: { uidStart: number; gidStart: number; size: number };
  /** The pod's own network namespace (owned by the vNode's user namespace), unless hostNetwork. */
  podNetns?: string;
  /** Files and directories of vnodefs to bind over /proc and /sys (absent when vnodefs does not
   * run; see containerBindings()). */
  procBindings?: ProcBinding[];
  /** Whether the host has a path: a binding whose destination the host lacks (DMI on a machine
   * without it) is left out, since runc would try to create it and fail the container.
   * Absent: every binding is made. */
  hostHas?: (path: string) => boolean;
  /** The mount a host path lives on: its type and its locked flags (see hostMountOf.ts). */
  hostMountOf?: (source: string) => { fsType: string; lockedFlags: string[] } | undefined;
  /** Layers the vNode's seccomp rules (notify to the manager, deny set) on the container's own. */
  seccomp?: (existing: Record<string, unknown> | undefined) => Record<string, unknown>;
  /** Devices the container asked for and may have (DeviceRequests.ts), each as a node the manager
   * made owned by the vNode's ids (agent/pods/DeviceNodes.ts), bound at its container path. */
  devices?: GrantedDevice[];
}

export interface GrantedDevice {
  containerPath: string;
  /** The node on the host the manager made for this container. */
  hostNode: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  access: string;
}

export interface ProcBinding {
  /** in the vnodefs mount */
  source: string;
  /** the /proc or /sys path it stands for */
  destination: string;
  /** a /proc/sys entry the vNode writes (bound without ro, before runc start) */
  writable?: boolean;
  /** bound by the manager before runc start (VNodePods.bindBeforeStart): runc refuses it under the container's /proc */
  inject?: boolean;
  /** one of the container's own files (vnodefs' containers/<id>/): its first lookup reaches vnodefs */
  own?: boolean;
}

export interface HostNamespaces {
  hostNetwork: boolean;
  hostPID: boolean;
  hostIPC: boolean;
}

/** Host-namespace flags can only be read from the sandbox spec (CRI gives containers paths). */
export function hostNamespacesOf(sandboxSpec: OciSpec): HostNamespaces {
  const has = (t: string): boolean => (sandboxSpec.linux.namespaces ?? []).some((n) => n.type === t);
  return { hostNetwork: !has('network'), hostPID: !has('pid'), hostIPC: !has('ipc') };
}

/**
 * Character devices a vNode container may have from the host (by bind mount, as runc does in a
 * user namespace): the ones every container gets, plus fuse and tun for builders and VPNs inside
 * a vNode. Each is safe: it reaches no host state beyond what its namespace already scopes.
 */
export const SAFE_DEVICES: readonly { path: string; major: number; minor: number }[] = [
  { path: '/dev/null', major: 1, minor: 3 },
  { path: '/dev/zero', major: 1, minor: 5 },
  { path: '/dev/full', major: 1, minor: 7 },
  { path: '/dev/random', major: 1, minor: 8 },
  { path: '/dev/urandom', major: 1, minor: 9 },
  { path: '/dev/tty', major: 5, minor: 0 },
  { path: '/dev/fuse', major: 10, minor: 229 },
  { path: '/dev/net/tun', major: 10, minor: 200 },
];

const isSafeDevice = (type: string, major?: number | null, minor?: number | null): boolean =>
  type === 'c' && SAFE_DEVICES.some((d) => d.major === major && d.minor === minor);

/** The spec mounts the container's cgroupfs read-write (containerd does so for privileged containers only). */
export function cgroupWritable(spec: { mounts?: { destination?: string; type?: string; options?: string[] }[] }): boolean {
  return (spec.mounts ?? []).some((m) => (m.type === 'cgroup' || m.type === 'cgroup2') && m.destination === '/sys/fs/cgroup' && !(m.options ?? []).includes('ro'));
}

/**
 * Rewrites a sandbox's or container's spec for its vNode. `sandbox` says which it is; `host` are
 * the pod's host-namespace flags (from the sandbox spec).
 */
export function rewriteSpec(input: OciSpec, sandbox: boolean, host: HostNamespaces, v: VNodeTarget): OciSpec {
  const spec: OciSpec = structuredClone(input);
  const linux = spec.linux;

  // Namespaces. runc joins the user namespace first, so every other namespace joined by path must
  // be owned by it (the holder's are; containerd's own netns is not, hence the pod netns).
  const ns = (linux.namespaces ?? []).filter((n) => n.type !== 'user');
  const join = (type: string, path: string): void => {
    const i = ns.findIndex((n) => n.type === type);
    if (i >= 0) ns[i] = { ...ns[i], type, path };
    else ns.push({ type, path });
  };
  if (sandbox) {
    if (host.hostNetwork) {
      join('network', v.namespaces.net);
      join('uts', v.namespaces.uts);
    } else {
      if (!v.podNetns) throw new SpecError('the pod has no network namespace of its vNode (did vnode-cni run for it?)');
      join('network', v.podNetns);
    }
    if (host.hostPID) join('pid', v.namespaces.pid);
    if (host.hostIPC) join('ipc', v.namespaces.ipc);
  }
  // A container whose cgroupfs is read-write (privileged: the manager delegates its cgroup to the
  // vNode's root, agent/pods/delegation.ts) gets a cgroup namespace rooted at that cgroup, as a
  // v2 node gives every container: systemd or a runtime in it sees its cgroup as "/" and makes its
  // tree there, and no host cgroup path shows.
  if (!sandbox && cgroupWritable(spec) && !ns.some((n) => n.type === 'cgroup')) ns.push({ type: 'cgroup' });
  // Containers keep CRI's /proc/<sandbox>/ns/* paths: the sandbox's namespaces are the vNode's now.
  linux.namespaces = [{ type: 'user', path: v.namespaces.user }, ...ns];
  // runc wants the maps even when it joins the user namespace; they must be the holder's.
  linux.uidMappings = [{ containerID: 0, hostID: v.idRange.uidStart, size: v.idRange.size }];
  linux.gidMappings = [{ containerID: 0, hostID: v.idRange.gidStart, size: v.idRange.size }];

  // Devices: a privileged container gets every host device from CRI; keep only the safe set.
  // Requested devices are not runc's to make: in a user namespace runc binds the host node at the
  // *container* path, owned by an unmapped host id; the manager's own node is bound instead.
  const granted = v.devices ?? [];
  const grantedAt = new Set(granted.map((d) => d.containerPath));
  if (linux.devices) linux.devices = linux.devices.filter((d) => isSafeDevice(d.type, d.major, d.minor) && !grantedAt.has(d.path));
  if (granted.length) {
    // Appended: after the container's /dev, which runc mounts first.
    spec.mounts = [...(spec.mounts ?? []), ...granted.map((d) => ({ destination: d.containerPath, type: 'bind', source: d.hostNode, options: ['bind', 'nosuid', 'noexec'] }))];
    linux.resources ??= {};
  }
  if (linux.resources) {
    // Device cgroup: deny all, then allow exactly the safe set and the terminal devices (ptmx,
    // pts, console) every container needs; CRI's own rules for a privileged pod allow all.
    const allow = [
      ...SAFE_DEVICES.map((d) => ({ major: d.major, minor: d.minor as number | null })),
      { major: 5, minor: 1 },
      { major: 5, minor: 2 },
      { major: 136, minor: null },
    ];
    linux.resources.devices = [
      { allow: false, access: 'rwm' },
      ...allow.map((d) => ({ allow: true, type: 'c', major: d.major, minor: d.minor, access: 'rwm' })),
      ...granted.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.access })),
    ];
  }

  // The sandbox mounts the pod netns's sysfs first, and a sysfs superblock is shared per network
  // namespace: mounted read-only it would stay read-only for every container of the pod, and a
  // privileged one could then mount no sysfs of its own (the kernel refuses a rw mount of a
  // read-only superblock in a user namespace). The pause process never touches /sys.
  if (sandbox) {
    for (const m of spec.mounts ?? []) if (m.type === 'sysfs' && m.options?.includes('ro')) m.options = m.options.filter((o) => o !== 'ro');
  }

  // Seccomp: the syscalls the manager answers, and what no vNode may do, over the container's own
  // profile (none for a privileged container).
  // The sandbox runs only our pause binary, which makes none of those calls (and its namespaces,
  // not its filter, are what containers share): no listener round trip on its start.
  if (v.seccomp && !sandbox) linux.seccomp = v.seccomp(linux.seccomp as Record<string, unknown> | undefined);

  // Bind mounts of host paths. A bind of the host's procfs or sysfs (a node exporter's hostPath
  // /proc or /sys) would show the host's processes and devices: it becomes a new procfs or sysfs
  // instance of the container's own namespaces (the vNode's with hostPID/hostNetwork). Any other
  // bind repeats its source mount's nosuid/nodev/noexec: in a user namespace those are locked,
  // and runc's read-only remount fails with EPERM unless it repeats them.
  // The new instances are noted: vnodefs' files go over them as over the container's own.
  const instances: { destination: string; fsType: 'proc' | 'sysfs' }[] = [];
  if (v.hostMountOf && spec.mounts) {
    spec.mounts = spec.mounts.map((m) => {
      const opts = m.options ?? [];
      if (!m.source?.startsWith('/') || !(m.type === 'bind' || opts.includes('bind') || opts.includes('rbind'))) return m;
      const host = v.hostMountOf!(m.source);
      if (!host) return m;
      if (host.fsType === 'proc' || host.fsType === 'sysfs') {
        const ro = opts.includes('ro') || host.fsType === 'sysfs';
        instances.push({ destination: m.destination, fsType: host.fsType });
        return { destination: m.destination, type: host.fsType, source: host.fsType, options: ['nosuid', 'noexec', 'nodev', ...(ro ? ['ro'] : [])] };
      }
      const add = host.lockedFlags.filter((f) => !opts.includes(f));
      return add.length ? { ...m, options: [...opts, ...add] } : m;
    });
  }

  // vnodefs: the emulated /proc and /sys files over the real ones (read-only binds). The pause
  // process reads none of them.
  if (v.procBindings?.length && !sandbox) {
    const mounts = spec.mounts ?? [];
    const bind = (destination: string, source: string): void => {
      if (mounts.some((m) => m.destination === destination)) return;
      mounts.push({ destination, type: 'bind', source, options: ['bind', 'ro', 'nosuid', 'nodev'] });
    };
    const present = v.procBindings.filter((b) => !v.hostHas || v.hostHas(b.destination));
    // The container's own /proc and /sys: what runc accepts here; the rest (/proc/sys entries)
    // the manager binds before runc start.
    for (const b of present) if (!b.inject) bind(b.destination, b.source);
    // A hostPath of the host's /proc or /sys became an instance of the container's own: the same
    // files below its destination, where runc binds any path (it refuses only the container's
    // /proc). Not the writable /proc/sys entries: a node agent reads /host/proc, and a write
    // there reaches the kernel's own entry, which the vNode's root may not change anyway.
    for (const inst of instances) {
      const prefix = inst.fsType === 'proc' ? '/proc/' : '/sys/';
      const root = inst.destination.replace(/\/+$/, '');
      // An instance on the container's own /proc gets its /proc/sys files at the start.
      const underProc = root === '/proc' || root.startsWith('/proc/');
      for (const b of present) {
        if (b.writable || !b.destination.startsWith(prefix) || (b.inject && underProc)) continue;
        bind(`${root}/${b.destination.slice(prefix.length)}`, b.source);
      }
    }
    spec.mounts = mounts;
  }
  return spec;
}
