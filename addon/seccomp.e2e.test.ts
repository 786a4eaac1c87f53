// The seccomp primitives on the real kernel: a C program traps mkdirat with a new listener and
// sends it by SCM_RIGHTS to our fd socket server; the handler receives, validates, reads and
// writes the caller's memory, and answers with an error, CONTINUE, a value, or an fd (ADDFD).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runNotifyTarget } from './fixtures/notifyTarget.js';
import { notifSizes } from './seccomp.js';

test('the addon was built with the kernel notification struct sizes', () => {
  const s = notifSizes();
  assert.equal(s.notif, s.builtNotif);
  assert.equal(s.resp, s.builtResp);
  assert.equal(s.data, s.builtData);
});

test('a listener sent over SCM_RIGHTS is served: error, CONTINUE, value, ADDFD, memory write', async (t) => {
  const r = await runNotifyTarget({ iterations: 2000, syncWakeUp: true });
  assert.equal(r.state.fds[0], 'seccompFd');
  assert.equal(r.state.metadata, 'notify-target');
  assert.equal(r.syncWakeUp, true, 'kernel 6.6+ accepts SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP');
  const l = (name: string): Record<string, string> => {
    const v = r.lines.get(name);
    assert.ok(v, `missing ${name} line in:\n${r.stdout}`);
    return v;
  };
  assert.deepEqual(l('deny'), { ret: '-1', errno: '13' });
  assert.deepEqual(l('allow'), { ret: '0', exists: '1' }, 'CONTINUE runs the real mkdirat');
  assert.deepEqual(l('fake'), { ret: '42', exists: '0' }, 'a value answer does not run the syscall');
  assert.ok(Number(l('addfd').ret) > 2, 'ADDFD|SEND returns the new fd number');
  assert.equal(l('addfd').content, 'hello_from_handler_');
  assert.equal(l('poke').ret, '0');
  assert.match(l('poke').buffer!, /\/PKD!$/, 'process_vm_writev rewrote the caller buffer');
  const b = l('bench');
  assert.equal(b.answered, b.iterations);
  assert.equal(r.validated, 5 + 2000, 'every notification passed ID_VALID');
  assert.equal(r.closed, true, 'the listener reports the hang-up once the target is gone');
  t.diagnostic(`round trip with SYNC_WAKE_UP: ${(Number(b.trapped_ns) / 1000).toFixed(1)} us; untrapped getppid ${b.untrapped_ns} ns`);
});
