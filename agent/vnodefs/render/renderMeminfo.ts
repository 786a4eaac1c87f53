// /proc/meminfo: the host's file with the memory lines replaced by the container's figures.
import { memoryFigures, parseMeminfo } from './memoryFigures.js';
import type { ViewInput } from './ViewInput.js';

const kb = (bytes: number): number => Math.floor(bytes / 1024);

export function meminfoLine(key: string, bytes: number): string {
  return `${`${key}:`.padEnd(16)}${String(kb(bytes)).padStart(8)} kB`;
}

export function renderMeminfo(v: ViewInput): string {
  const host = parseMeminfo(v.host.meminfo);
  const f = memoryFigures(v, host);
  const mem = v.cg.memory;
  if (!f || !mem) return v.host.meminfo;
  const s = mem.stat;
  const cap = (b: number): number => Math.min(b, f.total);
  const over = new Map<string, number>([
    ['MemTotal', f.total],
    ['MemFree', f.free],
    ['MemAvailable', f.available],
    ['Buffers', 0],
    ['Cached', f.cached],
    ['SwapCached', 0],
    ['Active', cap(s.activeAnon + s.activeFile)],
    ['Inactive', cap(s.inactiveAnon + s.inactiveFile)],
    ['Active(anon)', cap(s.activeAnon)],
    ['Inactive(anon)', cap(s.inactiveAnon)],
    ['Active(file)', cap(s.activeFile)],
    ['Inactive(file)', cap(s.inactiveFile)],
    ['Unevictable', cap(s.unevictable)],
    ['SwapTotal', f.swapTotal],
    ['SwapFree', f.swapFree],
    ['AnonPages', cap(s.anon)],
    ['Mapped', cap(s.mapped)],
    ['Shmem', cap(s.shmem)],
    ['Slab', cap(s.slabReclaimable + s.slabUnreclaimable)],
    ['SReclaimable', cap(s.slabReclaimable)],
    ['SUnreclaim', cap(s.slabUnreclaimable)],
  ]);
  const out: string[] = [];
  for (const line of v.host.meminfo.split('\n')) {
    if (!line) continue;
    const key = line.slice(0, line.indexOf(':'));
    const b = over.get(key);
    out.push(b === undefined ? line : meminfoLine(key, b));
  }
  return `${out.join('\n')}\n`;
}
