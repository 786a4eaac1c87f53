// Writes charts/vnode-runtime/** and manifests/vnode-runtime.yaml from the typed source:
//   node dist/charts/source/generate.js
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chartFiles, manifestsFile } from './chartFiles.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const chartDir = join(repo, 'charts/vnode-runtime');
rmSync(join(chartDir, 'templates'), { recursive: true, force: true });
for (const [rel, text] of Object.entries(chartFiles())) {
  mkdirSync(dirname(join(chartDir, rel)), { recursive: true });
  writeFileSync(join(chartDir, rel), text);
}
mkdirSync(join(repo, 'manifests'), { recursive: true });
writeFileSync(join(repo, 'manifests/vnode-runtime.yaml'), manifestsFile());
process.stdout.write(`wrote ${chartDir} and ${join(repo, 'manifests/vnode-runtime.yaml')}\n`);
