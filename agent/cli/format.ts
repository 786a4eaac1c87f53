// Human output of the `vnode` commands: pure functions from a report to text (tested as such).
import type { InspectReport, ListReport, StatusReport, SubsystemHealth, VNodeSummary } from '../manager/introspectionReports.js';
import type { DoctorCheck } from './doctor.js';

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string {
  const w = rows[0]?.map((_c, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')).join('\n') + '\n';
}

export function duration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
}

const subsystemRows = (subs: SubsystemHealth[]): string[][] => subs.map((s) => [`  ${s.name}`, s.status, s.detail]);

export function formatStatus(r: StatusReport): string {
  const failed = r.subsystems.filter((s) => s.status === 'failed');
  const c = r.counts;
  return (
    `vnode-manager ${r.version}: ${failed.length ? `DEGRADED (${failed.map((s) => s.name).join(', ')} failed)` : 'healthy'}\n` +
    `pid ${r.pid}, up ${duration(r.uptimeSeconds)} (since ${r.startedAt})\n` +
    `run dir ${r.runDir}, state dir ${r.stateDir}\n` +
    `metrics ${r.metricsUrl ?? 'not served'}\n` +
    `subsystems:\n${table(subsystemRows(r.subsystems))}` +
    `counts: ${c.vnodes} vNodes, ${c.pods} pods, ${c.containers} containers, ${c.seccompListeners} seccomp listeners, ${c.syscallsIntercepted} syscalls intercepted, ${c.vnodefsRequests} vnodefs requests\n`
  );
}

const range = (v: VNodeSummary): string => `${v.idRange.uidStart}-${v.idRange.uidStart + v.idRange.size - 1}`;
const nsId = (s: string | null): string => (s ? (/\[(\d+)\]/.exec(s)?.[1] ?? s) : '-');
const podName = (p: { namespace: string; name: string; id: string }): string => (p.name ? `${p.namespace}/${p.name}` : p.id.slice(0, 13));

export function formatList(r: ListReport): string {
  if (!r.vnodes.length) return 'no vNodes on this node\n';
  const rows = [['VNODE', 'STATE', 'UIDS', 'HOLDER', 'USERNS', 'NETNS', 'PODS']];
  for (const v of r.vnodes) rows.push([v.name, v.state, range(v), String(v.holderPid ?? '-'), nsId(v.namespaces.user ?? null), nsId(v.namespaces.net ?? null), v.pods.map(podName).join(',') || '-']);
  const pods = r.vnodes.flatMap((v) => v.pods.map((p) => [p.id.slice(0, 13), p.namespace || '-', p.name || '-', v.name, String(p.containers)]));
  return table(rows) + (pods.length ? `\n${table([['POD', 'NAMESPACE', 'NAME', 'VNODE', 'CONTAINERS'], ...pods])}` : '');
}

export function formatInspect(r: InspectReport): string {
  const v = r.vnode;
  const lines: string[] = [];
  lines.push(r.pod ? `pod ${r.pod.id} (${r.pod.namespace || '-'}/${r.pod.name || '-'}) in vNode ${v.name}` : `vNode ${v.name} (${v.key}), ${v.state}`);
  lines.push(`ids: uid ${range(v)}, gid ${v.idRange.gidStart}-${v.idRange.gidStart + v.idRange.size - 1}`);
  lines.push(`holder: pid ${v.holderPid ?? '-'}, created ${v.createdAt}`);
  lines.push(`namespaces: ${Object.entries(v.namespaces).map(([k, id]) => `${k} ${nsId(id)}`).join(', ')}`);
  if (!r.pod) lines.push(`pods: ${v.pods.map(podName).join(', ') || '-'}`);
  lines.push(`host mounts (${r.hostMounts.length}):`, ...r.hostMounts.map((m) => `  ${m.mountPoint} ${m.fsType} ${m.source}`));
  for (const c of r.containers) {
    lines.push(`container ${c.id.slice(0, 13)}${c.sandbox ? ' (sandbox)' : ''}: pid ${c.pid ?? '-'}, uid_map ${c.uidMap ?? '-'}, ${c.seccompListeners} seccomp listeners`);
    if (c.pid) lines.push(`  namespaces: ${Object.entries(c.namespaces).map(([k, id]) => `${k} ${nsId(id)}`).join(', ')}`);
    const fuse = c.mounts.filter((m) => m.fsType === 'fuse.vnodefs').length;
    lines.push(`  mounts: ${c.mounts.length} (${fuse} from vnodefs)`);
  }
  const calls = Object.entries(r.seccomp.syscalls);
  lines.push(`seccomp: ${r.seccomp.listeners} listeners; syscalls: ${calls.length ? calls.map(([n, o]) => `${n} ${Object.entries(o).map(([k, x]) => `${k}=${x}`).join('/')}`).join(', ') : 'none intercepted'}`);
  const f = r.vnodefs;
  lines.push(`vnodefs (node-wide): ${f.mounted ? `${f.requests} requests, ${f.failed} failed, ${f.malformed} malformed, ${f.openHandles} open handles` : 'not mounted'}`);
  const sys = Object.entries(f.sysctlsWritten);
  if (sys.length) lines.push(`sysctls written by this vNode: ${sys.map(([k, x]) => `${k}=${x}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

export function formatDoctor(checks: DoctorCheck[]): string {
  const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
  const lines = checks.flatMap((c) => [`${mark[c.verdict]}  ${c.check}: ${c.detail}`, ...(c.fix ? [`      fix: ${c.fix}`] : [])]);
  const bad = checks.filter((c) => c.verdict === 'fail').length;
  const warn = checks.filter((c) => c.verdict === 'warn').length;
  return `${lines.join('\n')}\n${bad ? `${bad} check(s) failed` : 'every check passed'}${warn ? `, ${warn} warning(s)` : ''}\n`;
}
