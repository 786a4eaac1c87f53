// A Config for tests that run real vNodes beside anything else on the machine: run and state
// dirs in a fresh temp dir (0711: holders run as unprivileged host uids and must reach their
// root dirs), an id pool of the test's own choosing, and subuid/subgid files of its own (empty
// unless given) instead of the host's.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from '../../common/config.js';

export interface IsolatedConfigOptions {
  /** temp dir name prefix */
  prefix: string;
  poolStart: number;
  /** blocks of 65536 ids */
  count: number;
  subuid?: string;
  subgid?: string;
}

export function isolatedConfig(o: IsolatedConfigOptions): { cfg: Config; base: string } {
  const base = mkdtempSync(join(tmpdir(), o.prefix));
  chmodSync(base, 0o711);
  writeFileSync(join(base, 'subuid'), o.subuid ?? '');
  writeFileSync(join(base, 'subgid'), o.subgid ?? '');
  const cfg = parseConfig({
    runDir: join(base, 'run'),
    stateDir: join(base, 'state'),
    idPool: { start: o.poolStart, count: o.count, subuidFile: join(base, 'subuid'), subgidFile: join(base, 'subgid') },
  });
  return { cfg, base };
}
