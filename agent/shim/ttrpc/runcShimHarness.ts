// Test and benchmark harness: runs a real containerd-shim-runc-v2 the way containerd does
// (`-namespace N -address A -publish-binary B -id ID start`, cwd = the bundle, TTRPC_ADDRESS in
// the env, a `log` fifo held open for reading) and cleans up everything it made: the shim daemon,
// its socket under /run/containerd/s, the bundle, the runc root and the container's cgroups.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, rmdirSync, rmSync, symlinkSync, writeFileSync, constants as fsc } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

export const RUNC_SHIM = '/usr/bin/containerd-shim-runc-v2';
const BUSYBOX = '/bin/busybox';

export interface RuncShim {
  /** What `start` printed, e.g. unix:///run/containerd/s/<sha256>. */
  address: string;
  bundle: string;
  /** runc --root for CreateTaskRequest options (keeps this test's containers apart). */
  runcRoot: string;
  cgroupsPath: string;
  /** What the shim daemon wrote to its log fifo so far. */
  log: () => string;
  /** Kills the shim daemon if still alive and removes every file it and the harness made. */
  cleanup: (shimPid?: number) => void;
}

export interface RuncShimOptions {
  /** Work dir owned by the caller (unique per test run). */
  dir: string;
  id: string;
  namespace: string;
  /** Where the shim publishes events (Events/Forward); need not exist. */
  ttrpcAddress: string;
  /** Process of the container, if it will be created. */
  args?: string[];
}

/** Writes a bundle with a busybox rootfs and a minimal OCI spec, then runs `<shim> start`. */
export async function startRuncShim(o: RuncShimOptions): Promise<RuncShim> {
  const bundle = join(o.dir, 'bundles', o.id);
  const rootfs = join(bundle, 'rootfs');
  const runcRoot = join(o.dir, 'runc');
  const cgroupsPath = `/vnode-ttrpc-e2e-${process.pid}-${o.id}`;
  for (const d of ['bin', 'proc', 'dev', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
  mkdirSync(runcRoot, { recursive: true });
  if (existsSync(BUSYBOX)) {
    copyFileSync(BUSYBOX, join(rootfs, 'bin/busybox'));
    chmodSync(join(rootfs, 'bin/busybox'), 0o755);
    symlinkSync('busybox', join(rootfs, 'bin/sh'));
  }
  const spec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: o.args ?? ['/bin/busybox', 'sleep', '300'],
      env: ['PATH=/bin'],
      cwd: '/',
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'vnode-ttrpc-e2e',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    ],
    linux: {
      cgroupsPath,
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }],
    },
  };
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  // containerd makes the log fifo and holds it open O_RDWR|O_NONBLOCK; the shim daemon's open
  // for writing would block without a reader.
  execFileSync('mkfifo', ['-m', '0600', join(bundle, 'log')]);
  const logFd = openSync(join(bundle, 'log'), fsc.O_RDWR | fsc.O_NONBLOCK);
  const logSock = new net.Socket({ fd: logFd, readable: true, writable: false });
  let logText = '';
  logSock.on('data', (d: Buffer) => (logText += d.toString()));
  logSock.on('error', () => undefined);

  const start = spawn(RUNC_SHIM, ['-namespace', o.namespace, '-address', join(o.dir, 'containerd.sock'), '-publish-binary', '/usr/bin/containerd', '-id', o.id, 'start'], {
    cwd: bundle,
    env: { ...process.env, TTRPC_ADDRESS: o.ttrpcAddress },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  start.stdout.on('data', (d: Buffer) => (out += d.toString()));
  start.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => start.on('close', (c) => resolve(c)));
  const address = out.trim();
  const socketPath = address.replace(/^unix:\/\//, '');
  const cleanup = (shimPid?: number): void => {
    if (shimPid && shimPid > 0) {
      try {
        process.kill(shimPid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      execFileSync('runc', ['--root', runcRoot, 'delete', '--force', o.id], { stdio: 'ignore' });
    } catch {
      // no such container
    }
    logSock.destroy();
    try {
      closeSync(logFd);
    } catch {
      // closed with the socket
    }
    if (socketPath.startsWith('/run/containerd/s/')) rmSync(socketPath, { force: true });
    rmSync(bundle, { recursive: true, force: true });
    rmSync(runcRoot, { recursive: true, force: true });
    for (const ctrl of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'net_cls', 'net_prio', 'perf_event', 'hugetlb', 'rdma', 'misc', 'systemd', 'unified']) {
      const p = join('/sys/fs/cgroup', ctrl, cgroupsPath);
      try {
        // cgroupfs dirs go with rmdir only (their files cannot be unlinked).
        if (existsSync(p)) rmdirSync(p);
      } catch {
        // still busy: runc delete --force above normally removed it already
      }
    }
  };
  if (code !== 0 || !address.startsWith('unix://')) {
    cleanup();
    throw new Error(`${RUNC_SHIM} start exited ${code}: ${out}`);
  }
  return { address, bundle, runcRoot, cgroupsPath, log: () => logText, cleanup };
}
