// Runs a CNI network configuration list the way a container runtime does (the CNI spec's
// ADD/DEL protocol: plugins in order for ADD with each result as the next prevResult, reverse
// order for DEL with the cached result). The manager uses it to give a vNode's own network
// namespace the host's pod network, which the vNode's hostNetwork pods then share.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CniVersionSchema } from './cniVersion.js';

const PluginSchema = z.object({ type: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a plugin binary name') }).passthrough();
export const ConfListSchema = z
  .object({ cniVersion: CniVersionSchema, name: z.string().min(1), plugins: z.array(PluginSchema).min(1) })
  .passthrough();
export type ConfList = z.infer<typeof ConfListSchema>;

export class CniError extends Error {
  override name = 'CniError';
}

/** The first network config list in dir by file name (as libcni picks), without the plugins named in `without`. */
export function loadConfList(dir: string, without: string[] = []): ConfList {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.conflist')).sort() : [];
  if (!files.length) throw new CniError(`no .conflist in ${dir}`);
  const path = join(dir, files[0]!);
  const r = ConfListSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!r.success) throw new CniError(`${path}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return { ...r.data, plugins: r.data.plugins.filter((p) => !without.includes(p.type)) };
}

export interface CniRun {
  containerId: string;
  netns: string;
  ifname: string;
  args?: Record<string, string>;
}

function invoke(binDir: string, plugin: z.infer<typeof PluginSchema>, command: 'ADD' | 'DEL', run: CniRun, conf: object): Promise<unknown> {
  const bin = join(binDir, plugin.type);
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      [],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
          CNI_COMMAND: command,
          CNI_CONTAINERID: run.containerId,
          CNI_NETNS: run.netns,
          CNI_IFNAME: run.ifname,
          CNI_ARGS: Object.entries(run.args ?? {}).map(([k, v]) => `${k}=${v}`).join(';'),
          CNI_PATH: binDir,
        },
        timeout: 30_000,
        maxBuffer: 1 << 20,
      },
      (err, stdout) => {
        if (err) {
          let msg = stdout.trim() || err.message;
          try {
            const e = JSON.parse(stdout) as { msg?: string; details?: string };
            if (e.msg) msg = `${e.msg}${e.details ? `: ${e.details}` : ''}`;
          } catch {
            // not a CNI error object
          }
          reject(new CniError(`${plugin.type} ${command}: ${msg}`));
          return;
        }
        try {
          resolve(stdout.trim() ? JSON.parse(stdout) : undefined);
        } catch {
          reject(new CniError(`${plugin.type} ${command}: result is not JSON`));
        }
      },
    );
    child.stdin?.end(JSON.stringify(conf));
  });
}

/** ADD through every plugin; returns the final result (keep it for DEL). */
export async function cniAdd(list: ConfList, binDir: string, run: CniRun): Promise<unknown> {
  let prev: unknown;
  for (const p of list.plugins) {
    const conf = { ...p, cniVersion: list.cniVersion, name: list.name, ...(prev ? { prevResult: prev } : {}) };
    prev = await invoke(binDir, p, 'ADD', run, conf);
  }
  return prev;
}

/** DEL through every plugin in reverse order; keeps going past failures and reports them. */
export async function cniDel(list: ConfList, binDir: string, run: CniRun, result?: unknown): Promise<void> {
  const errors: string[] = [];
  for (const p of [...list.plugins].reverse()) {
    const conf = { ...p, cniVersion: list.cniVersion, name: list.name, ...(result ? { prevResult: result } : {}) };
    try {
      await invoke(binDir, p, 'DEL', run, conf);
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  if (errors.length) throw new CniError(errors.join('; '));
}
