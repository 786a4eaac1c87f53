// /proc/diskstats: the host's devices with the container's own I/O counts (zero for devices it
// never touched); the timing fields, which cgroups do not account per container, are 0.
import type { ViewInput } from './ViewInput.js';

export function renderDiskstats(v: ViewInput): string {
  const io = v.cg.io;
  if (!io) return v.host.diskstats;
  const out: string[] = [];
  for (const line of v.host.diskstats.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const [maj, min, name] = f as [string, string, string];
    const d = io.devices.get(`${maj}:${min}`);
    const fields = new Array<number>(Math.max(11, f.length - 3)).fill(0);
    if (d) {
      fields[0] = d.readIos;
      fields[2] = Math.floor(d.readBytes / 512);
      fields[4] = d.writeIos;
      fields[6] = Math.floor(d.writeBytes / 512);
    }
    out.push(`${maj.padStart(4)} ${min.padStart(7)} ${name} ${fields.join(' ')}`);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}
