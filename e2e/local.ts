// `npm run local`: brings vNode up on this machine — a private containerd whose CRI socket is
// /run/vnode-local/containerd.sock, with runtime handlers `runc` and `vnode` — runs a demo pod and
// leaves the node up. `npm run local -- down` removes all of it. `npm run local -- status` shows it.
import { TestBed } from './lib/TestBed.js';

const NAME = 'local';
const BASE = '/run/vnode-local';

async function up(): Promise<void> {
  const bed = await TestBed.start({ name: NAME, subnetIndex: 200, baseDir: BASE });
  const { podId, containerId } = await bed.runPod(
    { name: 'demo', namespace: 'default', handler: 'runc' },
    { name: 'demo', command: ['sh', '-c', 'echo vNode demo pod up; exec sleep infinity'] },
  );
  const r = await bed.cri.execSync(containerId, ['sh', '-c', 'echo "hello from $(hostname): uid $(id -u)"']);
  bed.cri.close();
  process.stdout.write(
    [
      `containerd is up: CRI socket ${bed.socket} (log ${bed.containerdLog})`,
      `demo pod ${podId} (handler runc), container ${containerId}`,
      `exec: ${r.stdout.trim()}`,
      `remove everything with: npm run local -- down`,
      '',
    ].join('\n'),
  );
}

async function down(): Promise<void> {
  const bed = TestBed.attach({ name: NAME, subnetIndex: 200, baseDir: BASE });
  await bed.teardown();
  const left = bed.leftovers();
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
