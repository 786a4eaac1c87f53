// Tests only (fuserestart.e2e.test.ts): a stand-in for the vnode-manager's vnodefs, in its own
// process so a test can SIGKILL it. It mounts (FUSERESTART_MODE=mount) or adopts the connection
// whose device fds it inherited at 3, 4, ... (FUSERESTART_MODE=adopt, FUSERESTART_STATE the
// JSON), then hands the connection to the test's fd socket as the manager would to its keeper:
// one message, the state JSON and the fds. Prints `READY` (and `HELD` once a held request was
// read, `RESENT n` as resent requests are answered), and serves until killed.
import { fdsocketConnect, fdsocketSend } from '../../../addon/fdsocket.js';
import { closeSync } from 'node:fs';
import { VnodeFs, type VnodeFsConnection } from '../VnodeFs.js';

const env = process.env;
const mountpoint = env.FUSERESTART_MNT!;
const mode = env.FUSERESTART_MODE!;
const fs = new VnodeFs({
  mountpoint,
  workers: Number(env.FUSERESTART_WORKERS ?? 2),
  loadIntervalMs: 1000,
  testing: { holdOpenOf: env.FUSERESTART_HOLD || undefined, noResend: env.FUSERESTART_NO_RESEND === '1' },
});

let resent = false;
if (mode === 'mount') {
  await fs.mount();
} else {
  const state = JSON.parse(env.FUSERESTART_STATE!) as VnodeFsConnection;
  const n = Number(env.FUSERESTART_FDS);
  const r = await fs.adopt({ fds: Array.from({ length: n }, (_, i) => 3 + i), state });
  resent = r.resent;
}
if (env.FUSERESTART_SOCKET) {
  const h = fs.handover();
  const sock = fdsocketConnect(env.FUSERESTART_SOCKET);
  fdsocketSend(sock, Buffer.from(JSON.stringify({ state: h.state, resent, pid: process.pid })), h.fds);
  closeSync(sock);
}
process.stdout.write('READY\n');
if (env.FUSERESTART_HOLD) {
  const t = setInterval(() => {
    if (fs.heldRequests() > 0) {
      process.stdout.write('HELD\n');
      clearInterval(t);
    }
  }, 5);
}
// Serve until killed (the workers do not keep the process alive); say how many requests the
// kernel resent to this server, whenever that changes.
let resentSeen = 0;
setInterval(() => {
  const n = fs.stats().resent;
  if (n !== resentSeen) process.stdout.write(`RESENT ${(resentSeen = n)}\n`);
}, 20);
