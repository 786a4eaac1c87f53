// Worker threads log without winston (log.ts): their lines must be what winston's json format
// makes of the same call on the main thread, so one reader (and `jq`) takes both.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import winston from 'winston';
import { threadLine } from './log.js';

const MESSAGE = Symbol.for('message');

function winstonLine(component: string, level: string, message: string, meta: object, timestamp: string): string {
  const json = winston.format.json();
  const info = json.transform({ ...meta, component, level, message, timestamp } as winston.Logform.TransformableInfo, json.options) as Record<string | symbol, unknown>;
  return info[MESSAGE] as string;
}

test("a worker thread's line is winston's json line of the same call", () => {
  const ts = '2026-12-03T12:00:00.000Z';
  const cases: [string, string, string, object][] = [
    ['vnodefs', 'error', 'vnodefs load sampling failed', { error: 'Error: x\n    at y' }],
    ['seccomp', 'debug', 'fsopen: refused', { fstype: 'proc', code: 'ENOSYS', stage: 'check', zeta: { b: 2, a: [1, 'two', { d: null, c: true }] } }],
    ['seccomp', 'warn', 'quotes "and" \\ backslashes', { n: 1.5, neg: -3, empty: '', list: [] }],
    ['vnodefs', 'info', 'no fields', {}],
  ];
  for (const [c, l, m, meta] of cases) assert.equal(threadLine(c, l, m, meta, ts), winstonLine(c, l, m, meta, ts), JSON.stringify(meta));
});

test('fields winston drops or cannot print: undefined and functions left out, cycles cut, bigints as text', () => {
  const cyc: Record<string, unknown> = { a: 1 };
  cyc.self = cyc;
  const line = JSON.parse(threadLine('x', 'info', 'm', { u: undefined, f: () => 1, cyc, big: 12n }, 't')) as Record<string, unknown>;
  assert.deepEqual(line, { big: '12', component: 'x', cyc: { a: 1, self: '[Circular]' }, level: 'info', message: 'm', timestamp: 't' });
});
