// The pod interface move vnode-cni does on every pod start: rtnetlink in the addon (the way
// agent/cni/netnsMove.ts does it now) against the shell of nsenter + iproute2 it replaced, run
// from this Node process the same way the manager ran it. Each round moves eth0 (IPv4 + IPv6,
// Calico-style routes) from netns A to B and back, interleaving both ways.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { moveInterface } from '../agent/cni/netnsMove.js';
import { bench, median } from './lib.js';

const N = Number(process.env.BENCH_RUNS ?? 50);
const run = promisify(execFile);

// The former agent/cni/netnsMove.ts script, kept here as the peer.
const SHELL_MOVE = `
set -eu
FROM=$1; IF=$2; TO=$3
addrs=$(nsenter --net="$FROM" ip -o addr show dev "$IF" scope global | awk '{print $4}')
routes=$( (nsenter --net="$FROM" ip -4 route show dev "$IF"; nsenter --net="$FROM" ip -6 route show dev "$IF") | grep -v 'proto kernel' | grep -v '^fe80::' || true)
nsenter --net="$FROM" ip link set dev "$IF" netns "$TO"
{
  echo "link set lo up"
  echo "link set dev $IF up"
  for a in $addrs; do echo "addr add $a dev $IF"; done
  printf '%s\\n' "$routes" | grep -v ' via ' | while read -r r; do [ -n "$r" ] && echo "route replace $r dev $IF"; done
  printf '%s\\n' "$routes" | grep ' via ' | while read -r r; do [ -n "$r" ] && echo "route replace $r dev $IF"; done
  true
} | nsenter --net="$TO" ip -batch -
echo "$addrs"
`;

async function shellMove(from: string, ifname: string, to: string): Promise<void> {
  await run('sh', ['-c', SHELL_MOVE, 'sh', from, ifname, to], { encoding: 'utf8', timeout: 10_000 });
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const a = `vnl-bench-a-${process.pid}`;
const b = `vnl-bench-b-${process.pid}`;
const A = `/run/netns/${a}`;
const B = `/run/netns/${b}`;
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });
const routesIn = (ns: string) => ['-4', '-6'].map((f) => ip('-n', ns, f, 'route', 'show', 'dev', 'eth0')).join('');

try {
  ip('netns', 'add', a);
  ip('netns', 'add', b);
  ip('-n', a, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'vnlpeer');
  ip('-n', a, 'link', 'set', 'vnlpeer', 'up');
  ip('-n', a, 'link', 'set', 'eth0', 'up');
  ip('-n', a, 'addr', 'add', '10.214.1.2/24', 'dev', 'eth0');
  ip('-n', a, 'addr', 'add', 'fd14:214::2/64', 'dev', 'eth0', 'nodad');
  ip('-n', a, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
  ip('-n', a, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0');
  ip('-n', a, 'route', 'add', '10.214.9.0/24', 'via', '10.214.1.1', 'dev', 'eth0', 'metric', '50');
  ip('-n', a, '-6', 'route', 'add', 'default', 'via', 'fd14:214::1', 'dev', 'eth0', 'metric', '300');
  const expected = routesIn(a);

  const addon: number[] = [];
  const kernel: number[] = [];
  const shell: number[] = [];
  await moveInterface(A, 'eth0', B); // warm-up: the addon loads, the first thread is made
  await moveInterface(B, 'eth0', A);
  for (let i = 0; i < N; i++) {
    for (const [x, y] of [[A, B], [B, A]] as const) {
      let k = 0;
      addon.push(await timed(async () => (k = (await moveInterface(x, 'eth0', y)).linkMoveMs)));
      kernel.push(k);
    }
    shell.push(await timed(() => shellMove(A, 'eth0', B)));
    shell.push(await timed(() => shellMove(B, 'eth0', A)));
  }
  // Both ways must have done the whole job, or the figures mean nothing.
  if (routesIn(a) !== expected) throw new Error(`routes differ after the runs:\n${routesIn(a)}\nexpected:\n${expected}`);
  const am = median(addon);
  const sm = median(shell);
  // kernel_link_move_ms: the link's netns change alone (rcu_barrier() in the kernel), in both.
  bench('cni-interface-move', { addon_ms: am, shell_ms: sm, kernel_link_move_ms: median(kernel), moves: addon.length }, am / sm);
} finally {
  for (const n of [a, b]) {
    try {
      ip('netns', 'del', n);
    } catch {
      // not made
    }
  }
}
