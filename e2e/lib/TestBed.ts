// The e2e test bed: a private containerd 1.6 (Debian's) with its own config, root, state, sockets,
// runc root, CNI bridge and subnet, the test images imported, and a CRI client that drives it the
// way kubelet does. Teardown removes every process, mount, netns, bridge, cgroup and file it made,
// also after a failed or interrupted run (a new bed first clears what a dead bed of the same name
// left behind).
import { spawn } from 'node:child_process';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify as tomlStringify } from 'smol-toml';
import { CriClient, type CriMessage } from '../../installer/cri/CriClient.js';
import { ensureTestImages, type TestImages } from './testImages.js';
import { processRunning } from '../../agent/common/procState.js';
import { isAlive, linkExists, mounts, processes, sh, waitFor } from './hostState.js';
import { mountPointsUnder } from '../../agent/common/mountinfo.js';
import { ContainerConfigBuilder, PodConfigBuilder, type ContainerOptions, type PodOptions } from './podConfig.js';

export const REPO_ROOT = join(dirname(new URL(import.meta.url).pathname), '../../..');
export const TREE_DIR = join(REPO_ROOT, 'build/opt/vnode');

/**
 * Every cgroup hierarchy mounted under /sys/fs/cgroup (as dir names there), read from mountinfo:
 * controllers are co-mounted on some hosts (`cpu,cpuacct`) and separate on others (`cpu` and
 * `cpuacct` here), and a fixed list missed one or the other.
 */
function cgroupHierarchies(): string[] {
  const dirs = new Set<string>();
  for (const m of mounts()) {
    if ((m.fsType === 'cgroup' || m.fsType === 'cgroup2') && m.mountPoint.startsWith('/sys/fs/cgroup/')) dirs.add(m.mountPoint.slice('/sys/fs/cgroup/'.length));
  }
  return [...dirs];
}
const CGROUP_V1_CONTROLLERS = cgroupHierarchies();

export interface RuntimeHandler {
  runtime_type: string;
  runtime_path?: string;
  cni_conf_dir?: string;
  cni_max_conf_num?: number;
  pod_annotations?: string[];
  container_annotations?: string[];
  privileged_without_host_devices?: boolean;
  options?: Record<string, unknown>;
}

export interface TestBedOptions {
  /** Short [a-z0-9] name; paths, the bridge and the CNI network derive from it. */
  name: string;
  /** Third octet of the pod subnet 10.210.<n>.0/24. */
  subnetIndex: number;
  /** Where everything lives; default /run/vnt-<name>. */
  baseDir?: string;
  /** containerd's CRI socket; default <base>/containerd.sock. */
  socket?: string;
  /** Extra runtime handlers beside `runc` (the test adds them itself only where the installer is not under test). */
  runtimes?: Record<string, RuntimeHandler>;
  /** Extra environment for containerd (and so for shims, runc and CNI plugins it runs). */
  env?: Record<string, string>;
  /** Directories put in front of containerd's PATH. */
  path?: string[];
  /** Write the config but let the caller (e.g. the installer under test) edit it before start. */
  deferStart?: boolean;
  /** Link build/opt/vnode/bin/vnode-cni into the bed's CNI bin dir. Off by default: the installer owns that link. */
  linkVnodeCni?: boolean;
  /**
   * Lay the bed out like a node under its base (etc/containerd/config.toml, etc/cni/net.d,
   * opt/cni/bin, run/containerd/containerd.sock), so a DaemonSet's hostPath volumes can name
   * exactly the directories an installer touches on a real node.
   */
  hostLayout?: boolean;
  /**
   * Make the base a shared mount (a bind mount of itself), as / is on a systemd node, so CRI
   * accepts HostToContainer / Bidirectional propagation for host paths under it.
   */
  sharedMount?: boolean;
}

export class TestBed {
  readonly base: string;
  readonly socket: string;
  readonly ttrpcSocket: string;
  readonly configPath: string;
  readonly root: string;
  readonly state: string;
  readonly runcRoot: string;
  readonly cniConfDir: string;
  readonly cniBinDir: string;
  readonly network: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly gateway: string;
  readonly cgroupRoot: string;
  readonly logDir: string;
  readonly containerdLog: string;
  private pid = 0;
  private _cri: CriClient | undefined;
  images!: TestImages;
  private podSeq = 0;
  private onSignal: (() => void) | undefined;
  /** Host directories that containerd, runc shims or CNI create on first use; removed if we made them. */
  private static readonly SHARED_DIRS = ['/var/lib/cni/results', '/var/lib/cni', '/run/containerd/s', '/run/containerd/fifo', '/run/containerd'];
  private readonly preexisting = new Set(TestBed.SHARED_DIRS.filter((d) => existsSync(d)));

