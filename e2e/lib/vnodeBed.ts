// A test bed with the `vnode` runtime handler wired the way the installer wires a node: the
// handler's own CNI config dir holding the bed's network with vnode-cni chained last, vnode-cni
// in the CNI bin dir, a link containerd-shim-vnode-v2 to the launcher in a directory of its own on
// containerd's PATH (the installer's shim link: the runc handler keeps the host's own runc shim
// and runc, never the tree's patched builds), and a vnode-manager of its own.
// (The installer itself is tested in e2e/installer.test.ts; here the handler is set up directly.)
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processes } from './hostState.js';
import { ManagerProcess } from './ManagerProcess.js';
import { TestBed, TREE_DIR, type TestBedOptions } from './TestBed.js';

export interface VNodeBed {
  bed: TestBed;
  /** The bed's manager; a test may put another in its place (same run and state dirs). */
  manager: ManagerProcess;
  /** Stops pods, the manager and the bed; returns what was left behind. */
  teardown(): Promise<string[]>;
}

type VNodeBedOptions = Pick<TestBedOptions, 'name' | 'subnetIndex'> & { baseDir: string; managerEnv?: Record<string, string> };

const shimLinkDir = (opts: VNodeBedOptions): string => join(opts.baseDir, 'shim-link');

function layout(opts: VNodeBedOptions): { manager: ManagerProcess; vnodeConfDir: string; bedOptions: TestBedOptions } {
  const vnodeConfDir = join(opts.baseDir, 'cni/vnode.d');
  const manager = new ManagerProcess(join(opts.baseDir, 'vnode'), join(opts.baseDir, 'vnode-state'), {
    VNODE_CNI_CONF_DIR: vnodeConfDir,
    VNODE_CNI_BIN_DIR: join(opts.baseDir, 'cni/bin'),
    ...opts.managerEnv,
  });
  const bedOptions: TestBedOptions = {
    name: opts.name,
    subnetIndex: opts.subnetIndex,
    baseDir: opts.baseDir,
    env: manager.clientEnv,
    path: [shimLinkDir(opts)],
    runtimes: {
      vnode: { runtime_type: 'io.containerd.vnode.v2', cni_conf_dir: vnodeConfDir, cni_max_conf_num: 1, pod_annotations: ['vnode.loft.sh/*'] },
    },
    deferStart: true,
  };
  return { manager, vnodeConfDir, bedOptions };
}

export async function startVNodeBed(opts: VNodeBedOptions): Promise<VNodeBed> {
  const { manager, vnodeConfDir, bedOptions } = layout(opts);
  const bed = await TestBed.start(bedOptions);
  try {
    mkdirSync(vnodeConfDir, { recursive: true });
    mkdirSync(shimLinkDir(opts), { recursive: true });
    symlinkSync(join(TREE_DIR, 'bin/containerd-shim-vnode-v2'), join(shimLinkDir(opts), 'containerd-shim-vnode-v2'));
    const host = bed.hostNetworkConflist();
    const plugins = [...(host.plugins as object[]), { type: 'vnode-cni', capabilities: { 'io.kubernetes.cri.pod-annotations': true } }];
    writeFileSync(join(vnodeConfDir, `10-${bed.network}-vnode.conflist`), JSON.stringify({ ...host, plugins }, null, 2));
    rmSync(join(bed.cniBinDir, 'vnode-cni'), { force: true });
    symlinkSync(join(TREE_DIR, 'bin/vnode-cni'), join(bed.cniBinDir, 'vnode-cni'));
    await manager.start();
    await bed.startContainerd();
    await bed.importImages();
  } catch (e) {
    await manager.stop();
    await bed.teardown();
    throw e;
  }
  return handle(bed, manager);
}

function handle(bed: TestBed, first: ManagerProcess): VNodeBed {
  const vb: VNodeBed = {
    bed,
    // A test may replace it (an upgrade to another tree): teardown stops the current one.
    manager: first,
    async teardown() {
      const manager = vb.manager;
      const left: string[] = [];
      // The vNodes' holders, from the manager's records, to check they all went with the pods.
      const holders = new Set<number>();
      const vdir = join(manager.stateDir, 'vnodes');
      for (const f of existsSync(vdir) ? readdirSync(vdir) : []) {
        try {
          const pid = (JSON.parse(readFileSync(join(vdir, f), 'utf8')) as { holder?: { pid: number } | null }).holder?.pid;
          if (pid) holders.add(pid);
        } catch {
          // a temp file
        }
      }
      try {
        await bed.removeAllPods();
      } catch (e) {
        // containerd already gone (an interrupted run): the bed's teardown cleans up by force
        if (!/UNAVAILABLE|ECONNREFUSED|ENOENT|No connection/.test((e as Error).message)) throw e;
      } finally {
        await manager.stop();
        // With every pod gone and the manager stopped (it shuts its spare down), no runc shim of
        // this bed may remain, nor a vNode holder.
        for (const p of processes()) {
          if (p.cmdline.includes('containerd-shim-runc-v2') && p.cmdline.includes(bed.socket)) left.push(`runc shim after manager stop: ${p.pid}`);
          if (holders.has(p.pid) && p.cmdline.startsWith('vnode-holder')) {
            left.push(`vNode holder after all pods: ${p.pid}`);
            process.kill(p.pid, 'SIGKILL'); // reported above; not left running after a failed test
          }
        }
        await bed.teardown();
      }
      return [...left, ...bed.leftovers()];
    },
  };
  return vb;
}
