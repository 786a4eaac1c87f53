// What a set of directories holds, as comparable text per path: type, mode, symlink target, a
// hash of the bytes and (optionally) mtime, so "nothing changed" can mean "nothing was written".
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export type Snapshot = Record<string, string>;

export function snapshotFiles(dirs: string[], opts: { mtime?: boolean; skip?: (path: string) => boolean } = {}): Snapshot {
  const out: Snapshot = {};
  const walk = (p: string): void => {
    if (opts.skip?.(p)) return;
    const st = lstatSync(p);
    const mode = (st.mode & 0o7777).toString(8);
    const t = opts.mtime ? ` mtime=${st.mtimeMs}` : '';
    if (st.isSymbolicLink()) out[p] = `link -> ${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      out[p] = `dir ${mode}`;
      for (const e of readdirSync(p).sort()) walk(join(p, e));
    } else if (st.isFile()) out[p] = `file ${mode} ${st.size} sha256=${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}${t}`;
    else out[p] = `other ${st.mode.toString(8)}`;
  };
  for (const d of dirs) if (existsSync(d)) walk(d);
  return out;
}

/** Human-readable differences ("+ path", "- path", "~ path: a => b"); empty when equal. */
export function diffSnapshots(a: Snapshot, b: Snapshot): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!(k in a)) out.push(`+ ${k}: ${b[k]}`);
    else if (!(k in b)) out.push(`- ${k}: ${a[k]}`);
    else if (a[k] !== b[k]) out.push(`~ ${k}: ${a[k]} => ${b[k]}`);
  }
  return out.sort();
}

export function readBytes(p: string): Buffer | undefined {
  return existsSync(p) ? readFileSync(p) : undefined;
}
