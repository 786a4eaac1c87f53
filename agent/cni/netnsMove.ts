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

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope?: string;
}
interface Route {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
  protocol?: string;
  prefsrc?: string;
  metric?: number;
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

/** Reads IF's addresses and the namespace's routes through IF, moves IF, and sets them again. */
export async function moveInterface(fromNetns: string, ifname: string, toNetns: string): Promise<{ addresses: string[]; routes: number }> {
  if (!IFNAME.test(ifname)) throw new NetnsMoveError(`bad interface name ${JSON.stringify(ifname)}`);
  const out = await sh('nsenter', [`--net=${fromNetns}`, 'sh', '-c', 'ip -j addr show dev "$1" && echo && ip -j -4 route show && echo && ip -j -6 route show', 'sh', ifname]);
  const [addrJson, r4, r6] = out.split('\n').filter((l) => l.trim());
  let addrInfo: AddrInfo[];
  let routes: Route[];
  try {
    addrInfo = ((JSON.parse(addrJson ?? '[]') as { addr_info?: AddrInfo[] }[])[0]?.addr_info ?? []).filter((a) => a.scope === 'global');
    routes = [...(JSON.parse(r4 ?? '[]') as Route[]), ...(JSON.parse(r6 ?? '[]') as Route[])].filter((r) => r.dev === ifname && r.protocol !== 'kernel');
  } catch (e) {
    throw new NetnsMoveError(`cannot read the configuration of ${ifname} in ${fromNetns}: ${(e as Error).message}`);
  }
  await sh('nsenter', [`--net=${fromNetns}`, 'ip', 'link', 'set', 'dev', ifname, 'netns', toNetns]);
  const batch = ['link set lo up', `link set dev ${ifname} up`];
  for (const a of addrInfo) batch.push(`addr add ${a.local}/${a.prefixlen} dev ${ifname}`);
  // Routes without a gateway first: the gateways' own routes must exist before routes via them.
  const ordered = [...routes.filter((r) => !r.gateway), ...routes.filter((r) => r.gateway)];
  for (const r of ordered) {
    const parts = ['route replace', r.dst];
    if (r.gateway) parts.push('via', r.gateway);
    parts.push('dev', ifname);
    if (r.scope && r.scope !== 'global' && r.scope !== 'universe') parts.push('scope', r.scope);
    if (r.prefsrc) parts.push('src', r.prefsrc);
    if (r.metric !== undefined) parts.push('metric', String(r.metric));
    batch.push(parts.join(' '));
  }
  await sh('nsenter', [`--net=${toNetns}`, 'ip', '-batch', '-'], `${batch.join('\n')}\n`);
  return { addresses: addrInfo.map((a) => `${a.local}/${a.prefixlen}`), routes: ordered.length };
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
