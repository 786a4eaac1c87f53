// The `vnode-health` launch entry, the DaemonSet's probes: the manager answers, so its event loop
// turns, and each subsystem is checked (launch socket, TTRPC, vnodefs, seccomp workers, state).
// `vnode-health` is liveness: only failures a restart fixes count; `vnode-health --ready` is
// readiness: every subsystem counts. One line of status; exit 1 names what failed.
import type { LaunchHandler } from '../launch/LaunchServer.js';
import type { HealthReport } from './introspectionReports.js';

export const HEALTH_ENTRY = 'vnode-health';

export function healthLaunch(check: () => Promise<HealthReport>): LaunchHandler {
  return async (req) => {
    const ready = req.argv.includes('--ready');
    const h = await check();
    const counted = h.subsystems.filter((s) => s.status !== 'off' && (ready || s.live));
    const failed = counted.filter((s) => s.status === 'failed');
    const summary = h.subsystems.map((s) => `${s.name} ${s.status}`).join(', ');
    if (failed.length) return { kind: 'exit', code: 1, stderr: `${failed.map((s) => `${s.name} failed: ${s.detail}`).join('; ')} (${summary})\n` };
    return { kind: 'exit', code: 0, stdout: `vnode-manager ${ready ? 'ready' : 'ok'}: pid ${h.pid}, up ${h.uptimeSeconds.toFixed(1)} s; ${summary}\n` };
  };
}
