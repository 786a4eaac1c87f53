// The one gate for test prerequisites, used by unit and end-to-end tests alike: a test whose
// prerequisites are missing is skipped with the reason, except under CI (CI=true), where the
// gate throws and the test file fails, so a green CI always means every test ran.
import { existsSync } from 'node:fs';

export interface Prerequisite {
  what: string;
  met: () => boolean;
  /** How to get it, for the message. */
  how?: string;
}

export const ROOT: Prerequisite = { what: 'root', met: () => process.getuid?.() === 0, how: 'run as root' };

/** A file or directory that must exist. */
export const installed = (path: string, how = 'npm test installs the packages'): Prerequisite => ({ what: path, met: () => existsSync(path), how });

/** The install tree's file, made by the build. */
export const built = (path: string): Prerequisite => installed(path, 'npm run build');

/** false when every prerequisite is met; else the skip reason, or under CI an Error. */
export function skipUnless(...needs: Prerequisite[]): string | false {
  const missing = needs.filter((n) => !n.met());
  if (!missing.length) return false;
  const hows = [...new Set(missing.flatMap((m) => (m.how ? [m.how] : [])))];
  const reason = `prerequisites missing: ${missing.map((m) => m.what).join(', ')}${hows.length ? ` (${hows.join('; ')})` : ''}`;
  if (process.env.CI) throw new Error(`${reason}; under CI a missing prerequisite fails the test`);
  return reason;
}

/** The end-to-end test bed's usual needs: root and the packages it runs. */
export function e2eSkipReason(needs: string[] = ['/usr/bin/containerd', '/usr/sbin/runc', '/usr/lib/cni/bridge']): string | false {
  return skipUnless(ROOT, ...needs.map((p) => installed(p)));
}
