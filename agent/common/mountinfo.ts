// The one reader of /proc/<pid>/mountinfo (proc(5)): every module that asks what is mounted where
// (vNode teardown, the spec's bind flags, the installer's host root, the test beds) parses it here.
//
//   36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//   (1)(2) (3)   (4)   (5)      (6)       (7)  (8) (9)    (10)         (11)
//
// The kernel escapes space, tab, newline and backslash as \040 \011 \012 \134 in the root, the
// mount point, the file system type, the source and the super options; (7) is zero or more
// optional fields ended by a lone "-".
import { readFileSync } from 'node:fs';

export class MountInfoError extends Error {
  constructor(readonly line: number, message: string) {
    super(`mountinfo line ${line}: ${message}`);
    this.name = 'MountInfoError';
  }
}

export interface MountInfo {
  id: number;
  parent: number;
  /** major:minor of the st_dev of files on this mount. */
  device: string;
  /** The directory of the file system that forms the root of this mount. */
  root: string;
  mountPoint: string;
  /** Per-mount options (rw, nosuid, nodev, noexec, relatime, ...). */
  options: string[];
  /** The optional fields as written (shared:N, master:N, propagate_from:N, unbindable). */
  optionalFields: string[];
  /** Peer group ids from the optional fields. */
  shared?: number;
  master?: number;
  propagateFrom?: number;
  unbindable: boolean;
  /** "type" or "type.subtype" (fuse.sshfs). */
  fsType: string;
  source: string;
  superOptions: string[];
}

/** Undoes the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function peerGroup(fields: string[], tag: string): number | undefined {
  const f = fields.find((x) => x.startsWith(`${tag}:`));
  return f === undefined ? undefined : Number(f.slice(tag.length + 1));
}

/** One line of mountinfo; `line` is its number, for the error. */
export function parseMountInfoLine(text: string, line = 1): MountInfo {
  const f = text.split(' ');
  const sep = f.indexOf('-', 6);
  if (f.length < 10 || sep < 0 || f.length < sep + 4) throw new MountInfoError(line, `not a mountinfo line: ${JSON.stringify(text)}`);
  const id = Number(f[0]);
  const parent = Number(f[1]);
  if (!Number.isInteger(id) || !Number.isInteger(parent)) throw new MountInfoError(line, `mount ids are not numbers: ${JSON.stringify(text)}`);
  const optionalFields = f.slice(6, sep);
  return {
    id,
    parent,
    device: f[2]!,
    root: unescapeMountField(f[3]!),
    mountPoint: unescapeMountField(f[4]!),
    options: f[5]!.split(','),
    optionalFields,
    shared: peerGroup(optionalFields, 'shared'),
    master: peerGroup(optionalFields, 'master'),
    propagateFrom: peerGroup(optionalFields, 'propagate_from'),
    unbindable: optionalFields.includes('unbindable'),
    fsType: unescapeMountField(f[sep + 1]!),
    source: unescapeMountField(f[sep + 2]!),
    superOptions: unescapeMountField(f.slice(sep + 3).join(' ')).split(','),
  };
}

/** A whole mountinfo text, in the kernel's order (a later entry is mounted over an earlier one). */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  text.split('\n').forEach((l, i) => {
    if (l) out.push(parseMountInfoLine(l, i + 1));
  });
  return out;
}

/** The mount table of a process's mount namespace (this process's by default). */
export function readMountInfo(pid: number | 'self' = 'self'): MountInfo[] {
  return parseMountInfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'));
}

/** Whether path is dir or below it (by path, not resolving links). */
export const isAtOrBelow = (path: string, dir: string): boolean => path === dir || path.startsWith(dir === '/' ? '/' : `${dir}/`);

/**
 * Mount points below dir (and dir itself unless `strictlyBelow`), deepest first: the order to
 * unmount them in. A point with mounts stacked on it is listed once per mount.
 */
export function mountPointsUnder(dir: string, table: Pick<MountInfo, 'mountPoint'>[] = readMountInfo(), opts: { strictlyBelow?: boolean } = {}): string[] {
  return table
    .map((m) => m.mountPoint)
    .filter((mp) => isAtOrBelow(mp, dir) && !(opts.strictlyBelow && mp === dir))
    .sort((a, b) => b.length - a.length);
}

/** The mount a path is on: of the entries whose mount point holds it, the last with the longest point (the one on top). */
export function mountOf<M extends Pick<MountInfo, 'mountPoint'>>(path: string, table: M[]): M | undefined {
  let best: M | undefined;
  for (const m of table) if (isAtOrBelow(path, m.mountPoint) && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  return best;
}

export function isMountPoint(path: string, table: Pick<MountInfo, 'mountPoint'>[] = readMountInfo()): boolean {
  return table.some((m) => m.mountPoint === path);
}
