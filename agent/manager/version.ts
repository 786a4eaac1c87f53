// The package version this tree was built from (package.json sits two levels above dist/agent/*).
import { readFileSync } from 'node:fs';

export function managerVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
