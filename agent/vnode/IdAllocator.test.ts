import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { IdAllocator, IdPoolExhaustedError, parseSubIds, type IdPoolConfig, type IdRange } from './IdAllocator.js';
import { StateStore } from './StateStore.js';

const B = 65536;
const S = 1 << 29;

function fixture(count: number): { dir: string; pool: IdPoolConfig; store: StateStore } {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-core-ids-'));
  // block 0 overlaps alice's subuid range, block 2 bob's subgid range, block 4 a host user
  writeFileSync(join(dir, 'subuid'), `# comment\nalice:${S}:${B}\nbroken line\n`);
  writeFileSync(join(dir, 'subgid'), `bob:${S + 2 * B + 5}:10\n`);
  writeFileSync(join(dir, 'passwd'), `root:x:0:0::/root:/bin/sh\ncarol:x:${S + 4 * B + 1}:100::/home/carol:/bin/sh\n`);
  writeFileSync(join(dir, 'group'), 'root:x:0:\n');
  const pool: IdPoolConfig = {
    start: S,
    count,
    subuidFile: join(dir, 'subuid'),
    subgidFile: join(dir, 'subgid'),
    passwdFile: join(dir, 'passwd'),
    groupFile: join(dir, 'group'),
  };
  return { dir, pool, store: new StateStore(join(dir, 'state')) };
}

const block = (r: IdRange): number => (r.uidStart - S) / B;

test('blocks skip host subuid/subgid ranges and host users; the pool runs out with a clear error', async () => {
  const { dir, pool, store } = fixture(6);
  const ids = await IdAllocator.load(store, pool);
  const a = await ids.allocate('a');
  const b = await ids.allocate('b');
  const c = await ids.allocate('c');
  assert.deepEqual([a, b, c].map(block), [1, 3, 5]);
  assert.deepEqual(a, { uidStart: S + B, gidStart: S + B, size: B });
  assert.deepEqual(await ids.allocate('a'), a, 'idempotent per owner');
  await assert.rejects(ids.allocate('d'), (e: unknown) => {
    assert.ok(e instanceof IdPoolExhaustedError);
    assert.match(e.message, /all 6 blocks of 65536 ids from 536870912 are taken \(3 by vNodes, 3 overlap host ids/);
    return true;
  });
  rmSync(dir, { recursive: true });
});

test('allocations persist, survive a reload, and a released block is not reused at once', async () => {
  const { dir, pool, store } = fixture(8);
  const ids = await IdAllocator.load(store, pool);
  const [x, y] = await Promise.all([ids.allocate('x'), ids.allocate('y')]);
  assert.notEqual(x.uidStart, y.uidStart, 'concurrent allocations are distinct');
  assert.equal(await ids.release('x'), true);
  assert.equal(await ids.release('x'), false);
  const again = await IdAllocator.load(store, pool);
  assert.deepEqual(again.entries(), [['y', y]]);
  const z = await again.allocate('z');
  assert.notEqual(z.uidStart, x.uidStart, 'next-fit: the block x just freed is not handed out first');
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'state', 'idranges.json'), 'utf8')).ranges, { y: y.uidStart, z: z.uidStart });
  assert.deepEqual(readdirSync(join(dir, 'state')), ['idranges.json'], 'no temp file left');
  rmSync(dir, { recursive: true });
});

test('the real /etc/subuid and /etc/subgid parse and are respected', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-core-ids-'));
  const pool: IdPoolConfig = { start: 1 << 28, count: 4, subuidFile: '/etc/subuid', subgidFile: '/etc/subgid', passwdFile: '/etc/passwd', groupFile: '/etc/group' };
  const ids = await IdAllocator.load(new StateStore(dir), pool);
  const r = await ids.allocate('real');
  for (const f of ['/etc/subuid', '/etc/subgid'])
    for (const iv of parseSubIds(readFileSync(f, 'utf8'), f)) assert.ok(r.uidStart + r.size <= iv.start || iv.end <= r.uidStart, `overlaps ${iv.source}`);
  rmSync(dir, { recursive: true });
});
