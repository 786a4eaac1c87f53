import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { OpenFileCache } from './readText.js';

const dir = mkdtempSync(join(tmpdir(), 'vnode-openfiles-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fds = (): number => readdirSync('/proc/self/fd').length;

test('OpenFileCache: the files of 200 removed cgroups do not stay open; live ones do', () => {
  let now = 0;
  const cache = new OpenFileCache(512, 1000, 64, () => now);
  const base = fds();
  const live = join(dir, 'live');
  mkdirSync(live);
  writeFileSync(join(live, 'memory.limit_in_bytes'), '1\n');
  for (let pod = 0; pod < 200; pod++) {
    const d = join(dir, `pod${pod}`);
    mkdirSync(d);
    for (const f of ['memory.limit_in_bytes', 'cpu.cfs_quota_us']) {
      writeFileSync(join(d, f), `${pod}\n`);
      assert.equal(cache.read(join(d, f)), `${pod}\n`);
    }
    assert.equal(cache.read(join(live, 'memory.limit_in_bytes')), '1\n');
    rmSync(d, { recursive: true });
    now += 500; // two pods a second
  }
  assert.ok(cache.size <= 8, `descriptors of removed files closed as the reads go on: ${cache.size} open`);
  assert.ok(fds() - base <= 8, `process fds back near where they were: ${fds() - base} more`);
  now += 1000;
  cache.read(join(live, 'memory.limit_in_bytes'));
  assert.equal(cache.size, 1, 'only the live file is left');
  cache.close();
  assert.equal(fds(), base);
});
