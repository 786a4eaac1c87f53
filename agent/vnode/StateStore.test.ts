import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { tempPathFor } from '../common/atomicWrite.js';
import { StateError, StateStore } from './StateStore.js';

const Schema = z.object({ n: z.number() });

test('writes and removals of one file, called at once, end as the last call had it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-core-state-'));
  const s = new StateStore(dir);
  const value = { n: 1 };
  const writes = [s.writeJson('ids.json', value), s.writeJson('ids.json', { n: 2 }, { durable: false }), s.writeJson('ids.json', { n: 3 })];
  value.n = 99; // taken at the call
  await Promise.all(writes);
  assert.deepEqual(await s.readJson('ids.json', Schema), { n: 3 });
  await Promise.all([s.writeJson('vnodes/x.json', { n: 1 }), s.remove('vnodes/x.json')]);
  assert.equal(await s.readJson('vnodes/x.json', Schema), undefined, 'removed after its write, not before');
  await Promise.all([s.remove('vnodes/y.json'), s.writeJson('vnodes/y.json', { n: 4 })]);
  assert.deepEqual(await s.readJson('vnodes/y.json', Schema), { n: 4 });
  assert.deepEqual(readdirSync(dir).sort(), ['ids.json', 'vnodes']);
  rmSync(dir, { recursive: true });
});

test('write, read, list, remove; bad content names the file; leftovers of torn writes go', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-core-state-'));
  const s = new StateStore(dir);
  await s.writeJson('vnodes/a.json', { n: 1 });
  await s.writeJson('vnodes/a.json', { n: 2 });
  assert.deepEqual(await s.readJson('vnodes/a.json', Schema), { n: 2 });
  assert.equal(await s.readJson('vnodes/missing.json', Schema), undefined);
  writeFileSync(join(dir, 'vnodes', 'b.json'), '{"n":"x"}');
  await assert.rejects(s.readJson('vnodes/b.json', Schema), (e: unknown) => e instanceof StateError && /b\.json: n: Expected number/.test(e.message));
  writeFileSync(join(dir, 'vnodes', 'c.json.tmp-1-1'), '{');
  writeFileSync(tempPathFor(join(dir, 'vnodes', 'd.json')), '{');
  assert.deepEqual(await s.list('vnodes'), ['vnodes/a.json', 'vnodes/b.json']);
  assert.deepEqual(readdirSync(join(dir, 'vnodes')).sort(), ['a.json', 'b.json']);
  await s.remove('vnodes/a.json');
  assert.deepEqual(await s.list('vnodes'), ['vnodes/b.json']);
  assert.throws(() => s.path('../escape.json'), StateError);
  assert.equal(readFileSync(join(dir, 'vnodes', 'b.json'), 'utf8'), '{"n":"x"}');
  rmSync(dir, { recursive: true });
});
