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

export interface MeminfoLine {
  key: string;
  line: string;
}

export interface ParsedMeminfo {
  /** key -> bytes (kB lines) or raw count (HugePages_* lines) */
  values: Map<string, number>;
  lines: MeminfoLine[];
}

// The host text is re-read at most every 250 ms and then parsed for every open: keep the last
// parse (a pure memo: same text, same result).
let memoText: string | undefined;
let memo: ParsedMeminfo | undefined;

export function parseMeminfo(text: string): ParsedMeminfo {
  if (text === memoText && memo) return memo;
  const values = new Map<string, number>();
  const lines: MeminfoLine[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const colon = line.indexOf(':');
    const key = colon < 0 ? line : line.slice(0, colon);
    lines.push({ key, line });
    const m = /^[^:]+:\s+(\d+)(\s+kB)?/.exec(line);
    if (m) values.set(key, Number(m[1]) * (m[2] ? 1024 : 1));
  }
  memoText = text;
  memo = { values, lines };
  return memo;
}

export function memoryFigures(v: ViewInput, host: ParsedMeminfo = parseMeminfo(v.host.meminfo)): MemoryFigures | null {
  const mem = v.cg.memory;
  if (!mem) return null;
  const hostTotal = host.values.get('MemTotal') ?? Infinity;
  const total = Math.min(mem.limitBytes ?? Infinity, hostTotal);
  if (!Number.isFinite(total)) return null;
  const used = Math.min(mem.usageBytes, total);
  const free = total - used;
  const s = mem.stat;
  // Page cache beyond shared memory and reclaimable slab can be given back under pressure.
  const reclaimable = Math.max(0, s.file - s.shmem) + s.slabReclaimable;
  const available = Math.min(total, free + reclaimable);
  const hostSwap = host.values.get('SwapTotal') ?? 0;
  const swapTotal = Math.min(hostSwap, mem.swapLimitBytes ?? hostSwap);
  const swapFree = swapTotal - Math.min(mem.swapUsageBytes, swapTotal);
  return { total, free, available, cached: Math.min(s.file, used), swapTotal, swapFree };
}
