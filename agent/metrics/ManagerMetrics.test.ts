import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flattenTables } from './ManagerMetrics.js';

test('flattenTables: one bounded table label per figure of the state entry', () => {
  assert.deepEqual(flattenTables({ registry: { tasks: 3, pods: 1 }, vnodefs: { used: 4, entries: { start: 2, sysctl: 1 } } }), [
    ['registry.tasks', 3],
    ['registry.pods', 1],
    ['vnodefs.used', 4],
    ['vnodefs.entries.start', 2],
    ['vnodefs.entries.sysctl', 1],
  ]);
});
