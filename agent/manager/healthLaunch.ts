// The `vnode-health` launch entry: the manager answers, so it is alive and its event loop turns.
// `vnode health` (the DaemonSet's probes) asks it; the answer is one line of status.
import type { LaunchHandler } from '../launch/LaunchServer.js';

export const HEALTH_ENTRY = 'vnode-health';

export function healthLaunch(startedAt = Date.now()): LaunchHandler {
  return async () => ({
    kind: 'exit',
    code: 0,
    stdout: `vnode-manager ok: pid ${process.pid}, up ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`,
  });
}
