// /proc/meminfo: the host's file with the memory lines replaced by the container's figures.
import { memoryFigures, parseMeminfo } from './memoryFigures.js';
import type { ViewInput } from './ViewInput.js';

const PAD = '                ';

/** One line the kernel's way: key and colon padded to 16, kB right-aligned in 8. */
export function meminfoLine(key: string, bytes: number): string {
  const k = `${key}:`;
  const n = String(Math.floor(bytes / 1024));
  return `${k}${PAD.slice(0, Math.max(0, 16 - k.length))}${PAD.slice(0, Math.max(0, 8 - n.length))}${n} kB`;
}

export function renderMeminfo(v: ViewInput): string {
  const host = parseMeminfo(v.host.meminfo);
  const f = memoryFigures(v, host);
  const mem = v.cg.memory;
  if (!f || !mem) return v.host.meminfo;
  const s = mem.stat;
  const cap = (b: number): number => Math.min(b, f.total);
  const over: Record<string, number> = {
    MemTotal: f.total,
    MemFree: f.free,
    MemAvailable: f.available,
    Buffers: 0,
    Cached: f.cached,
    SwapCached: 0,
    Active: cap(s.activeAnon + s.activeFile),
    Inactive: cap(s.inactiveAnon + s.inactiveFile),
    'Active(anon)': cap(s.activeAnon),
    'Inactive(anon)': cap(s.inactiveAnon),
    'Active(file)': cap(s.activeFile),
    'Inactive(file)': cap(s.inactiveFile),
    Unevictable: cap(s.unevictable),
    SwapTotal: f.swapTotal,
    SwapFree: f.swapFree,
    AnonPages: cap(s.anon),
    Mapped: cap(s.mapped),
    Shmem: cap(s.shmem),
    Slab: cap(s.slabReclaimable + s.slabUnreclaimable),
    SReclaimable: cap(s.slabReclaimable),
    SUnreclaim: cap(s.slabUnreclaimable),
  };
  let out = '';
  for (const { key, line } of host.lines) {
    const b = over[key];
    out += b === undefined ? line : meminfoLine(key, b);
    out += '\n';
  }
  return out;
}