  private constructor(readonly opts: TestBedOptions) {
    if (!/^[a-z0-9]{1,8}$/.test(opts.name)) throw new Error(`test bed name ${opts.name}: 1-8 of [a-z0-9]`);
    this.base = opts.baseDir ?? `/run/vnt-${opts.name}`;
    const host = !!opts.hostLayout;
    this.socket = opts.socket ?? join(this.base, host ? 'run/containerd/containerd.sock' : 'containerd.sock');
    this.ttrpcSocket = `${this.socket}.ttrpc`;
    this.configPath = join(this.base, host ? 'etc/containerd/config.toml' : 'config.toml');
    this.root = join(this.base, 'root');
    this.state = join(this.base, 'state');
    this.runcRoot = join(this.base, 'runc');
    this.cniConfDir = join(this.base, host ? 'etc/cni/net.d' : 'cni/net.d');
    this.cniBinDir = join(this.base, host ? 'opt/cni/bin' : 'cni/bin');
    this.network = `vnt-${opts.name}`;
    this.bridge = `vnt-${opts.name}`.slice(0, 15);
    this.subnet = `10.210.${opts.subnetIndex}.0/24`;
    this.gateway = `10.210.${opts.subnetIndex}.1`;
    this.cgroupRoot = `vnt-${opts.name}`;
    this.logDir = join(this.base, 'logs');
    this.containerdLog = join(this.base, 'containerd.log');
  }

  /** Clears leftovers of an earlier bed of this name, writes config, starts containerd, imports images. */
  static async start(opts: TestBedOptions): Promise<TestBed> {
    const bed = new TestBed(opts);
    await bed.teardown(); // an interrupted earlier run of the same bed
    try {
      bed.prepare();
      if (!opts.deferStart) {
        await bed.startContainerd();
        await bed.importImages();
      }
    } catch (e) {
      await bed.teardown();
      throw e;
    }
    bed.onSignal = () => {
      void bed.teardown().finally(() => process.exit(130));
    };
    process.once('SIGINT', bed.onSignal);
    process.once('SIGTERM', bed.onSignal);
    return bed;
  }

  /** A handle on an existing bed (e.g. the local node) without starting anything. */
  static attach(opts: TestBedOptions): TestBed {
    return new TestBed(opts);
  }

  get cri(): CriClient {
    this._cri ??= new CriClient(this.socket);
    return this._cri;
  }

  get containerdPid(): number {
    return this.pid;
  }

  /** The runtime entries of the CRI plugin, as TOML tables. */
  private runtimeTables(): Record<string, unknown> {
    const runtimes: Record<string, unknown> = {
      runc: {
        runtime_type: 'io.containerd.runc.v2',
        options: { SystemdCgroup: false, Root: this.runcRoot },
      },
    };
    for (const [name, r] of Object.entries(this.opts.runtimes ?? {})) runtimes[name] = r;
    return runtimes;
  }

  configToml(): string {
    const cfg = {
      version: 2,
      root: this.root,
      state: this.state,
      oom_score: 0,
      grpc: { address: this.socket },
      ttrpc: { address: this.ttrpcSocket },
      // Snapshotters and plugins this machine cannot use only slow the start and log errors.
      disabled_plugins: [
        'io.containerd.snapshotter.v1.aufs',
        'io.containerd.snapshotter.v1.btrfs',
        'io.containerd.snapshotter.v1.devmapper',
        'io.containerd.snapshotter.v1.zfs',
        'io.containerd.tracing.processor.v1.otlp',
        'io.containerd.internal.v1.tracing',
      ],
      plugins: {
        'io.containerd.grpc.v1.cri': {
          sandbox_image: this.images ? this.images.pause.name : 'localhost/pause:vnode-test',
          // Needed on this machine (platform-facts.md): without it every sandbox fails.
          restrict_oom_score_adj: true,
          disable_apparmor: true,
          tolerate_missing_hugetlb_controller: true,
          netns_mounts_under_state_dir: true,
          stream_server_port: '0',
          cni: { bin_dir: this.cniBinDir, conf_dir: this.cniConfDir, max_conf_num: 1 },
          containerd: {
            snapshotter: 'overlayfs',
            default_runtime_name: 'runc',
            runtimes: this.runtimeTables(),
          },
        },
        // Not <base>/opt under the host layout: that is the node's /opt there.
        'io.containerd.internal.v1.opt': { path: join(this.base, this.opts.hostLayout ? 'containerd-opt' : 'opt') },
      },
    };
    return `# containerd config of the vNode e2e test bed ${this.opts.name}\n${tomlStringify(cfg)}\n`;
  }

