// /proc/uptime: seconds since the pod started, and idle CPU-seconds of its visible CPUs since then.
import { visibleCpus } from './visibleCpus.js';
import type { ViewInput } from './ViewInput.js';

export function renderUptime(v: ViewInput): string {
  const up = Math.max(0, v.nowMs - v.startedAtMs) / 1000;
  const n = visibleCpus(v.cg.cpu, v.host.onlineCpus).length;
  const busy = (v.cg.cpu?.usage?.totalUs ?? 0) / 1e6;
  const idle = Math.max(0, up * n - busy);
  return `${up.toFixed(2)} ${idle.toFixed(2)}\n`;
}
