// The interface move on the real kernel: a Calico-style pod interface (link-scope route to a
// gateway, default via it, a route with a metric, IPv4 and IPv6) goes from an `ip netns` netns
// into a netns owned by a vNode-like user namespace with the same addresses and routes; the
// errors say what failed and leave the interface where it was.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { createNetns, NamespaceFlags as F, spawnHolder } from '../../addon/holder.js';
import { umount2 } from '../../addon/mount.js';
import { pidfdSendSignal, waitForExit } from '../../addon/pidfd.js';
import { interfaceIn, moveInterface, NetnsMoveError } from './netnsMove.js';

const bin = fileURLToPath(new URL('../../../build/opt/vnode/bin/vnode', import.meta.url));
const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const inNs = (ns: string, args: string[]): string => run('nsenter', [`--net=${ns}`, ...args]);
let serial = 0;

/** Cleanup steps of a test, run last-in first-out after it, every one even if another fails. */
const stacks = new WeakMap<TestContext, (() => unknown)[]>();
function defer(t: TestContext, fn: () => unknown): void {
  let s = stacks.get(t);
  if (!s) {
    const steps: (() => unknown)[] = [];
    stacks.set(t, (s = steps));
    t.after(async () => {
      const errors: unknown[] = [];
      for (const step of steps.reverse()) await Promise.resolve().then(step).catch((e: unknown) => errors.push(e));
      if (errors.length) throw errors[0];
    });
  }
  s.push(fn);
}

/** The netns of every thread of this process (the manager's event loop and its pools). */
function threadNetns(): Set<string> {
  const s = new Set<string>();
  for (const t of readdirSync('/proc/self/task')) {
    try {
      s.add(readlinkSync(`/proc/self/task/${t}/ns/net`));
    } catch {
      // a thread that ended meanwhile
    }
  }
  return s;
}

/** A scratch dir with a netns file made by `unshare --net=FILE` (owned by the init user ns). */
function plainNetns(t: TestContext, sysctls: string[] = []): string {
  const d = mkdtempSync(join(tmpdir(), 'vnl-netlink-'));
  const ns = join(d, 'ns');
  writeFileSync(ns, '');
  defer(t, () => rmSync(d, { recursive: true, force: true }));
  defer(t, () => umount2(ns, 0).catch(() => undefined));
  run('unshare', [`--net=${ns}`, 'true']);
  if (sysctls.length) inNs(ns, ['sysctl', '-q', '-w', ...sysctls]);
  return ns;
}

/** A netns owned by a holder's user namespace, as a vNode pod's is. */
async function vnodeNetns(t: TestContext): Promise<string> {
  const d = mkdtempSync(join(tmpdir(), 'vnl-netlink-holder-'));
  defer(t, () => rmSync(d, { recursive: true, force: true }));
  chmodSync(d, 0o711); // the holder runs as an unprivileged host uid
  mkdirSync(join(d, 'root'), { mode: 0o555 });
  const h = await spawnHolder({
    path: bin,
    argv: ['vnode-holder', '--root', join(d, 'root'), '--commit'],
    env: [],
    uidMap: '0 421000 65536\n',
    gidMap: '0 421000 65536\n',
    nsFlags: F.CLONE_NEWUSER | F.CLONE_NEWNS | F.CLONE_NEWPID | F.CLONE_NEWNET,
  });
  defer(t, async () => {
    pidfdSendSignal(h.pidfd, 'SIGKILL');
    await waitForExit(h.pidfd);
    closeSync(h.pidfd);
  });
  writeSync(h.controlFd, 'C');
  closeSync(h.controlFd);
  const ns = join(d, 'netns');
  writeFileSync(ns, '');
  defer(t, () => umount2(ns, 0).catch(() => undefined));
  await createNetns(`/proc/${h.pid}/ns/user`, ns);
  return ns;
}

/** `ip netns add vnl-...` with eth0 (one end of a veth pair, its peer beside it) set up the
 * way a host CNI plugin leaves a pod: IPv4 and IPv6 addresses, Calico-style routes. */
