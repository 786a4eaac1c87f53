import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { isTempName, symlinkAtomic, tempPathFor, writeFileAtomic, writeFileAtomicAsync } from './atomicWrite.js';

const dir = mkdtempSync(join(tmpdir(), 'vnode-atomic-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a write replaces the file whole, with the mode asked for, and leaves no temp entry', () => {
  const f = join(dir, 'state.json');
  writeFileAtomic(f, '{"n":1}\n', { mode: 0o600 });
  assert.equal(readFileSync(f, 'utf8'), '{"n":1}\n');
  assert.equal(statSync(f).mode & 0o777, 0o600);
  const inode = statSync(f).ino;
  writeFileAtomic(f, Buffer.from('{"n":2}\n'), { mode: 0o600 });
  assert.equal(readFileSync(f, 'utf8'), '{"n":2}\n');
  assert.notEqual(statSync(f).ino, inode, 'a new file renamed over the old one, not the old one rewritten');
  assert.deepEqual(readdirSync(dir).filter((n) => n !== 'state.json' && n.startsWith('.state')), []);
});

test('a write that need not outlive the boot (durable: false) is still a whole-file rename', () => {
  const f = join(dir, 'config.json');
  writeFileAtomic(f, '{"v":1}', { durable: false });
  const inode = statSync(f).ino;
  writeFileAtomic(f, '{"v":2}', { durable: false, mode: 0o640 });
  assert.equal(readFileSync(f, 'utf8'), '{"v":2}');
  assert.notEqual(statSync(f).ino, inode);
  assert.equal(statSync(f).mode & 0o777, 0o640);
  assert.equal(lstatSync(tempPathFor(f), { throwIfNoEntry: false }), undefined);
});

test('the temp entry is hidden, beside the file, without its suffix, and recognised as ours', () => {
  const t = tempPathFor('/etc/cni/net.d/10-vnode.conflist');
  assert.equal(dirname(t), '/etc/cni/net.d');
  assert.ok(basename(t).startsWith('.'));
  assert.ok(!t.endsWith('.conflist'));
  assert.equal(isTempName(basename(t)), true);
  assert.equal(isTempName(basename(t), '10-vnode.conflist'), true);
  assert.equal(isTempName(basename(t), '10-vnode'), false);
  assert.equal(isTempName('10-vnode.conflist'), false);
});

test('a temp file left by a killed writer of the same pid is replaced, not appended to', () => {
  const f = join(dir, 'config.toml');
  writeFileSync(tempPathFor(f), 'half a file from before the crash', { mode: 0o644 });
  writeFileAtomic(f, 'whole\n');
  assert.equal(readFileSync(f, 'utf8'), 'whole\n');
  assert.equal(lstatSync(tempPathFor(f), { throwIfNoEntry: false }), undefined);
});

test('a failed write keeps the old content and removes its temp file', () => {
  const d = join(dir, 'occupied');
  mkdirSync(join(d, 'inside'), { recursive: true });
  assert.throws(() => writeFileAtomic(d, 'x'), (e: unknown) => ['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? ''));
  assert.deepEqual(readdirSync(d), ['inside']);
  assert.equal(lstatSync(tempPathFor(d), { throwIfNoEntry: false }), undefined);
  assert.throws(() => writeFileAtomic(join(dir, 'no-such-dir', 'f'), 'x'), /ENOENT/);
});

test('the thread-pool write replaces the file whole like the other, and a failed one keeps the old content and no temp file', async () => {
  const f = join(dir, 'ids.json');
  writeFileSync(tempPathFor(f), 'half a file from before the crash');
  await writeFileAtomicAsync(f, '{"a":1}\n', { mode: 0o600 });
  assert.equal(readFileSync(f, 'utf8'), '{"a":1}\n');
  assert.equal(statSync(f).mode & 0o777, 0o600);
  const inode = statSync(f).ino;
  await writeFileAtomicAsync(f, Buffer.from('{"a":2}\n'), { mode: 0o600 });
  assert.equal(readFileSync(f, 'utf8'), '{"a":2}\n');
  assert.notEqual(statSync(f).ino, inode);
  assert.equal(lstatSync(tempPathFor(f), { throwIfNoEntry: false }), undefined);
  const d = join(dir, 'occupied-async');
  mkdirSync(join(d, 'inside'), { recursive: true });
  await assert.rejects(writeFileAtomicAsync(d, 'x'), (e: unknown) => ['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes((e as NodeJS.ErrnoException).code ?? ''));
  assert.deepEqual(readdirSync(d), ['inside']);
  assert.equal(lstatSync(tempPathFor(d), { throwIfNoEntry: false }), undefined);
});

test('a link is repointed by one rename', () => {
  const l = join(dir, 'current');
  symlinkAtomic('versions/a', l);
  assert.equal(readlinkSync(l), 'versions/a');
  symlinkAtomic('versions/b', l);
  assert.equal(readlinkSync(l), 'versions/b');
  assert.equal(lstatSync(tempPathFor(l), { throwIfNoEntry: false }), undefined);
});
