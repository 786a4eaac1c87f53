// `vnode doctor`: the host checks, each with a verdict and the fix. The kernel, cgroup, seccomp,
// user namespace, containerd version and idmapped-mount facts and their judgement are the
// installer's preflight (gatherHostFacts, judgeHost); FUSE, containerd's config, the CNI chain
// and the manager are checked here.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { HostRoot } from '../../installer/HostRoot.js';
import { gatherHostFacts, judgeHost, type HostCheck, type HostFacts } from '../../installer/preflight.js';

export type DoctorCheckName = HostCheck | 'fuse' | 'containerd-config' | 'cni' | 'manager';

export interface DoctorCheck {
  check: DoctorCheckName;
  verdict: 'ok' | 'warn' | 'fail';
  detail: string;
  /** What to do; empty when the verdict is ok. */
  fix: string;
}

export const FIXES: Record<DoctorCheckName, string> = {
  kernel: 'run kernel 6.6 or later (Debian 12: linux-image-amd64 from bookworm-backports)',
  cgroup: 'boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1 on the kernel command line)',
  seccomp: 'run a kernel built with CONFIG_SECCOMP_FILTER (seccomp user notification is in every kernel since 5.0)',
  userns: 'sysctl -w user.max_user_namespaces=15000, and keep it in /etc/sysctl.d/',
  containerd: 'install containerd 1.6 to 2.x (Debian 12: apt-get install containerd)',
  idmap: "put containerd's root on ext4, xfs or btrfs (not overlayfs), or run a kernel that idmaps its file system",
  fuse: 'modprobe fuse (and apt-get install fuse3); vnodefs serves /proc and /sys through /dev/fuse',
  'containerd-config': "install vNode with its installer (helm install, or kubectl apply -f manifests/vnode-runtime.yaml): it adds the vnode runtime handler to containerd's config and restarts containerd",
  cni: "give the node a CNI network first (a conflist in containerd's cni conf dir), then reinstall vNode: the installer chains vnode-cni into the vnode handler's own CNI config",
  manager: 'look at the vnode-manager: kubectl -n vnode-system logs ds/vnode-runtime (on the local node: npm run local)',
};

export interface DoctorInputs {
  facts: HostFacts;
  /** /dev/fuse exists and the kernel lists fuse in /proc/filesystems. */
  fuse: { dev: boolean; filesystem: boolean };
  containerdConfig: { path: string; text: string | null };
  cni: { confDir: string; binDir: string; conflists: { file: string; text: string }[]; binaries: string[] };
  manager: { ok: boolean; message: string };
}

function fromFindings(facts: HostFacts): DoctorCheck[] {
  const v = judgeHost(facts);
  const checks: HostCheck[] = ['kernel', 'cgroup', 'seccomp', 'userns', 'containerd', 'idmap'];
  return checks.map((check) => {
    const mine = v.findings.filter((f) => f.check === check);
    const verdict = mine.some((f) => f.level === 'problem') ? 'fail' : mine.length ? 'warn' : 'ok';
    const okDetail: Record<HostCheck, string> = {
      kernel: `kernel ${facts.kernelRelease}`,
      cgroup: `cgroup ${facts.cgroup}`,
      seccomp: 'seccomp user notification available',
      userns: `user namespaces enabled (max ${facts.maxUserNamespaces ?? 'unknown'})`,
      containerd: `containerd ${facts.containerd?.raw ?? 'unknown'}`,
      idmap: `containerd's root on ${facts.containerdRootFs ?? 'an unknown file system'}`,
    };
    return { check, verdict, detail: mine.length ? mine.map((f) => f.message).join('; ') : okDetail[check], fix: verdict === 'ok' ? '' : FIXES[check] };
  });
}

