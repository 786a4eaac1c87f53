import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHAINED_FILE, CniChainSync, chainConfig, pickHostNetworkFile, syncChain } from './cniChain.js';
import { HostRoot } from './HostRoot.js';

function hostWith(files: Record<string, string>) {
  const root = mkdtempSync(join(tmpdir(), 'vnode-inst-cni-'));
  mkdirSync(join(root, 'etc/cni/net.d'), { recursive: true });
  for (const [n, t] of Object.entries(files)) writeFileSync(join(root, 'etc/cni/net.d', n), t);
  return { root, host: new HostRoot(root), cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

const calico = JSON.stringify({
  name: 'k8s-pod-network',
  cniVersion: '0.3.1',
  plugins: [{ type: 'calico', ipam: { type: 'calico-ipam' } }, { type: 'bandwidth', capabilities: { bandwidth: true } }, { type: 'portmap', snat: true, capabilities: { portMappings: true } }],
});
const flannelConf = JSON.stringify({ cniVersion: '0.3.1', name: 'cbr0', type: 'flannel', delegate: { isDefaultGateway: true } });

test('libcni order: the first .conf/.conflist/.json by name; hidden and other files ignored', () => {
  assert.equal(pickHostNetworkFile(['99-loopback.conf', '10-calico.conflist', 'calico-kubeconfig', '.10-x.conflist.tmp']), '10-calico.conflist');
  assert.equal(pickHostNetworkFile(['README', 'calico-kubeconfig']), undefined);
  assert.equal(pickHostNetworkFile(['20-b.json', '10-a.conf']), '10-a.conf');
});

test('a conflist gets vnode-cni chained last, with its name, version and every plugin kept', () => {
  const out = chainConfig('10-calico.conflist', calico);
  assert.equal(out.name, 'k8s-pod-network');
  assert.equal(out.cniVersion, '0.3.1');
  assert.deepEqual(out.plugins.map((p) => p.type), ['calico', 'bandwidth', 'portmap', 'vnode-cni']);
  assert.deepEqual(out.plugins[0], JSON.parse(calico).plugins[0]);
  assert.deepEqual(chainConfig('x.conflist', JSON.stringify(out)).plugins.map((p) => p.type), ['calico', 'bandwidth', 'portmap', 'vnode-cni'], 'never chained twice');
});

test('a single .conf becomes a conflist whose only plugin is the whole conf (libcni ConfListFromConf)', () => {
  const out = chainConfig('10-flannel.conf', flannelConf);
  assert.equal(out.name, 'cbr0');
  assert.deepEqual(out.plugins[0], JSON.parse(flannelConf));
  assert.equal(out.plugins[1]!.type, 'vnode-cni');
});

test('bad host configs are reported with the file and what is wrong', () => {
  assert.throws(() => chainConfig('a.conflist', '{'), /a\.conflist: not valid JSON/);
  assert.throws(() => chainConfig('a.conflist', '{"name":"n","plugins":[]}'), /has no plugins/);
  assert.throws(() => chainConfig('a.conf', '{"name":"n"}'), /type/);
});

test('sync writes our dir only, never touches the host file, and follows the host as it changes', (t) => {
  const { root, host, cleanup } = hostWith({ '10-calico.conflist': calico, '99-loopback.conf': '{"cniVersion":"0.3.1","name":"lo","type":"loopback"}' });
  t.after(cleanup);
  const hostFile = join(root, 'etc/cni/net.d/10-calico.conflist');
  const mtime = statSync(hostFile).mtimeMs;
  const r1 = syncChain(host, '/etc/cni/net.d', '/etc/cni/vnode.d');
  assert.deepEqual(r1, { changed: true, source: '10-calico.conflist' });
  const ours = JSON.parse(readFileSync(join(root, 'etc/cni/vnode.d', CHAINED_FILE), 'utf8'));
  assert.deepEqual(ours.plugins.map((p: { type: string }) => p.type), ['calico', 'bandwidth', 'portmap', 'vnode-cni']);
  assert.equal(readFileSync(hostFile, 'utf8'), calico, 'host conflist unchanged');
  assert.equal(statSync(hostFile).mtimeMs, mtime);
  assert.equal(syncChain(host, '/etc/cni/net.d', '/etc/cni/vnode.d').changed, false, 'idempotent');

  // The provider is replaced: a new file sorts first.
  writeFileSync(join(root, 'etc/cni/net.d/05-cilium.conflist'), JSON.stringify({ name: 'cilium', cniVersion: '1.0.0', plugins: [{ type: 'cilium-cni' }] }));
  assert.equal(syncChain(host, '/etc/cni/net.d', '/etc/cni/vnode.d').source, '05-cilium.conflist');
  // A half-written file: the last good copy stays.
  writeFileSync(join(root, 'etc/cni/net.d/05-cilium.conflist'), '{"name": "cil');
  const bad = syncChain(host, '/etc/cni/net.d', '/etc/cni/vnode.d');
  assert.match(bad.error!, /not valid JSON/);
  assert.equal(JSON.parse(readFileSync(join(root, 'etc/cni/vnode.d', CHAINED_FILE), 'utf8')).name, 'cilium');
  // Stray files in our dir go; the host network going away empties our dir.
  writeFileSync(join(root, 'etc/cni/vnode.d/00-stray.conf'), '{}');
  for (const f of ['05-cilium.conflist', '10-calico.conflist', '99-loopback.conf']) rmSync(join(root, 'etc/cni/net.d', f));
  assert.deepEqual(syncChain(host, '/etc/cni/net.d', '/etc/cni/vnode.d'), { changed: true });
  assert.deepEqual(host.list('/etc/cni/vnode.d'), []);
  assert.throws(() => syncChain(host, '/etc/cni/net.d', '/etc/cni/net.d/'), /must not be the host CNI dir/);
});

test('a host conf dir that is an absolute symlink on the host is followed inside the host root', (t) => {
  const { root, host, cleanup } = hostWith({});
  t.after(cleanup);
  rmSync(join(root, 'etc/cni/net.d'), { recursive: true });
  mkdirSync(join(root, 'var/lib/cni-conf'), { recursive: true });
  writeFileSync(join(root, 'var/lib/cni-conf/10-flannel.conf'), flannelConf);
  symlinkSync('/var/lib/cni-conf', join(root, 'etc/cni/net.d'));
  assert.equal(syncChain(host, '/etc/cni/net.d', '/etc/cni/vnode.d').source, '10-flannel.conf');
});

test('CniChainSync picks up a provider rewrite through fs.watch within the debounce', async (t) => {
  const { root, host, cleanup } = hostWith({ '10-calico.conflist': calico });
  const results: string[] = [];
  const sync = new CniChainSync({ host, hostConfDir: '/etc/cni/net.d', vnodeConfDir: '/etc/cni/vnode.d', rescanMs: 60_000, debounceMs: 20, onSync: (r) => results.push(r.source ?? '-') });
  t.after(() => {
    sync.stop();
    cleanup();
  });
  sync.start();
  const rewritten = JSON.parse(calico);
  rewritten.plugins[0].mtu = 1400;
  writeFileSync(join(root, 'etc/cni/net.d/10-calico.conflist'), JSON.stringify(rewritten));
  const deadline = Date.now() + 3000;
  let mtu: unknown;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    mtu = JSON.parse(readFileSync(join(root, 'etc/cni/vnode.d', CHAINED_FILE), 'utf8')).plugins[0].mtu;
    if (mtu === 1400) break;
  }
  assert.equal(mtu, 1400, 'the watch (not the 60 s rescan) carried the change');
  assert.ok(results.length >= 2);
});
