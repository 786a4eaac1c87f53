import assert from 'node:assert/strict';
import { test } from 'node:test';

import { sysctlEntries, SysctlValueError } from './sysctlEntries.js';

const e = (name: string) => sysctlEntries.find((x) => x.name === name)!;

test('integer entries accept in-range values (trailing newline and spaces too) and normalise them', () => {
  assert.equal(e('kernel.pid_max').parse('65536\n'), '65536');
  assert.equal(e('vm.overcommit_memory').parse(' 1 '), '1');
  assert.equal(e('kernel.panic').parse('-1'), '-1');
  assert.equal(e('fs.file-max').parse('9223372036854775807'), '9223372036854775807');
  assert.equal(e('kernel.printk').parse('4 4 1 7'), '4\t4\t1\t7');
});

test('out-of-range, non-numeric and too many values are EINVAL', () => {
  assert.throws(() => e('kernel.pid_max').parse('100'), SysctlValueError);
  assert.throws(() => e('vm.overcommit_memory').parse('3'), SysctlValueError);
  assert.throws(() => e('vm.overcommit_memory').parse('one'), SysctlValueError);
  assert.throws(() => e('vm.overcommit_memory').parse('1 2'), SysctlValueError);
  assert.throws(() => e('vm.overcommit_memory').parse(''), SysctlValueError);
  assert.throws(() => e('fs.file-max').parse('9223372036854775808'), SysctlValueError);
  assert.equal(new SysctlValueError('x').errno, 22);
});

test('every entry has a unique path under proc/sys and a fallback its own parser accepts', () => {
  const paths = new Set(sysctlEntries.map((x) => x.path));
  assert.equal(paths.size, sysctlEntries.length);
  for (const x of sysctlEntries) {
    assert.ok(x.path.startsWith('proc/sys/'));
    assert.doesNotThrow(() => x.parse(x.fallback), x.name);
  }
});
