// The fd keeper's process (bin/vnode-keeper) as its stoppers see it: the installer's uninstall,
// `npm run local -- down`, a test bed's teardown. No addon here (the installer loads this).
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { processRunning } from './procState.js';

export const KEEPER_SOCKET = 'keeper.sock';
export const KEEPER_PIDFILE = 'keeper.pid';
export const KEEPER_BINARY_NAME = 'vnode-keeper';

/** The pid in runDir/keeper.pid when that process is alive and is a vnode-keeper of runDir. */
export function runningKeeper(runDir: string, procRoot = '/proc', pidFile = join(runDir, KEEPER_PIDFILE)): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    // Pids are reused: it must be a keeper, and of this run dir.
    const argv = readFileSync(`${procRoot}/${pid}/cmdline`, 'utf8').split('\0');
    if (basename(argv[0] ?? '') !== KEEPER_BINARY_NAME || argv[argv.length - 2] !== runDir) return undefined;
  } catch {
    return undefined;
  }
  return processRunning(pid) ? pid : undefined;
}

/**
 * Stops the keeper of runDir for good (SIGTERM, SIGKILL after timeoutMs): every fd it holds is
 * closed. For whoever stops the manager for good: uninstall, `npm run local -- down`, a test
 * bed's teardown. pidFile: where the keeper's pidfile is seen from here (an installer's host root).
 */
export async function stopKeeper(runDir: string, opts: { pidFile?: string; timeoutMs?: number } = {}): Promise<boolean> {
  const pid = runningKeeper(runDir, '/proc', opts.pidFile);
  if (!pid) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  while (processRunning(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (processRunning(pid)) process.kill(pid, 'SIGKILL');
  while (processRunning(pid) && Date.now() < deadline + 2000) await new Promise((r) => setTimeout(r, 20));
  return true;
}
