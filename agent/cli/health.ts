// `vnode health [--ready]`: exit 0 when the vnode-manager answers on <runDir>/launch.sock and its
// subsystems pass (liveness, or with --ready readiness), else non-zero with a message that says
// what is wrong (no socket, nobody listening, no answer, an old manager, a failed subsystem).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { callLaunch, LaunchCallError } from '../launch/launchClient.js';
import { HEALTH_ENTRY } from '../manager/healthLaunch.js';

export interface HealthResult {
  ok: boolean;
  /** One line for the probe's output. */
  message: string;
}

/** ready: readiness (every subsystem), else liveness (what a restart fixes). */
export async function checkHealth(runDir: string, timeoutMs = 3000, ready = false): Promise<HealthResult> {
  const sock = join(runDir, 'launch.sock');
  if (!existsSync(sock)) return { ok: false, message: `no manager socket at ${sock} (vnode-manager not started, or another VNODE_RUN_DIR)` };
  try {
    const a = await callLaunch(sock, { entry: HEALTH_ENTRY, cwd: '/', argv: ready ? [HEALTH_ENTRY, '--ready'] : [HEALTH_ENTRY], env: {}, stdin: Buffer.alloc(0) }, timeoutMs);
    if (a.kind !== 'exit') return { ok: false, message: `vnode-manager at ${sock} gave an unexpected answer (${a.kind})` };
    const text = String(a.code === 0 ? a.stdout ?? '' : a.stderr ?? '').trim();
    return a.code === 0 ? { ok: true, message: text || 'vnode-manager ok' } : { ok: false, message: `vnode-manager at ${sock} answered exit ${a.code}: ${text}` };
  } catch (e) {
    if (e instanceof LaunchCallError && e.code === 'ECONNREFUSED') return { ok: false, message: `nobody listens on ${sock} (a stale socket: vnode-manager is not running)` };
    if (e instanceof LaunchCallError && e.code === 'ETIMEDOUT') return { ok: false, message: `vnode-manager at ${sock} did not answer within ${timeoutMs} ms (it is not running, or starting: its socket is kept for it by the fd keeper)` };
    return { ok: false, message: `cannot reach vnode-manager: ${(e as Error).message}` };
  }
}