function podNetns(t: TestContext): string {
  const name = `vnl-src-${process.pid}-${serial++}`;
  defer(t, () => {
    try {
      run('ip', ['netns', 'del', name]);
    } catch {
      // already gone
    }
  });
  run('ip', ['netns', 'add', name]);
  const ip = (...a: string[]) => run('ip', ['-n', name, ...a]);
  ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'vnlpeer');
  ip('link', 'set', 'vnlpeer', 'up');
  ip('link', 'set', 'eth0', 'up');
  ip('addr', 'add', '10.214.1.1/24', 'dev', 'vnlpeer');
  ip('addr', 'add', '10.214.1.2/24', 'dev', 'eth0');
  ip('addr', 'add', '10.214.1.3/24', 'dev', 'eth0', 'valid_lft', '3600', 'preferred_lft', '1800');
  ip('addr', 'add', 'fd14:214::2/64', 'dev', 'eth0');
  ip('route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
  ip('route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0');
  ip('route', 'add', '10.214.9.0/24', 'via', '10.214.1.1', 'dev', 'eth0', 'metric', '50', 'src', '10.214.1.2');
  ip('-6', 'route', 'add', 'default', 'via', 'fd14:214::1', 'dev', 'eth0', 'metric', '300');
  ip('-6', 'route', 'add', 'fd14:215::/64', 'via', 'fe80::1', 'dev', 'eth0', 'proto', 'static');
  return `/run/netns/${name}`;
}

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  broadcast?: string;
  label?: string;
  valid_life_time: number;
  preferred_life_time: number;
}

/** eth0's global addresses and the main-table routes through it, as `ip -j` shows them. */
function snapshot(ns: string): { addrs: Omit<AddrInfo, 'valid_life_time' | 'preferred_life_time'>[]; lifetimes: Record<string, number[]>; routes: unknown[] } {
  const link = JSON.parse(inNs(ns, ['ip', '-j', 'addr', 'show', 'dev', 'eth0'])) as { addr_info: AddrInfo[] }[];
  const global = link[0]!.addr_info.filter((a) => a.scope === 'global');
  const addrs = global.map(({ family, local, prefixlen, scope, broadcast, label }) => ({ family, local, prefixlen, scope, broadcast, label }));
  const lifetimes = Object.fromEntries(global.map((a) => [a.local, [a.valid_life_time, a.preferred_life_time]]));
  const routes = ['-4', '-6'].flatMap((f) =>
    (JSON.parse(inNs(ns, ['ip', '-j', f, 'route', 'show', 'table', 'main', 'dev', 'eth0'])) as Record<string, unknown>[]).map((r) => {
      const { flags, ...rest } = r;
      return { ...rest, flags: ((flags as string[] | undefined) ?? []).filter((x) => x !== 'linkdown') };
    }),
  );
  return { addrs, lifetimes, routes: routes.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) };
}

function assertSameLifetimes(a: Record<string, number[]>, b: Record<string, number[]>): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const [k, [va, pa]] of Object.entries(a)) {
    const [vb, pb] = b[k]!;
    assert.ok(Math.abs(va! - vb!) <= 5 && Math.abs(pa! - pb!) <= 5, `lifetimes of ${k}: ${va}/${pa} then ${vb}/${pb}`);
  }
}

function linkFlags(ns: string, dev: string): string[] {
  return (JSON.parse(inNs(ns, ['ip', '-j', 'link', 'show', 'dev', dev])) as { flags: string[] }[])[0]!.flags;
}

