// The seccomp user-notification round trip as the manager will serve it (policy in JS on the
// main loop, listener driven by uv_poll), with and without SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
// beside the same process's untrapped syscall.
//   BENCH seccomp-notify rtt_us=.. sync_wakeup_rtt_us=.. untrapped_us=.. ratio=..
import { runNotifyTarget } from '../addon/fixtures/notifyTarget.js';

const ITER = 20000;
const plain = await runNotifyTarget({ iterations: ITER, syncWakeUp: false });
const sync = await runNotifyTarget({ iterations: ITER, syncWakeUp: true });
const us = (r: typeof plain, k: string): number => Number(r.lines.get('bench')?.[k]) / 1000;
const rtt = us(plain, 'trapped_ns');
const srtt = us(sync, 'trapped_ns');
const untrapped = us(sync, 'untrapped_ns');
console.log(
  `BENCH seccomp-notify rtt_us=${rtt.toFixed(1)} sync_wakeup_rtt_us=${srtt.toFixed(1)} sync_wakeup=${sync.syncWakeUp} untrapped_us=${untrapped.toFixed(3)} ratio=${(srtt / rtt).toFixed(2)}`,
);
