// A test bed for the seccomp handlers without CRI: a VNodeManager (holders, id ranges, pod
// netns), a mounted vnodefs, the SeccompAgent, and privileged busybox containers run by the
// tree's runc 1.1.5 (runc/*.patch: the runc vnode-runc runs) with the vNode profile (user
// namespace joined from the holder, mapped to the vNode's range, own pid and mount namespaces,
// the vNode's ipc/uts, a pod netns owned by the vNode).
// The lead ports these behaviours to CRI pods; the bundle mirrors what the spec rewriter makes.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, lchownSync, mkdirSync, openSync, closeSync, readdirSync, rmSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../common/config.js';
import { TREE_BIN } from '../../launch/treePaths.js';
import { isolatedConfig } from '../../vnode/testing/isolatedConfig.js';
import { VNodeManager } from '../../vnode/VNodeManager.js';
import type { VNode } from '../../vnode/VNodeRecord.js';
import { containerBindings, VnodeFs } from '../../vnodefs/VnodeFs.js';
import { SeccompAgent, type SeccompAgentOptions } from '../SeccompAgent.js';
import { layerVNodeProfile, type OciSeccomp } from '../seccompProfile.js';
import type { SeccompTarget } from '../SeccompTarget.js';
import { busyboxRoot } from '../../../e2e/lib/ociImage.js';

/** The tree's runc (npm run build makes it), as vnode-runc runs it. */
const RUNC = `${TREE_BIN}/runc`;

const B = 65536;
// This area's own part of the id space (vnode core tests use 3 << 28).
const POOL_BASE = 13 << 27;
let region = 0;

