// /proc/cpuinfo: the host's blocks for the CPUs the container is shown.
import { visibleCpus } from './visibleCpus.js';
import type { ViewInput } from './ViewInput.js';

export function renderCpuinfo(v: ViewInput): string {
  const cpus = new Set(visibleCpus(v.cg.cpu, v.host.onlineCpus));
  const blocks = v.host.cpuinfo.split(/\n\n+/).filter((b) => b.trim());
  const kept: string[] = [];
  let sawProcessor = false;
  for (const b of blocks) {
    const m = /^processor\s*:\s*(\d+)\s*$/m.exec(b);
    if (!m) {
      kept.push(b);
      continue;
    }
    sawProcessor = true;
    if (cpus.has(Number(m[1]))) kept.push(b);
  }
  // A layout without "processor" blocks (some architectures) is passed through unchanged.
  if (!sawProcessor) return v.host.cpuinfo;
  return `${kept.join('\n\n')}\n\n`;
}
