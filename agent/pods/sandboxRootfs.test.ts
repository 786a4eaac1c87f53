import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseSpec } from '../spec/SpecRewriter.js';
import { sandboxRootfsAsIs } from './sandboxRootfs.js';

const fixture = new URL('../../../agent/spec/fixtures/sandbox-plain.json', import.meta.url);

function setup(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-sbx-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs, { mode: 0o755 });
  chmodSync(rootfs, 0o755);
  // A pause image FROM scratch: the binary and nothing else.
  writeFileSync(join(rootfs, 'pause'), '#!/bin/true\n', { mode: 0o755 });
  const shm = join(dir, 'shm');
  mkdirSync(shm);
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(resolv, 'nameserver 10.0.0.1\n');
  const spec = () => {
    const s = parseSpec(readFileSync(fixture, 'utf8'), 'sandbox-plain.json');
    for (const m of s.mounts as { destination: string; source?: string }[]) {
      if (m.destination === '/dev/shm' && m.source?.startsWith('/')) m.source = shm;
      if (m.destination === '/etc/resolv.conf') m.source = resolv;
    }
    return s;
  };
  return { dir, rootfs, spec };
}

test('a pause image without mount points gets them made, owned by the host, and is used as it is', (t) => {
  const s = setup(t);
  assert.equal(sandboxRootfsAsIs(s.spec(), s.rootfs), true);
  for (const d of ['proc', 'dev', 'sys', 'etc']) assert.ok(lstatSync(join(s.rootfs, d)).isDirectory(), d);
  assert.ok(lstatSync(join(s.rootfs, 'etc/resolv.conf')).isFile(), 'a file for a file bind');
  assert.ok(!existsSync(join(s.rootfs, 'dev/pts')), 'below the /dev tmpfs runc makes them');
  assert.equal(sandboxRootfsAsIs(s.spec(), s.rootfs), true, 'again: nothing more to make');
});

test('anything a vNode uid could not use leaves the sandbox to the idmapped remount, with nothing made through a symlink', (t) => {
  const s = setup(t);
  const writable = s.spec();
  (writable.root as { readonly?: boolean }).readonly = false;
  assert.equal(sandboxRootfsAsIs(writable, s.rootfs), false, 'a writable root');
  chmodSync(join(s.rootfs, 'pause'), 0o750);
  assert.equal(sandboxRootfsAsIs(s.spec(), s.rootfs), false, 'a binary others may not run');
  chmodSync(join(s.rootfs, 'pause'), 0o755);
  const outside = join(s.dir, 'outside');
  mkdirSync(outside);
  symlinkSync(outside, join(s.rootfs, 'etc'));
  assert.equal(sandboxRootfsAsIs(s.spec(), s.rootfs), false, 'a symlink on the way to a mount point');
  assert.ok(!existsSync(join(outside, 'resolv.conf')), 'nothing made through it');
  rmSync(join(s.rootfs, 'etc'));
  mkdirSync(join(s.rootfs, 'etc'), { mode: 0o700 });
  chmodSync(join(s.rootfs, 'etc'), 0o700);
  assert.equal(sandboxRootfsAsIs(s.spec(), s.rootfs), false, 'a directory others may not search');
  rmSync(join(s.rootfs, 'etc'), { recursive: true });
  rmSync(join(s.rootfs, 'proc'), { recursive: true, force: true });
  writeFileSync(join(s.rootfs, 'proc'), '');
  assert.equal(sandboxRootfsAsIs(s.spec(), s.rootfs), false, 'a file where a directory is mounted');
  rmSync(join(s.rootfs, 'proc'));
  const odd = s.spec();
  (odd.mounts as object[]).push({ destination: '/x', type: 'overlay', source: 'overlay' });
  assert.equal(sandboxRootfsAsIs(odd, s.rootfs), false, 'a mount type it does not know');
  const dots = s.spec();
  (dots.mounts as object[]).push({ destination: '/etc/../../x', type: 'tmpfs', source: 'tmpfs' });
  assert.equal(sandboxRootfsAsIs(dots, s.rootfs), false);
  assert.equal(sandboxRootfsAsIs(s.spec(), s.rootfs), true, 'once fixed');
});
