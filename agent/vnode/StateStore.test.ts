import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { tempPathFor } from '../common/atomicWrite.js';
import { StateError, StateStore } from './StateStore.js';

const Schema = z.object({ n: z.number() });

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
