// The container's memory figures in bytes, shared by meminfo and swaps so they agree.
import type { ViewInput } from './ViewInput.js';

export interface MemoryFigures {
  total: number;
  free: number;
  available: number;
  cached: number;
  swapTotal: number;
  swapFree: number;
}

/** Parses host meminfo into key -> bytes (kB lines) or raw count (HugePages_* lines). */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(\d+)(\s+kB)?/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]) * (m[3] ? 1024 : 1));
  }
  return out;
}

export function memoryFigures(v: ViewInput, host: Map<string, number> = parseMeminfo(v.host.meminfo)): MemoryFigures | null {
  const mem = v.cg.memory;
  if (!mem) return null;
  const hostTotal = host.get('MemTotal') ?? Infinity;
  const total = Math.min(mem.limitBytes ?? Infinity, hostTotal);
  if (!Number.isFinite(total)) return null;
  const used = Math.min(mem.usageBytes, total);
  const free = total - used;
  const s = mem.stat;
  // Page cache beyond shared memory and reclaimable slab can be given back under pressure.
  const reclaimable = Math.max(0, s.file - s.shmem) + s.slabReclaimable;
  const available = Math.min(total, free + reclaimable);
  const hostSwap = host.get('SwapTotal') ?? 0;
  const swapTotal = Math.min(hostSwap, mem.swapLimitBytes ?? hostSwap);
  const swapFree = swapTotal - Math.min(mem.swapUsageBytes, swapTotal);
  return { total, free, available, cached: Math.min(s.file, used), swapTotal, swapFree };
}
