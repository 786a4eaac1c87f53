// /proc/swaps: one virtual line with the container's swap allowance, or only the header.
import { memoryFigures } from './memoryFigures.js';
import type { ViewInput } from './ViewInput.js';

const SWAPS_HEADER = 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n';

export function renderSwaps(v: ViewInput): string {
  const f = memoryFigures(v);
  if (!f || f.swapTotal <= 0) return SWAPS_HEADER;
  const kb = (b: number): number => Math.floor(b / 1024);
  return `${SWAPS_HEADER}none                                    virtual\t\t${kb(f.swapTotal)}\t\t${kb(f.swapTotal - f.swapFree)}\t\t0\n`;
}
