// Messages between the SeccompAgent (main thread) and its notification workers.
import type { CallCounts, LoopOptions, LoopStats } from './NotifyLoop.js';
import type { SeccompTarget } from './SeccompTarget.js';

export interface WorkerData {
  index: number;
  loop: LoopOptions;
}

export type ToWorker =
  | { t: 'attach'; connId: number; fd: number; target: SeccompTarget; statePid: number }
  | { t: 'stats'; req: number }
  | { t: 'drainCalls'; req: number }
  | { t: 'gc' }
  | { t: 'stop' };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'attached'; connId: number }
  | { t: 'attachFailed'; connId: number; error: string }
  | { t: 'released'; connId: number; reason: string }
  | { t: 'stats'; req: number; stats: LoopStats }
  | { t: 'calls'; req: number; calls: CallCounts }
  | { t: 'gcDone'; heapKb: number }
  | { t: 'stopped' };
