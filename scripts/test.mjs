// Runs every test with node's built-in runner: unit tests in parallel, then the end-to-end tests
// (real containerd, kernel, FUSE) one file at a time. `node scripts/test.mjs PATTERN...` runs the
// files whose path contains one of the patterns; `--unit` runs only the unit tests (no e2e/ file,
// no *.e2e.test.js).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const dist = join(root, 'dist');

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const unitOnly = process.argv.includes('--unit');
const patterns = process.argv.slice(2).filter((a) => a !== '--unit');
const files = walk(dist)
  .filter((f) => !patterns.length || patterns.some((p) => relative(root, f).includes(p)))
  .sort();
// End-to-end files: everything under e2e/, and *.e2e.test.js anywhere.
const isE2e = (f) => relative(dist, f).startsWith('e2e/') || f.endsWith('.e2e.test.js');
const unit = files.filter((f) => !isE2e(f));
const e2e = unitOnly ? [] : files.filter(isE2e);

let failed = false;
function runGroup(name, list, concurrency) {
  if (!list.length) return;
  console.log(`\n# ${name}: ${list.length} file(s)`);
  const r = spawnSync(process.execPath, ['--enable-source-maps', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...list], {
    stdio: 'inherit',
    cwd: root,
  });
  if (r.status !== 0) failed = true;
}
runGroup('unit tests', unit, 2);
runGroup('end-to-end tests', e2e, 1);
if (!files.length) {
  console.error(`no test files match ${patterns.join(' ')}`);
  process.exit(1);
}
process.exit(failed ? 1 : 0);
