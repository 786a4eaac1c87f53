// The manager's threads load CommonJS packages with require (cjs.ts): an ES import of one starts
// Node's CommonJS export lexer in that thread, ~7 MiB resident for the life of the thread, and the
// manager runs five (BENCH manager-memory). This walks the ES import graph of the program's entry
// and of its worker threads' entries, as compiled, and fails on an import of a CommonJS package.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ENTRIES = ['../main.js', '../seccomp/notifyWorker.js', '../vnodefs/fuseWorker.js'].map((p) => fileURLToPath(new URL(p, import.meta.url)));

/** Module specifiers a compiled file imports (static, re-exported, side-effect and literal dynamic imports); comments left out. */
function importsOf(src: string): string[] {
  const code = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of code.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

/** Whether the file Node would load for an ES import is CommonJS. */
function isCommonJs(url: string): boolean {
  if (!url.startsWith('file:')) return false;
  const file = fileURLToPath(url);
  if (file.endsWith('.mjs')) return false;
  if (file.endsWith('.cjs')) return true;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) return (JSON.parse(readFileSync(pj, 'utf8')) as { type?: string }).type !== 'module';
    if (dirname(dir) === dir) return true;
  }
}

test('importsOf finds each kind of import and skips comments', () => {
  const src = "import a from 'x';\nimport { b,\n  c } from \"y\";\nexport * from './z.js';\nimport 'side';\n// import q from 'commented';\n/* import('block') */\nconst w = await import('dyn');\nconst t = 'from here';\n";
  assert.deepEqual(importsOf(src), ['x', 'y', './z.js', 'side', 'dyn']);
});

test("no thread of the program imports a CommonJS package with an ES import (cjs.ts's requireCjs instead)", () => {
  const seen = new Set<string>();
  const offenders: string[] = [];
  const packages = new Set<string>();
  const walk = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) walk(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:')) {
        packages.add(spec);
        if (isCommonJs(import.meta.resolve(spec))) offenders.push(`${file.replace(/.*\/dist\//, '')} imports ${spec}`);
      }
    }
  };
  for (const e of ENTRIES) walk(e);
  assert.ok(seen.size > 50, `walked ${seen.size} modules`);
  assert.ok(packages.has('zod'), 'an ES package is seen (the walk reaches packages)');
  assert.deepEqual(offenders, []);
});
