// /proc/loadavg: the container's own load average (see loadAverage.ts), task counts, and the
// host's last pid (it is a pid-allocation counter, not a container figure).
import type { ViewInput } from './ViewInput.js';

export function renderLoadavg(v: ViewInput): string {
  // No sample: the caller is outside any container, so the host's figures are its own.
  if (!v.load) return v.host.loadavg;
  const lastPid = v.host.loadavg.trim().split(/\s+/)[4] ?? '0';
  const l = v.load;
  return `${l.load1.toFixed(2)} ${l.load5.toFixed(2)} ${l.load15.toFixed(2)} ${l.running}/${l.total} ${lastPid}\n`;
}
