// Moves a pod's interface, with its addresses and routes, from containerd's network namespace
// into the pod's namespace owned by its vNode. Moving a link drops its addresses and routes, so
// they are read first (as the host's CNI plugins left them, whatever plugin that was) and set
// again. Uses iproute2 through nsenter: three short processes per pod.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class NetnsMoveError extends Error {
  override name = 'NetnsMoveError';
}

async function sh(cmd: string, args: string[], input?: string): Promise<string> {
  try {
    const p = run(cmd, args, { encoding: 'utf8', timeout: 10_000 });
    if (input !== undefined) p.child.stdin?.end(input);
    return (await p).stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new NetnsMoveError(`${cmd} ${args.join(' ')}: ${(err.stderr || err.message).trim()}`);
  }
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

/*
 * One shell process does it all (its ip/nsenter children fork cheaply; each process the manager
 * forks costs it milliseconds): read IF's global addresses and the routes through IF (`ip route
 * show` lines are re-addable as they are), move IF, then set lo and IF up, the addresses, the
 * routes without a gateway, and the routes via a gateway, in that order.
 */
const MOVE_SCRIPT = `
set -eu
FROM=$1; IF=$2; TO=$3
addrs=$(nsenter --net="$FROM" ip -o addr show dev "$IF" scope global | awk '{print $4}')
routes=$( (nsenter --net="$FROM" ip -4 route show dev "$IF"; nsenter --net="$FROM" ip -6 route show dev "$IF") | grep -v 'proto kernel' | grep -v '^fe80::' || true)
nsenter --net="$FROM" ip link set dev "$IF" netns "$TO"
{
  echo "link set lo up"
  echo "link set dev $IF up"
  for a in $addrs; do echo "addr add $a dev $IF"; done
  printf '%s\n' "$routes" | grep -v ' via ' | while read -r r; do [ -n "$r" ] && echo "route replace $r dev $IF"; done
  printf '%s\n' "$routes" | grep ' via ' | while read -r r; do [ -n "$r" ] && echo "route replace $r dev $IF"; done
  true
} | nsenter --net="$TO" ip -batch -
echo "$addrs"
`;

/** Moves IF with its addresses and routes into toNetns; returns the addresses. */
export async function moveInterface(fromNetns: string, ifname: string, toNetns: string): Promise<{ addresses: string[] }> {
  if (!IFNAME.test(ifname)) throw new NetnsMoveError(`bad interface name ${JSON.stringify(ifname)}`);
  const out = await sh('sh', ['-c', MOVE_SCRIPT, 'sh', fromNetns, ifname, toNetns]);
  return { addresses: out.split('\n').filter(Boolean) };
}

/** Whether IF exists in the namespace (CNI CHECK). */
export async function interfaceIn(netns: string, ifname: string): Promise<boolean> {
  if (!IFNAME.test(ifname)) return false;
  try {
    await sh('nsenter', [`--net=${netns}`, 'ip', 'link', 'show', 'dev', ifname]);
    return true;
  } catch {
    return false;
  }
}
