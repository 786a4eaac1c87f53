// The host's file system as the installer sees it: mounted at `root` inside the DaemonSet pod
// ("/host"), or "/" when the installer runs on the host itself, or a temp dir in tests. Every
// path the installer handles is a host path ("/etc/containerd/config.toml"); only this class
// turns it into a path inside the pod, resolving symlinks against the host root so an absolute
// link on the host ("/etc/cni/net.d -> /var/lib/cni-conf") lands on the host's target.
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { syncDir, writeFileAtomic } from '../agent/common/atomicWrite.js';
import { mountOf, readMountInfo } from '../agent/common/mountinfo.js';

export class HostPathError extends Error {
  constructor(readonly hostPath: string, message: string, readonly code?: string) {
    super(`${hostPath}: ${message}`);
    this.name = 'HostPathError';
  }
}

const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

export class HostRoot {
  constructor(
    readonly root: string,
    /** Mount points of this process (default: /proc/self/mountinfo); for tests. */
    private readonly mountPoints: () => string[] = readMountPoints,
  ) {
    if (!isAbsolute(root)) throw new Error(`host root must be absolute: ${root}`);
  }

  /**
   * Host paths that this root does not reach: in a pod that mounts only some host directories
   * (hostPath volumes at <root><dir>), a path outside them would land in the container's own file
   * system, and an install there would "succeed" without touching the host. A root with no mount
   * at or below it (the host itself, a temp dir in tests) reaches everything.
   */
  unreachable(hostPaths: string[]): string[] {
    if (this.root === '/') return [];
    const inside = (m: string) => m === this.root || m.startsWith(`${this.root}/`);
    const points = this.mountPoints();
    if (!points.some(inside)) return [];
    return hostPaths.filter((hp) => {
      const p = this.path(hp);
      const owner = mountOf(p, points.map((mountPoint) => ({ mountPoint })))?.mountPoint;
      return owner === undefined || !inside(owner);
    });
  }

  /** The pod path of a host path, following symlinks inside the host (at most 40, like the kernel). */
  path(hostPath: string): string {
    if (!posix.isAbsolute(hostPath)) throw new HostPathError(hostPath, 'not an absolute host path');
    if (this.root === '/') return posix.normalize(hostPath);
    const parts = posix.normalize(hostPath).split('/').filter(Boolean);
    let resolved = '/';
    let hops = 0;
    while (parts.length) {
      const part = parts.shift()!;
      if (part === '..') {
        resolved = posix.dirname(resolved);
        continue;
      }
      const next = posix.join(resolved, part);
      let target: string | undefined;
      try {
        if (lstatSync(join(this.root, next)).isSymbolicLink()) target = readlinkSync(join(this.root, next));
      } catch (e) {
        if (errCode(e) !== 'ENOENT' && errCode(e) !== 'ENOTDIR') throw e;
      }
      if (target === undefined) {
        resolved = next;
        continue;
      }
      if (++hops > 40) throw new HostPathError(hostPath, 'too many levels of symbolic links', 'ELOOP');
      parts.unshift(...target.split('/').filter(Boolean));
      if (posix.isAbsolute(target)) resolved = '/';
    }
    return join(this.root, resolved);
  }

  /** The pod path of a host path whose last component is not followed (lstat, unlink, readlink). */
  entry(hostPath: string): string {
    const norm = posix.normalize(hostPath).replace(/\/+$/, '');
    if (norm === '' || norm === '/') return this.path('/');
    return join(this.path(posix.dirname(norm)), posix.basename(norm));
  }

  readLink(hostPath: string): string | undefined {
    try {
      return readlinkSync(this.entry(hostPath));
    } catch {
      return undefined;
    }
  }

  readText(hostPath: string): string | undefined {
    try {
      return readFileSync(this.path(hostPath), 'utf8');
    } catch (e) {
      if (errCode(e) === 'ENOENT') return undefined;
      throw new HostPathError(hostPath, `cannot read: ${(e as Error).message}`, errCode(e));
    }
  }

  exists(hostPath: string): boolean {
    try {
      lstatSync(this.entry(hostPath));
      return true;
    } catch (e) {
      if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') return false;
      throw e;
    }
  }

  isDir(hostPath: string): boolean {
    try {
      return lstatSync(this.path(hostPath)).isDirectory();
    } catch {
      return false;
    }
  }

  list(hostDir: string): string[] {
    try {
      return readdirSync(this.path(hostDir)).sort();
    } catch (e) {
      if (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR') return [];
      throw new HostPathError(hostDir, `cannot list: ${(e as Error).message}`, errCode(e));
    }
  }

  /** writeFileAtomic on the host path: readers see the old or the new file, never half. */
  writeAtomic(hostPath: string, text: string | Buffer, mode = 0o644): void {
    const p = this.path(hostPath);
    try {
      mkdirSync(dirname(p), { recursive: true });
      writeFileAtomic(p, text, { mode });
    } catch (e) {
      throw new HostPathError(hostPath, `cannot write: ${(e as Error).message}`, errCode(e));
    }
  }

  remove(hostPath: string): boolean {
    const p = this.entry(hostPath);
    try {
      lstatSync(p);
    } catch {
      return false;
    }
    rmSync(p, { recursive: true, force: true });
    syncDir(dirname(p));
    return true;
  }

  mkdirp(hostPath: string, mode = 0o755): void {
    mkdirSync(this.path(hostPath), { recursive: true, mode });
  }

  /** filepath.Glob semantics for `*`, `?` and `[...]` in any component; sorted host paths. */
  glob(pattern: string): string[] {
    if (!/[*?[]/.test(pattern)) return this.exists(pattern) ? [pattern] : [];
    const parts = posix.normalize(pattern).split('/').filter(Boolean);
    let current = ['/'];
    for (const part of parts) {
      const next: string[] = [];
      for (const dir of current) {
        if (!/[*?[]/.test(part)) {
          const p = posix.join(dir, part);
          if (this.exists(p)) next.push(p);
          continue;
        }
        const re = globToRegExp(part);
        for (const name of this.list(dir)) if (re.test(name)) next.push(posix.join(dir, name));
      }
      current = next;
    }
    return current.sort();
  }
}

export function readMountPoints(): string[] {
  return readMountInfo().map((m) => m.mountPoint);
}

/** One path component's glob as a RegExp (Go's filepath.Match: `*` and `?` never match "/"). */
export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 1);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let cls = glob.slice(i + 1, close);
      if (cls.startsWith('^')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else if (c === '\\' && i + 1 < glob.length) re += `\\${glob[++i]}`;
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}