const ALL_CAPS = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE',
  'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN',
  'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE',
  'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
].map((c) => `CAP_${c}`);

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 32 << 20 }, (e, stdout, stderr) => {
      const code = e ? (typeof (e as { code?: unknown }).code === 'number' ? ((e as { code: number }).code) : 128) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface ContainerOptions {
  /** vNode key; containers with the same key share a vNode. */
  vnode: string;
  memoryBytes?: number;
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
  /** false: a container with no seccomp profile at all (the runc-handler peer) */
  seccomp?: boolean;
  /** a profile used as is instead of the vNode one (no listener) */
  profile?: OciSeccomp;
  /** bind the vnodefs files over /proc and /sys (default true) */
  emulate?: boolean;
  /** files copied into the rootfs: path inside -> host path */
  files?: Record<string, string>;
  /** host directories bound into the container as they are, like hostPath volumes */
  binds?: { source: string; destination: string; readonly?: boolean }[];
  args?: string[];
  /** the seccomp listener socket runc hands the fd to (default: the bed's own agent) */
  listenerPath?: string;
}

export interface TestContainer {
  id: string;
  vnode: VNode;
  bundle: string;
  initPid: number;
  exec(argv: string[], timeoutMs?: number): Promise<RunResult>;
  state(): Promise<{ status: string; pid: number } | undefined>;
}

export class SeccompTestBed {
  readonly containers = new Map<string, TestContainer & { opts: ContainerOptions; netnsId: string }>();
  private rootfsTemplate: string | undefined;
  readonly runcRoot: string;

  private constructor(
    readonly base: string,
    readonly cfg: Config,
    readonly vnodes: VNodeManager,
    readonly fs: VnodeFs,
    readonly agent: SeccompAgent,
  ) {
    this.runcRoot = join(base, 'runc');
  }

  static async start(opts: { agent?: Partial<SeccompAgentOptions> } = {}): Promise<SeccompTestBed> {
    const poolStart = POOL_BASE + region++ * 64 * B + (process.pid % 8) * 8 * B;
    const { cfg, base } = isolatedConfig({ prefix: 'vnode-sec-', poolStart, count: 8 });
    mkdirSync(cfg.runDir, { recursive: true, mode: 0o711 });
    chmodSync(cfg.runDir, 0o711);
    const vnodes = await VNodeManager.open(cfg);
    const mp = join(base, 'vnodefs');
    mkdirSync(mp, { mode: 0o755 });
    const fs = new VnodeFs({ mountpoint: mp, workers: 2 });
    await fs.mount();
    let bed: SeccompTestBed | undefined;
    const agent = await SeccompAgent.start({
      socketPath: join(base, 'seccomp.sock'),
      resolve: (st) => bed?.resolve(st.state.id, st.state.pid ?? st.pid),
      ...opts.agent,
    });
    bed = new SeccompTestBed(base, cfg, vnodes, fs, agent);
    return bed;
  }

  private resolve(id: string, initPid: number): SeccompTarget | undefined {
    const c = this.containers.get(id);
    if (!c) return undefined;
    return { vnodeId: c.opts.vnode, containerId: id, rootPid: initPid, fsMountpoint: c.opts.emulate === false ? undefined : this.fs.mountpoint };
  }

  private rootfs(dir: string, files: Record<string, string>, uid: number): void {
    if (!this.rootfsTemplate) {
      this.rootfsTemplate = join(this.base, 'rootfs-template');
      busyboxRoot(this.rootfsTemplate);
    }
    cpSync(this.rootfsTemplate, dir, { recursive: true, verbatimSymlinks: true });
    for (const [inside, host] of Object.entries(files)) {
      const p = join(dir, inside);
      mkdirSync(join(p, '..'), { recursive: true });
      copyFileSync(host, p);
      chmodSync(p, 0o755);
    }
    const chownTree = (p: string): void => {
      lchownSync(p, uid, uid);
      if (lstatSync(p).isDirectory()) for (const e of readdirSync(p)) chownTree(join(p, e));
    };
    chownTree(dir);
  }

  async container(name: string, opts: ContainerOptions): Promise<TestContainer> {
    const id = `vnode-sec-${name}-${process.pid}`;
    const vnode = await this.vnodes.getOrCreate(opts.vnode, id);
    const netnsId = `c-${name}`;
    const netns = await this.vnodes.createPodNetns(opts.vnode, netnsId);
    const bundle = join(this.base, 'bundles', id);
    mkdirSync(bundle, { recursive: true, mode: 0o711 });
    chmodSync(join(this.base, 'bundles'), 0o711);
    chmodSync(bundle, 0o711);
    const uid = vnode.idRange.uidStart;
    this.rootfs(join(bundle, 'rootfs'), opts.files ?? {}, uid);
    const emulate = opts.emulate !== false;
    const mounts: unknown[] = [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'rw'] },
    ];
    for (const b of opts.binds ?? []) mounts.push({ destination: b.destination, type: 'bind', source: b.source, options: ['rbind', b.readonly ? 'ro' : 'rw'] });
    // What the spec rewrite binds (agent/spec/SpecRewriter.ts): not the /proc/sys paths (runc
    // refuses them; nothing here injects them) nor what this host lacks (runc cannot create it).
    if (emulate)
      for (const b of containerBindings(this.fs.mountpoint).filter((x) => !x.inject && existsSync(x.destination)))
        mounts.push({ destination: b.destination, type: 'bind', source: b.source, options: ['bind', 'ro', 'nosuid', 'nodev'] });
    const resources: Record<string, unknown> = { devices: [{ allow: true, access: 'rwm' }] };
    if (opts.memoryBytes) resources.memory = { limit: opts.memoryBytes };
    if (opts.cpuQuotaUs) resources.cpu = { quota: opts.cpuQuotaUs, period: opts.cpuPeriodUs ?? 100_000 };
    const seccomp: OciSeccomp | undefined =
      opts.seccomp === false ? undefined : opts.profile ?? layerVNodeProfile(undefined, { listenerPath: opts.listenerPath ?? this.agent.socketPath, listenerMetadata: `${opts.vnode}/${id}` });
    const ns = vnode.namespaces;
    const config = {
      ociVersion: '1.0.2',
      process: {
        terminal: false,
        user: { uid: 0, gid: 0 },
        args: opts.args ?? ['/bin/sleep', '1000000'],
        env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        cwd: '/',
        capabilities: { bounding: ALL_CAPS, effective: ALL_CAPS, permitted: ALL_CAPS },
        noNewPrivileges: false,
      },
      root: { path: 'rootfs', readonly: false },
      hostname: name,
      mounts,
      linux: {
        uidMappings: [{ containerID: 0, hostID: uid, size: B }],
        gidMappings: [{ containerID: 0, hostID: vnode.idRange.gidStart, size: B }],
        namespaces: [
          { type: 'user', path: ns.user },
          { type: 'network', path: netns },
          { type: 'ipc', path: ns.ipc },
          { type: 'uts', path: ns.uts },
          { type: 'pid' },
          { type: 'mount' },
        ],
        cgroupsPath: `/${id}`,
        resources,
        ...(seccomp ? { seccomp } : {}),
      },
    };
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config, null, 2));
    const tc = {
      id,
      vnode,
      bundle,
      initPid: 0,
      opts,
      netnsId,
      exec: (argv: string[], timeoutMs?: number) => run(RUNC, ['--root', this.runcRoot, 'exec', id, ...argv], timeoutMs),
      state: async () => {
        const r = await run(RUNC, ['--root', this.runcRoot, 'state', id]);
        if (r.code !== 0) return undefined;
        const s = JSON.parse(r.stdout) as { status: string; pid: number };
        return { status: s.status, pid: s.pid };
      },
    };
    // Registered before create: runc hands the listener over during create.
    this.containers.set(id, tc);
    const log = openSync(join(bundle, 'container.log'), 'a');
    const created = await new Promise<number>((resolve) => {
      const p = spawn(RUNC, ['--root', this.runcRoot, 'create', '--bundle', bundle, id], { stdio: ['ignore', log, log] });
      p.on('exit', (code) => resolve(code ?? 128));
    });
    closeSync(log);
    if (created !== 0) {
      const r = await run('cat', [join(bundle, 'container.log')]);
      await this.remove(tc);
      throw new Error(`runc create ${id} failed (${created}): ${r.stdout.slice(-2000)}`);
    }
    const st = await run(RUNC, ['--root', this.runcRoot, 'start', id]);
    if (st.code !== 0) {
      await this.remove(tc);
      throw new Error(`runc start ${id} failed: ${st.stderr}`);
    }
    tc.initPid = (await tc.state())?.pid ?? 0;
    return tc;
  }

  async remove(c: TestContainer): Promise<void> {
    const tc = this.containers.get(c.id);
    await run(RUNC, ['--root', this.runcRoot, 'kill', c.id, 'KILL']);
    for (let i = 0; i < 50; i++) {
      const s = await c.state();
      if (!s || s.status === 'stopped') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await run(RUNC, ['--root', this.runcRoot, 'delete', '--force', c.id]);
    if (tc) {
      await this.vnodes.removePodNetns(tc.opts.vnode, tc.netnsId).catch(() => undefined);
      await this.vnodes.release(tc.opts.vnode, c.id).catch(() => undefined);
    }
    this.containers.delete(c.id);
    rmSync(c.bundle, { recursive: true, force: true });
  }

  async teardown(): Promise<void> {
    for (const c of [...this.containers.values()]) await this.remove(c).catch(() => undefined);
    await this.agent.close();
    await this.fs.unmount().catch(() => undefined);
    for (const v of this.vnodes.list()) await this.vnodes.destroy(v.key).catch(() => undefined);
    await this.vnodes.close();
    if (existsSync(this.base)) rmSync(this.base, { recursive: true, force: true });
  }
}

/** Compiles a C fixture statically (it runs inside busybox rootfs). */
export function buildStatic(source: string, out: string): Promise<RunResult> {
  return run('cc', ['-static', '-O2', '-Wall', '-pthread', '-o', out, source]);
}

export { chownSync };
