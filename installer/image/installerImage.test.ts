import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildInstallerImage, installerRootfs, INSTALLER_ENTRY } from './installerImage.js';
import { built, ROOT, skipUnless } from '../../e2e/lib/e2eGate.js';

const tree = fileURLToPath(new URL('../../../build/opt/vnode', import.meta.url));
const skip = skipUnless(built(join(tree, 'lib/app/installer/installerEntry.js')));

test('the image is a deterministic OCI layout that ctr can import', { skip }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-inst-img-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = buildInstallerImage(tree, join(dir, 'a.tar'));
  const b = buildInstallerImage(tree, join(dir, 'b.tar'));
  assert.equal(a.digest, b.digest, 'same tree, same manifest digest');
  const index = JSON.parse(execFileSync('tar', ['-xOf', a.tar, 'index.json'], { encoding: 'utf8' }));
  assert.equal(index.manifests[0].annotations['io.containerd.image.name'], 'localhost/vnode-installer:test');
});

test('the image root runs the installer entrypoint with only what the image holds (chroot)', { skip: skip || skipUnless(ROOT) }, (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vnode-inst-rootfs-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  installerRootfs(tree, root);
  const r = spawnSync('chroot', [root, '/opt/vnode-image/lib/node', INSTALLER_ENTRY, 'no-such-command'], { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/bin', VNODE_LOG_LEVEL: 'error' } });
  assert.equal(r.status, 2, `stderr: ${r.stderr}`);
  assert.match(r.stderr, /usage: vnode-installer/);
  for (const tool of ['/usr/bin/nsenter', '/bin/sh']) {
    const v = spawnSync('chroot', [root, tool, tool.endsWith('sh') ? '-c' : '--version', ...(tool.endsWith('sh') ? ['exit 0'] : [])], { encoding: 'utf8' });
    assert.equal(v.status, 0, `${tool} runs in the image: ${v.stderr}`);
  }
});
