// `npm run local`: brings vNode up on this machine — a private containerd whose CRI socket is
// /run/vnode-local/containerd.sock, with runtime handlers `runc` and `vnode`, the vnode-manager
// running — runs a demo pod in a vNode and leaves the node up. `npm run local -- down` removes
// all of it.
import { readFileSync } from 'node:fs';
import { attachVNodeBed, startVNodeBed } from './lib/vnodeBed.js';

const OPTS = { name: 'local', subnetIndex: 200, baseDir: '/run/vnode-local' };

async function up(): Promise<void> {
  const { bed, manager } = await startVNodeBed(OPTS);
  const { podId, containerId } = await bed.runPod(
    { name: 'demo', namespace: 'default', handler: 'vnode', privileged: true },
    { name: 'demo', command: ['sh', '-c', 'echo vNode demo pod up; exec sleep infinity'], privileged: true },
  );
  const r = await bed.cri.execSync(containerId, ['sh', '-c', 'echo "$(hostname): uid $(id -u), uid_map: $(cat /proc/self/uid_map | tr -s " ")"']);
  bed.cri.close();
  process.stdout.write(
    [
      `vNode is up: containerd CRI socket ${bed.socket} (handlers runc, vnode; log ${bed.containerdLog})`,
      `vnode-manager pid ${readFileSync(manager.pidFile, 'utf8').trim()} (log ${manager.log})`,
      `demo pod ${podId.slice(0, 12)} (handler vnode, privileged), container ${containerId.slice(0, 12)}`,
      `exec in the demo pod: ${r.stdout.trim()}`,
      `remove everything with: npm run local -- down`,
      '',
    ].join('\n'),
  );
}

async function down(): Promise<void> {
  const left = await attachVNodeBed(OPTS).teardown();
  if (left.length) throw new Error(`left behind: ${left.join(', ')}`);
  process.stdout.write('vNode local node removed\n');
}

const cmd = process.argv[2] ?? 'up';
const run = cmd === 'down' ? down : cmd === 'up' ? up : undefined;
if (!run) {
  process.stderr.write(`usage: npm run local [-- up|down]\n`);
  process.exit(2);
}
run().catch((e: unknown) => {
  process.stderr.write(`local: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
