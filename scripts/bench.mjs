// Runs every benchmark in bench/ (dist/bench/*.bench.js), one at a time. Each prints lines
// `BENCH <name> ... ratio=<x>` against a peer measured in the same run.
// `node scripts/bench.mjs PATTERN...` runs only the matching files.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const dir = join(root, 'dist/bench');
const patterns = process.argv.slice(2);
const files = existsSync(dir)
  ? readdirSync(dir).filter((f) => f.endsWith('.bench.js') && (!patterns.length || patterns.some((p) => f.includes(p)))).sort()
  : [];
if (!files.length) {
  console.error('no benchmarks found');
  process.exit(1);
}
let failed = false;
for (const f of files) {
  console.log(`# ${f}`);
  const r = spawnSync(process.execPath, ['--enable-source-maps', join(dir, f)], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    console.error(`# ${f} failed (exit ${r.status ?? r.signal})`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
