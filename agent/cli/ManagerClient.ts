// The CLI's questions to the running manager: the `vnode-introspect` launch entry, its JSON answer
// checked against the report schema (the manager may be another version than this CLI).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { callLaunch, LaunchCallError } from '../launch/launchClient.js';
import { INTROSPECT_ENTRY } from '../manager/introspectionReports.js';

export class ManagerUnreachable extends Error {
  override name = 'ManagerUnreachable';
}

export async function askManager<S extends z.ZodTypeAny>(runDir: string, question: string[], schema: S, timeoutMs = 3000): Promise<z.infer<S>> {
  const sock = join(runDir, 'launch.sock');
  if (!existsSync(sock)) throw new ManagerUnreachable(`no manager socket at ${sock} (vnode-manager not started, or another VNODE_RUN_DIR / --run-dir)`);
  let a;
  try {
    a = await callLaunch(sock, { entry: INTROSPECT_ENTRY, cwd: '/', argv: [INTROSPECT_ENTRY, ...question], env: {}, stdin: Buffer.alloc(0) }, timeoutMs);
  } catch (e) {
    if (e instanceof LaunchCallError && e.code === 'ECONNREFUSED') throw new ManagerUnreachable(`nobody listens on ${sock} (a stale socket: vnode-manager is not running)`);
    if (e instanceof LaunchCallError && e.code === 'ETIMEDOUT') throw new ManagerUnreachable(`vnode-manager at ${sock} did not answer within ${timeoutMs} ms`);
    throw new ManagerUnreachable(`cannot reach vnode-manager: ${(e as Error).message}`);
  }
  if (a.kind !== 'exit') throw new ManagerUnreachable(`vnode-manager at ${sock} gave an unexpected answer (${a.kind})`);
  const err = String(a.stderr ?? '').trim();
  if (a.code === 70 && err.includes(`no handler for ${INTROSPECT_ENTRY}`)) throw new ManagerUnreachable(`the vnode-manager at ${sock} is older than this CLI (no ${INTROSPECT_ENTRY}); restart it from the installed tree`);
  if (a.code !== 0) throw new Error(err || `vnode-manager answered exit ${a.code}`);
  const r = schema.safeParse(JSON.parse(String(a.stdout ?? '')));
  if (!r.success) throw new Error(`vnode-manager's answer to ${question[0]} does not match this CLI: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}
