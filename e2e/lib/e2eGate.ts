// Whether end-to-end tests can run here. Under CI (CI=true) a missing prerequisite fails the
// test instead of skipping it, so a green CI always means the e2e tests ran.
import { existsSync } from 'node:fs';

export function e2eSkipReason(needs: string[] = ['/usr/bin/containerd', '/usr/sbin/runc', '/usr/lib/cni/bridge']): string | false {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  for (const n of needs) if (!existsSync(n)) missing.push(n);
  if (!missing.length) return false;
  const reason = `end-to-end prerequisites missing: ${missing.join(', ')} (npm test installs the packages; run as root)`;
  if (process.env.CI) throw new Error(reason);
  return reason;
}