  private prepare(): void {
    if (this.opts.sharedMount) {
      mkdirSync(this.base, { recursive: true });
      sh('mount', ['--bind', this.base, this.base]);
      sh('mount', ['--make-rshared', this.base]);
    }
    for (const d of [this.base, this.root, this.state, this.runcRoot, this.cniConfDir, this.cniBinDir, this.logDir, join(this.base, 'ipam'), dirname(this.configPath), dirname(this.socket)]) {
      mkdirSync(d, { recursive: true });
    }
    // CNI plugins: Debian's, plus vNode's (when asked for) in one private dir.
    for (const p of readdirSync('/usr/lib/cni')) sh('ln', ['-sf', join('/usr/lib/cni', p), join(this.cniBinDir, p)]);
    if (this.opts.linkVnodeCni && existsSync(join(TREE_DIR, 'bin/vnode-cni'))) sh('ln', ['-sf', join(TREE_DIR, 'bin/vnode-cni'), join(this.cniBinDir, 'vnode-cni')]);
    writeFileSync(join(this.cniConfDir, `10-${this.network}.conflist`), JSON.stringify(this.hostNetworkConflist(), null, 2));
    this.images = ensureTestImages();
    writeFileSync(this.configPath, this.configToml());
  }

  /** The host's pod network of this bed: a bridge with host-local IPAM on a private subnet, no masquerade. */
  hostNetworkConflist(): Record<string, unknown> {
    return {
      cniVersion: '1.0.0',
      name: this.network,
      plugins: [
        {
          type: 'bridge',
          bridge: this.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: this.subnet, gateway: this.gateway }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(this.base, 'ipam') },
        },
      ],
    };
  }

  async startContainerd(): Promise<void> {
    const log = openSync(this.containerdLog, 'a');
    const env = {
      ...process.env,
      ...this.opts.env,
      PATH: [...(this.opts.path ?? []), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':'),
    };
    const proc = spawn('containerd', ['--config', this.configPath], { stdio: ['ignore', log, log], env, detached: true });
    closeSync(log);
    this.pid = proc.pid!;
    proc.unref();
    const exited = new Promise<never>((_r, reject) => proc.once('exit', (c) => reject(new Error(`containerd exited with ${c}; log:\n${this.tailLog()}`))));
    exited.catch(() => undefined);
    const cri = this.cri;
    await Promise.race([waitFor('containerd CRI', () => cri.version().then(() => true), 20_000, 100), exited]);
  }

  /** Stops containerd only (pods keep running): for restart tests. */
  async stopContainerd(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    // An attached bed (started by another process, e.g. `npm run local`) finds its containerd by config path.
    if (!this.pid) this.pid = this.findContainerd();
    const pid = this.pid;
    if (!pid || !isAlive(pid)) return;
    process.kill(pid, signal);
    try {
      await waitFor('containerd exit', () => !isAlive(pid), 10_000);
    } catch {
      process.kill(pid, 'SIGKILL');
      await waitFor('containerd exit after SIGKILL', () => !isAlive(pid), 5_000);
    }
    this._cri?.close();
    this._cri = undefined;
    this.pid = 0;
  }

  /** The pid of this bed's containerd (found by its config path), or 0. */
  findContainerd(): number {
    return processes().find((p) => p.cmdline === `containerd --config ${this.configPath}`)?.pid ?? 0;
  }

  async restartContainerd(): Promise<void> {
    await this.stopContainerd();
    await this.startContainerd();
  }

  tailLog(lines = 40): string {
    try {
      return readFileSync(this.containerdLog, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async importImages(): Promise<void> {
    for (const img of [this.images.pause, this.images.busybox]) {
      sh('ctr', ['-a', this.socket, '-n', 'k8s.io', 'images', 'import', '--no-unpack', img.tar]);
    }
  }

  /** Imports one more image tar (e.g. a large image built by a test). */
  importImage(tar: string): void {
    sh('ctr', ['-a', this.socket, '-n', 'k8s.io', 'images', 'import', '--no-unpack', tar]);
  }

  /** Pod sandbox config the way kubelet builds it, with cgroups and logs under this bed. */
  podConfig(opts: PodOptions = {}): PodConfigBuilder {
    const seq = ++this.podSeq;
    return new PodConfigBuilder({
      name: opts.name ?? `pod${seq}`,
      namespace: opts.namespace ?? 'default',
      uid: opts.uid ?? `${this.opts.name}-uid-${process.pid}-${seq}`,
      cgroupParent: `/${this.cgroupRoot}/pod${seq}`,
      logDirectory: join(this.logDir, `pod${seq}`),
      ...opts,
    });
  }

  containerConfig(opts: ContainerOptions): CriMessage {
    return new ContainerConfigBuilder({ image: this.images.busybox.name, ...opts }).build();
  }

  /** RunPodSandbox + CreateContainer + StartContainer of one busybox container. */
  async runPod(
    podOpts: PodOptions & { handler?: string },
    ctrOpts: ContainerOptions = { name: 'main', command: ['sleep', '3600'] },
  ): Promise<{ podId: string; containerId: string; podConfig: CriMessage }> {
    const podConfig = this.podConfig(podOpts).build();
    mkdirSync(podConfig.logDirectory as string, { recursive: true });
    const podId = await this.cri.runPodSandbox(podConfig, podOpts.handler ?? '');
    const containerId = await this.cri.createContainer(podId, this.containerConfig(ctrOpts), podConfig);
    await this.cri.startContainer(containerId);
    return { podId, containerId, podConfig };
  }

  /** StopPodSandbox + RemovePodSandbox of every pod of this containerd. */
  async removeAllPods(): Promise<void> {
    for (const p of await this.cri.listPodSandboxes()) {
      await this.cri.stopPodSandbox(p.id as string);
      await this.cri.removePodSandbox(p.id as string);
    }
  }

  /** Removes a pod's cgroup (its podConfig's cgroupParent) in every hierarchy once the pod is gone, as kubelet does. */
  removePodCgroup(cgroupParent: string): void {
    if (!cgroupParent.startsWith(`/${this.cgroupRoot}/`)) throw new Error(`${cgroupParent} is not a cgroup of this bed`);
    for (const c of CGROUP_V1_CONTROLLERS) removeCgroupTree(`/sys/fs/cgroup/${c}${cgroupParent}`);
    removeCgroupTree(`/sys/fs/cgroup${cgroupParent}`);
  }

  /** Tear everything down; safe to call twice and on a half-started bed. */
  async teardown(): Promise<void> {
    if (this.onSignal) {
      process.off('SIGINT', this.onSignal);
      process.off('SIGTERM', this.onSignal);
    }
    const errors: string[] = [];
    const step = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    // 1. Ask containerd to remove pods (stops containers, runs CNI DEL, removes netns).
    await step('remove pods', async () => {
      if (this.pid && isAlive(this.pid)) await withTimeout('removing pods', this.removeAllPods(), 30_000);
    });
    // 2. containerd itself (this bed's, found by its config path when we did not start it).
    await step('stop containerd', async () => {
      await this.stopContainerd();
    });
    this._cri?.close();
    this._cri = undefined;
    // 3. Containers left by a dead containerd: runc delete --force under our runc root.
    await step('runc delete', () => {
      const rootDir = join(this.runcRoot, 'k8s.io');
      if (!existsSync(rootDir)) return;
      for (const id of readdirSync(rootDir)) sh('runc', ['--root', rootDir, 'delete', '--force', id], { allowFail: true });
    });
    // 4. Shims and any other process of ours (shims are re-parented away from containerd).
    await step('kill processes', async () => {
      const mine = processes().filter((p) => p.pid !== process.pid && (p.cmdline.includes(this.socket) || p.cmdline.includes(`${this.base}/`)));
      for (const p of mine) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await waitFor('our processes to exit', () => mine.every((p) => !isAlive(p.pid)), 5_000);
    });
    // 4b. Whatever still runs in our cgroups (containers whose runc state was lost).
    await step('kill cgroup tasks', async () => {
      const pids = CGROUP_V1_CONTROLLERS.flatMap((c) => cgroupProcs(`/sys/fs/cgroup/${c}/${this.cgroupRoot}`));
      for (const pid of new Set(pids)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await waitFor('cgroup tasks to exit', () => [...new Set(pids)].every((p) => !processRunning(p)), 5_000);
    });
    // 5. Shim sockets of ours in /run/containerd/s: every `address` file under our base names one
    //    (containerd's bundles, and the private dirs of runc shims a vnode-manager started).
    await step('shim sockets', () => {
      for (const addr of findFiles(this.base, 'address', 6)) {
        const path = readFileSync(addr, 'utf8').trim().replace(/^unix:\/\//, '');
        if (path.startsWith('/run/containerd/s/')) rmSync(path, { force: true });
      }
    });
    // 6. Mounts under our base (rootfs overlays, netns binds, shm), deepest first.
    await step('unmount', () => {
      for (const mp of mountPointsUnder(this.base, mounts())) sh('umount', ['-l', mp], { allowFail: true });
    });
    // 7. The bridge, CNI cache entries of our network, cgroups.
    await step('bridge', () => {
      if (linkExists(this.bridge)) sh('ip', ['link', 'del', this.bridge]);
    });
    await step('cni cache', () => {
      const dir = '/var/lib/cni/results';
      if (!existsSync(dir)) return;
      for (const f of readdirSync(dir)) if (f.startsWith(`${this.network}-`)) rmSync(join(dir, f), { force: true });
    });
    await step('cgroups', () => {
      for (const c of CGROUP_V1_CONTROLLERS) removeCgroupTree(`/sys/fs/cgroup/${c}/${this.cgroupRoot}`);
      removeCgroupTree(`/sys/fs/cgroup/${this.cgroupRoot}`);
    });
    // 8. Files (the logs are kept in build/e2e-logs for a failed run's post-mortem), and shared
    //    directories that did not exist before us (only if empty).
    await step('keep logs', () => {
      const keep = join(REPO_ROOT, 'build/e2e-logs', this.opts.name);
      for (const f of findFiles(this.base, 'containerd.log', 1).concat(findFiles(this.base, 'manager.log', 1))) {
        mkdirSync(keep, { recursive: true });
        cpSync(f, join(keep, f.slice(this.base.length + 1).replace(/\//g, '_')));
      }
    });
    await step('files', () => rmSync(this.base, { recursive: true, force: true }));
    for (const d of TestBed.SHARED_DIRS) {
      if (this.preexisting.has(d)) continue;
      try {
        rmdirSync(d);
      } catch {
        // in use by someone else, or already gone
      }
    }
    if (errors.length) throw new Error(`test bed ${this.opts.name} teardown: ${errors.join('; ')}`);
  }

  /** What this bed left on the host; empty after a clean teardown. */
  leftovers(extraNetns: string[] = []): string[] {
    const found: string[] = [];
    for (const p of processes()) {
      if (p.pid !== process.pid && (p.cmdline.includes(this.socket) || p.cmdline.includes(`${this.base}/`))) found.push(`process ${p.pid}: ${p.cmdline}`);
    }
    for (const m of mounts()) {
      if (m.mountPoint.startsWith(this.base) || m.source.startsWith(this.base)) found.push(`mount ${m.mountPoint}`);
    }
    for (const n of extraNetns) if (existsSync(n)) found.push(`netns ${n}`);
    if (linkExists(this.bridge)) found.push(`link ${this.bridge}`);
    for (const c of CGROUP_V1_CONTROLLERS) if (existsSync(`/sys/fs/cgroup/${c}/${this.cgroupRoot}`)) found.push(`cgroup ${c}/${this.cgroupRoot}`);
    if (existsSync('/var/lib/cni/results')) {
      for (const f of readdirSync('/var/lib/cni/results')) if (f.startsWith(`${this.network}-`)) found.push(`cni cache ${f}`);
    }
    if (existsSync(this.base)) found.push(`dir ${this.base}`);
    return found;
  }
}

/** Pids in a cgroup v1 directory and all its children. */
function cgroupProcs(dir: string): number[] {
  if (!existsSync(dir)) return [];
  const out: number[] = [];
  try {
    out.push(...readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
  } catch {
    // not a cgroup dir
  }
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...cgroupProcs(join(dir, e.name)));
  return out;
}

/** Files named `name` under `dir`, at most `depth` levels down (symlinks not followed). */
function findFiles(dir: string, name: string, depth: number): string[] {
  const out: string[] = [];
  if (depth < 0 || !existsSync(dir)) return out;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...findFiles(p, name, depth - 1));
    else if (e.isFile() && e.name === name) out.push(p);
  }
  return out;
}

async function withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    try {
      if (statSync(p).isDirectory()) removeCgroupTree(p);
    } catch {
      // raced with the kernel
    }
  }
  try {
    rmdirSync(dir);
  } catch (e) {
    // Tasks still inside (should not happen after the process kill) are reported by leftovers().
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
