// The static C fixtures (agent/seccomp/fixtures/*.c) run in a vNode container of a SeccompTestBed
// and print one line per case: "name ret=R errno=E" or "name key=value ...". This reads them back
// and holds the bed for one test file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { after, before } from 'node:test';
import { SeccompTestBed } from './SeccompTestBed.js';

/** A bed and a scratch directory for the file's tests, made before and removed after them (unless skipped). */
export function fixtureBed(tmpPrefix: string, skip: string | false | undefined): { readonly bed: SeccompTestBed; readonly tmp: string } {
  let bed: SeccompTestBed | undefined;
  let tmp: string | undefined;
  before(async () => {
    if (skip) return;
    tmp = mkdtempSync(tmpPrefix);
    bed = await SeccompTestBed.start();
  });
  after(async () => {
    if (bed) await bed.teardown();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });
  return {
    get bed() {
      return bed!;
    },
    get tmp() {
      return tmp!;
    },
  };
}

/** The fixture's lines by case name. */
export function reportLines(stdout: string): Map<string, string> {
  return new Map(stdout.trim().split('\n').map((l) => [l.split(' ')[0]!, l] as const));
}

/** Every case in `expected` was reported with that errno (0: ret=0). */
export function assertErrnos(lines: Map<string, string>, expected: Record<string, number>, all: string): void {
  for (const [name, errno] of Object.entries(expected)) {
    const l = lines.get(name);
    assert.ok(l, `missing ${name} in:\n${all}`);
    const m = /ret=(-?\d+) errno=(\d+)/.exec(l);
    assert.ok(m, l);
    if (errno === 0) assert.equal(m[1], '0', l);
    else assert.deepEqual([m[1], Number(m[2])], ['-1', errno], l);
  }
}

/** The key=value numbers of a counter line. */
export function counters(line: string | undefined): Record<string, number> {
  return Object.fromEntries([...(line ?? '').matchAll(/(\w+)=(-?\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
}