test('moves eth0 with its IPv4/IPv6 addresses and Calico-style routes into a vNode-owned netns', async (t) => {
  const from = podNetns(t);
  const to = await vnodeNetns(t);
  const before = snapshot(from);
  assert.equal(before.addrs.length, 3);
  assert.ok(before.routes.length >= 8, 'the fixture has kernel and static routes in both families');
  const threads = threadNetns();
  const self = readlinkSync('/proc/thread-self/ns/net');

  const moved = await moveInterface(from, 'eth0', to);

  assert.deepEqual(threadNetns(), threads, 'no thread of the process is left in another netns');
  assert.equal(readlinkSync('/proc/thread-self/ns/net'), self);
  assert.deepEqual(moved.addresses, ['10.214.1.2/24', '10.214.1.3/24', 'fd14:214::2/64']);
  assert.equal(moved.routes, 5, 'the static routes, not the ones the kernel makes');
  assert.equal(moved.ifindex, (JSON.parse(inNs(to, ['ip', '-j', 'link', 'show', 'dev', 'eth0'])) as { ifindex: number }[])[0]!.ifindex);
  const after = snapshot(to);
  assert.deepEqual(after.addrs, before.addrs);
  assert.deepEqual(after.routes, before.routes);
  assertSameLifetimes(after.lifetimes, before.lifetimes);
  assert.ok(linkFlags(to, 'eth0').includes('UP'));
  assert.ok(linkFlags(to, 'lo').includes('UP'));
  assert.throws(() => inNs(from, ['ip', 'link', 'show', 'dev', 'eth0']), /does not exist/);
  assert.equal(await interfaceIn(to, 'eth0'), true);
  assert.equal(await interfaceIn(from, 'eth0'), false);
  // It works, not only looks right: the moved address reaches the peer left behind, over IPv4,
  // and the IPv6 address is usable at once (no duplicate address detection to wait for).
  inNs(to, ['busybox', 'ping', '-c', '1', '-W', '2', '10.214.1.1']);
  assert.doesNotMatch(inNs(to, ['ip', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global']), /tentative/);
});

test('a plain netns file works as a target too, and moving back restores the same state', async (t) => {
  const a = podNetns(t);
  const b = plainNetns(t);
  const before = snapshot(a);
  await moveInterface(a, 'eth0', b);
  assert.deepEqual(snapshot(b).routes, before.routes);
  await moveInterface(b, 'eth0', a);
  const back = snapshot(a);
  assert.deepEqual(back.addrs, before.addrs);
  assert.deepEqual(back.routes, before.routes);
});

test('pod starts in parallel: each move has its own thread and namespaces', async (t) => {
  const pairs = await Promise.all([0, 1, 2, 3].map(async () => ({ from: podNetns(t), to: plainNetns(t) })));
  const before = pairs.map((p) => snapshot(p.from));
  const threads = threadNetns();
  const moved = await Promise.all(pairs.map((p) => moveInterface(p.from, 'eth0', p.to)));
  assert.deepEqual(threadNetns(), threads);
  pairs.forEach((p, i) => {
    assert.equal(moved[i]!.routes, 5);
    assert.deepEqual(snapshot(p.to).routes, before[i]!.routes);
    assert.throws(() => inNs(p.from, ['ip', 'link', 'show', 'dev', 'eth0']), /does not exist/);
  });
});

test('errors name the failed step, keep the errno and leave eth0 where it was', async (t) => {
  const from = podNetns(t);
  const to = plainNetns(t);
  const before = snapshot(from);
  const threads = threadNetns();
  const fails = async (p: Promise<unknown>, code: string, re: RegExp) =>
    assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof NetnsMoveError, String(e));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, re);
      assert.equal(e.leftInTarget, false);
      return true;
    });

  await fails(moveInterface(from, 'nosuch0', to), 'ENODEV', /RTM_GETLINK nosuch0 in \/run\/netns\/vnl-src-/);
  await fails(moveInterface('/run/netns/vnl-nope', 'eth0', to), 'ENOENT', /open source netns \/run\/netns\/vnl-nope/);
  await fails(moveInterface(from, 'eth0', '/run/netns/vnl-nope'), 'ENOENT', /open target netns \/run\/netns\/vnl-nope/);
  const notNs = join(to, '..', 'not-a-netns');
  writeFileSync(notNs, '');
  await fails(moveInterface(from, 'eth0', notNs), 'EINVAL', /target netns .*not-a-netns \(not a namespace file\)/);
  await fails(moveInterface(from, 'eth0', '/proc/self/ns/uts'), 'EINVAL', /setns\(CLONE_NEWNET\) into \/proc\/self\/ns\/uts \(not a network namespace\)/);
  await fails(moveInterface(from, 'eth0', from), 'EINVAL', /same namespace/);
  await assert.rejects(moveInterface(from, 'eth0; reboot', to), /bad interface name/);
  // The name is taken in the target: the kernel refuses the move itself.
  inNs(to, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'vnltaken']);
  await fails(moveInterface(from, 'eth0', to), 'EEXIST', /RTM_NEWLINK move eth0 from/);
  inNs(to, ['ip', 'link', 'del', 'eth0']);

  const now = snapshot(from);
  assert.deepEqual(now.addrs, before.addrs, 'nothing changed in the source');
  assert.deepEqual(now.routes, before.routes);
  assert.equal(await interfaceIn(to, 'eth0'), false);
  assert.equal(await interfaceIn('/run/netns/vnl-nope', 'eth0'), false);
  assert.deepEqual(threadNetns(), threads);
});

test('a failure after the move (IPv6 disabled in the target) takes eth0 back as it was', async (t) => {
  const from = podNetns(t);
  const to = plainNetns(t, ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  const before = snapshot(from);
  const threads = threadNetns();
  await assert.rejects(moveInterface(from, 'eth0', to), (e: unknown) => {
    assert.ok(e instanceof NetnsMoveError, String(e));
    assert.equal(e.code, 'EACCES');
    assert.match(e.message, /RTM_NEWADDR fd14:214::2\/64 dev eth0 in .*IPv6 is disabled/);
    assert.match(e.message, /eth0 was moved back into \/run\/netns\/vnl-src-\S+ with its addresses and routes/);
    assert.equal(e.leftInTarget, false);
    return true;
  });
  const back = snapshot(from);
  assert.deepEqual(back.addrs, before.addrs);
  assert.deepEqual(back.routes, before.routes);
  assertSameLifetimes(back.lifetimes, before.lifetimes);
  assert.ok(linkFlags(from, 'eth0').includes('UP'));
  assert.equal(await interfaceIn(to, 'eth0'), false);
  assert.deepEqual(threadNetns(), threads);
});
