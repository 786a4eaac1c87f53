// /proc/stat: cpu lines from the container's CPU time spread over its visible CPUs, idle time
// from its uptime; process counts from its own tasks; the other host lines passed through.
import { visibleCpus } from './visibleCpus.js';
import { USER_HZ, type ViewInput } from './ViewInput.js';

function cpuLine(name: string, user: number, system: number, idle: number): string {
  const f = (x: number): number => Math.max(0, Math.floor(x));
  return `${name} ${f(user)} 0 ${f(system)} ${f(idle)} 0 0 0 0 0 0`;
}

export function renderStat(v: ViewInput): string {
  const usage = v.cg.cpu?.usage;
  const lines = v.host.stat.split('\n').filter((l) => l);
  if (!usage) return v.host.stat;
  const cpus = visibleCpus(v.cg.cpu, v.host.onlineCpus);
  const n = cpus.length;
  const upTicks = (Math.max(0, v.nowMs - v.startedAtMs) / 1000) * USER_HZ;
  const user = (usage.userUs / 1e6) * USER_HZ;
  const system = (usage.systemUs / 1e6) * USER_HZ;
  const perUser = user / n;
  const perSys = system / n;
  const perIdle = Math.max(0, upTicks - perUser - perSys);
  const out = [cpuLine('cpu ', Math.floor(perUser) * n, Math.floor(perSys) * n, Math.floor(perIdle) * n)];
  for (const c of cpus) out.push(cpuLine(`cpu${c}`, perUser, perSys, perIdle));
  for (const l of lines) {
    if (l.startsWith('cpu')) continue;
    if (v.load && l.startsWith('procs_running ')) out.push(`procs_running ${v.load.running}`);
    else if (v.load && l.startsWith('procs_blocked ')) out.push(`procs_blocked ${v.load.blocked}`);
    else out.push(l);
  }
  return `${out.join('\n')}\n`;
}
