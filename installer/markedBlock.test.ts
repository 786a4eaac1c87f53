import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendBlock, findBlocks, removeBlocks } from './markedBlock.js';

test('append then remove gives back the exact bytes for every kind of file ending', () => {
  for (const original of ['', '\n', 'a = 1', 'a = 1\n', 'a = 1\n\n', '# only a comment\r\n', 'x = "no newline"  # c']) {
    const once = appendBlock(original, '[t]\nk = 1\n');
    assert.equal(findBlocks(once).length, 1);
    assert.equal(removeBlocks(once).text, original, JSON.stringify(original));
    const twice = appendBlock(once, '[u]\nk = 2');
    assert.equal(findBlocks(twice).length, 2);
    assert.equal(removeBlocks(twice).text, original, `two blocks on ${JSON.stringify(original)}`);
  }
});

test('a created file whose only content is the block is deleted on removal; edits around it survive', () => {
  const created = appendBlock(undefined, 'version = 2\n');
  assert.equal(findBlocks(created)[0]!.created, true);
  assert.equal(removeBlocks(created).text, undefined);
  const edited = `${created}# the admin added this later\n`;
  assert.equal(removeBlocks(edited).text, '# the admin added this later\n');
});

test('an unterminated block is reported, not half removed', () => {
  const broken = appendBlock('a = 1\n', 'k = 1').replace(/# END vnode-runtime\n$/, '');
  assert.throws(() => removeBlocks(broken), /unterminated vnode-runtime block/);
});
