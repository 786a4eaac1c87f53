// The kernel's exponentially damped load average, sampled every 5 s, for one container's tasks.

export const LOAD_INTERVAL_MS = 5000;
const E1 = Math.exp(-5 / 60);
const E5 = Math.exp(-5 / 300);
const E15 = Math.exp(-5 / 900);

export interface LoadState {
  load1: number;
  load5: number;
  load15: number;
}

/** One 5-second step with `active` runnable+uninterruptible tasks. */
export function decayLoad(prev: LoadState, active: number): LoadState {
  return {
    load1: prev.load1 * E1 + active * (1 - E1),
    load5: prev.load5 * E5 + active * (1 - E5),
    load15: prev.load15 * E15 + active * (1 - E15),
  };
}