/** The verdicts, a pure function of what was read (tested with made-up inputs). */
export function doctorChecks(i: DoctorInputs): DoctorCheck[] {
  const out = fromFindings(i.facts);
  const add = (check: DoctorCheckName, verdict: DoctorCheck['verdict'], detail: string) => out.push({ check, verdict, detail, fix: verdict === 'ok' ? '' : FIXES[check] });

  if (i.fuse.dev && i.fuse.filesystem) add('fuse', 'ok', '/dev/fuse present, fuse in /proc/filesystems');
  else add('fuse', 'fail', [!i.fuse.dev && '/dev/fuse is missing', !i.fuse.filesystem && 'the kernel has no fuse file system (/proc/filesystems)'].filter(Boolean).join('; '));

  const c = i.containerdConfig;
  if (c.text === null) add('containerd-config', 'fail', `${c.path} cannot be read`);
  else {
    let handler: unknown;
    try {
      handler = findRuntime(parseToml(c.text), 'vnode');
    } catch (e) {
      add('containerd-config', 'fail', `${c.path} is not valid TOML: ${(e as Error).message.split('\n')[0]}`);
      handler = null;
    }
    if (handler === undefined) add('containerd-config', 'fail', `${c.path} has no runtime handler "vnode"`);
    else if (handler !== null) {
      const type = (handler as { runtime_type?: unknown }).runtime_type;
      if (type !== 'io.containerd.vnode.v2') add('containerd-config', 'fail', `the vnode runtime in ${c.path} has runtime_type ${JSON.stringify(type)}, not "io.containerd.vnode.v2"`);
      else add('containerd-config', 'ok', `${c.path}: runtime handler vnode (io.containerd.vnode.v2)`);
    }
  }

  const n = i.cni;
  const chained = n.conflists.find((l) => /"type"\s*:\s*"vnode-cni"/.test(l.text));
  if (!chained) add('cni', 'fail', `no conflist in ${n.confDir} chains vnode-cni`);
  else {
    let types: string[] = [];
    try {
      types = ((JSON.parse(chained.text) as { plugins?: { type?: string }[] }).plugins ?? []).map((p) => p.type ?? '');
    } catch (e) {
      add('cni', 'fail', `${chained.file} is not JSON: ${(e as Error).message}`);
    }
    const missing = types.filter((t) => t && !n.binaries.includes(t));
    if (missing.length) add('cni', 'fail', `${chained.file} needs plugins missing from ${n.binDir}: ${missing.join(', ')}`);
    else if (types.length) add('cni', 'ok', `${chained.file}: ${types.join(' -> ')}`);
  }

  add('manager', i.manager.ok ? 'ok' : 'fail', i.manager.message);
  return out;
}

/** Finds [..."runtimes".<name>] anywhere in containerd's config (its plugin ids differ between 1.x and 2.x). */
function findRuntime(t: unknown, name: string): unknown {
  if (!t || typeof t !== 'object') return undefined;
  for (const [k, v] of Object.entries(t as Record<string, unknown>)) {
    if (k === 'runtimes' && v && typeof v === 'object' && name in v) return (v as Record<string, unknown>)[name];
    const r = findRuntime(v, name);
    if (r !== undefined) return r;
  }
  return undefined;
}

function readOrNull(p: string): string | null {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

export async function gatherDoctorInputs(o: { containerdConfig: string; containerdRoot: string; containerdBinary: string; cniConfDir: string; cniBinDir: string; manager: { ok: boolean; message: string } }): Promise<DoctorInputs> {
  const facts = await gatherHostFacts(new HostRoot('/'), { containerdBinary: o.containerdBinary, containerdRoot: o.containerdRoot });
  const list = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  return {
    facts,
    fuse: { dev: existsSync('/dev/fuse'), filesystem: /\bfuse\n/.test(readOrNull('/proc/filesystems') ?? '') },
    containerdConfig: { path: o.containerdConfig, text: readOrNull(o.containerdConfig) },
    cni: {
      confDir: o.cniConfDir,
      binDir: o.cniBinDir,
      conflists: list(o.cniConfDir)
        .filter((f) => f.endsWith('.conflist'))
        .sort()
        .map((f) => ({ file: join(o.cniConfDir, f), text: readOrNull(join(o.cniConfDir, f)) ?? '' })),
      binaries: list(o.cniBinDir),
    },
    manager: o.manager,
  };
}
