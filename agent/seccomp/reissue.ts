// Getting the notifications a dead manager received but never answered issued again.
//
// A notification taken with SECCOMP_IOCTL_NOTIF_RECV is in the kernel's SENT state: the trapped
// task waits (wait_for_completion_interruptible in seccomp_do_user_notification) for an answer
// that only a holder of the listener can give, and a new manager cannot RECV it again. Freezing
// the task's cgroup wakes it with the freezer's fake signal: the wait returns -ERESTARTSYS, the
// kernel drops that notification, the task freezes on its way out, and on thaw the syscall
// restarts from the beginning (no handler ran, so -ERESTARTSYS becomes a restart), runs the
// filter again and produces a new notification, which the new manager receives. Measured on this
// kernel by reissue.e2e.test.ts. It does not work when the filter was installed with
// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (the wait after RECV is killable only): the vNode profile
// never sets that flag (seccompProfile.ts drops it).
//
// The cgroup v1 freezer is used when the task is in one (runc uses it on v1 and hybrid hosts),
// else cgroup v2's cgroup.freeze. A cgroup already frozen (a paused container) is left alone:
// its tasks were woken when it froze, so none of them waits on a SENT notification.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseProcCgroup } from '../cgroup/procCgroup.js';

export interface ReissueResult {
  /** the cgroup frozen and thawed ("v1:/path" or "v2:/path"), when one was */
  cgroup?: string;
  /** frozen and thawed, so every stuck notification of its tasks was issued again */
  ok: boolean;
  /** freeze + thaw time */
  ms: number;
  /** why not, when not ok */
  reason?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function read(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** Where the freezer of pid's cgroup is: v1 freezer dir, else the v2 dir, with the files to use. */
export function freezerOf(pid: number, cgroupRoot = '/sys/fs/cgroup'): { kind: 'v1' | 'v2'; dir: string; path: string } | { reason: string } {
  const text = read(`/proc/${pid}/cgroup`);
  if (!text) return { reason: `process ${pid} is gone` };
  const m = parseProcCgroup(text);
  const v1 = m.v1.get('freezer');
  // The root cgroup cannot be frozen: a v1 freezer at the root falls through to v2.
  if (v1 !== undefined && v1 !== '/') {
    if (v1.includes('..')) return { reason: `unexpected freezer cgroup path ${v1}` };
    const dir = join(cgroupRoot, 'freezer', v1);
    if (existsSync(join(dir, 'freezer.state'))) return { kind: 'v1', dir, path: v1 };
    return { reason: `no freezer.state in ${dir}` };
  }
  if (m.v2 !== null) {
    if (m.v2 === '/' || m.v2.includes('..')) return { reason: `process ${pid} is in the root cgroup (cannot be frozen)` };
    // A pure v2 host mounts it at the root; a hybrid one under unified/.
    const base = existsSync(join(cgroupRoot, 'cgroup.controllers')) ? cgroupRoot : join(cgroupRoot, 'unified');
    const dir = join(base, m.v2);
    if (existsSync(join(dir, 'cgroup.freeze'))) return { kind: 'v2', dir, path: m.v2 };
    return { reason: `no cgroup.freeze in ${dir}` };
  }
  return { reason: `process ${pid} has no freezer cgroup` };
}

/**
 * Freezes and thaws the cgroup of pid (the container's), so that every notification its tasks
 * wait on without an answer is issued again. Waits up to timeoutMs for the freeze to complete and
 * thaws in any case.
 */
export async function reissueStuckNotifications(pid: number, opts: { cgroupRoot?: string; timeoutMs?: number } = {}): Promise<ReissueResult> {
  const t0 = performance.now();
  const f = freezerOf(pid, opts.cgroupRoot);
  if ('reason' in f) return { ok: false, ms: 0, reason: f.reason };
  const cgroup = `${f.kind}:${f.path}`;
  const timeoutMs = opts.timeoutMs ?? 2000;
  const stateFile = f.kind === 'v1' ? join(f.dir, 'freezer.state') : join(f.dir, 'cgroup.freeze');
  const frozenNow = (): boolean => (f.kind === 'v1' ? read(stateFile)?.trim() === 'FROZEN' : /^frozen 1$/m.test(read(join(f.dir, 'cgroup.events')) ?? ''));
  const already = f.kind === 'v1' ? read(stateFile)?.trim() !== 'THAWED' : read(stateFile)?.trim() === '1';
  if (already) return { cgroup, ok: false, ms: 0, reason: 'the cgroup is frozen (a paused container): left as it is' };
  let reason: string | undefined;
  try {
    writeFileSync(stateFile, f.kind === 'v1' ? 'FROZEN' : '1');
    const deadline = performance.now() + timeoutMs;
    while (!frozenNow()) {
      if (performance.now() > deadline) {
        reason = `the cgroup did not freeze within ${timeoutMs} ms`;
        break;
      }
      await sleep(1);
    }
  } catch (e) {
    reason = `cannot freeze: ${(e as Error).message}`;
  } finally {
    try {
      writeFileSync(stateFile, f.kind === 'v1' ? 'THAWED' : '0');
    } catch (e) {
      reason = `${reason ? `${reason}; ` : ''}cannot thaw: ${(e as Error).message}`;
    }
  }
  return { cgroup, ok: reason === undefined, ms: performance.now() - t0, ...(reason ? { reason } : {}) };
}
