// Whether a pid names a process that still runs: /proc/<pid>/stat exists and its state is not
// Z (exited, waiting to be reaped; an orphan's zombie may wait for the host's init). The state is
// the field after the last ')': a command name may itself hold ") Z ".
import { readFileSync } from 'node:fs';

export function processRunning(pid: number): boolean {
  let st: string;
  try {
    st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  return st[st.lastIndexOf(')') + 2] !== 'Z';
}
