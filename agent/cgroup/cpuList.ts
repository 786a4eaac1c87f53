// The kernel's CPU list format ("0-3,5,8-9"), used by cpuset files and /sys/devices/system/cpu/*.

/** Parses a CPU list; throws on text that is not one (the error names the text). */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  const t = text.trim();
  if (!t) return out;
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`bad CPU list ${JSON.stringify(text)}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 65536) throw new Error(`bad CPU range ${JSON.stringify(part)} in ${JSON.stringify(text)}`);
    for (let i = a; i <= b; i++) out.push(i);
  }
  return [...new Set(out)].sort((x, y) => x - y);
}

/** Formats sorted CPU ids the kernel's way: [0,1,2,5] -> "0-2,5". */
export function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j]! + 1) j++;
    parts.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
