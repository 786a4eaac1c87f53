// `node dist/installer/image/buildInstallerImage.js [OUT.tar] [NAME]`: the installer image from
// the repo's staged tree (build/opt/vnode), for `ctr -n k8s.io images import OUT.tar`.
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { buildInstallerImage } from './installerImage.js';

const tree = fileURLToPath(new URL('../../../build/opt/vnode', import.meta.url));
const out = resolve(process.argv[2] ?? 'build/vnode-installer.tar');
const name = process.argv[3] ?? 'localhost/vnode-installer:dev';
const img = buildInstallerImage(tree, out, name);
process.stdout.write(`${img.name} ${img.digest}\n${img.tar}\nimport with: ctr -n k8s.io images import ${img.tar}\n`);
