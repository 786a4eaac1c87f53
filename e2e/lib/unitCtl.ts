// `node unitCtl.js SOCKET restart`: asks a ContainerdUnit to restart the bed's containerd and
// exits 0 once it serves again (non-zero with the reason otherwise), like `systemctl restart`.
import net from 'node:net';

const [sock, cmd] = process.argv.slice(2);
if (!sock || cmd !== 'restart') {
  process.stderr.write('usage: unitCtl SOCKET restart\n');
  process.exit(2);
}
const c = net.createConnection(sock, () => c.write('restart\n'));
let answer = '';
c.on('data', (d: Buffer) => (answer += d.toString()));
c.on('error', (e) => {
  process.stderr.write(`unitCtl: ${sock}: ${e.message}\n`);
  process.exit(1);
});
c.on('end', () => {
  if (answer.trim() === 'ok') process.exit(0);
  process.stderr.write(`unitCtl: ${answer.trim() || 'no answer'}\n`);
  process.exit(1);
});
