// Every listed cniVersion is accepted and any other refused with the list, by each reader of a CNI
// config: vnode-cni in the manager and without it, the installer's chain, the manager's CniRunner.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { installed, skipUnless } from '../../e2e/lib/e2eGate.js';
import { chainConfig, CniConfigError } from '../../installer/cniChain.js';
import { cniFallback } from './cniEntry.js';
import { CniError, loadConfList } from './CniRunner.js';
import { CNI_VERSION, CNI_VERSIONS } from './cniVersion.js';
import { vnodeCniWithoutVNodes } from './testing/vnodeCniWithoutVNodes.js';

const UNLISTED = ['1.1.0', '0.2.0', '2.0.0', '1.0', ''];

const tmp = mkdtempSync(join(tmpdir(), 'cni-version-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
// A regular file where a netns would be: the ADD stops at the interface check, past the config.
const notANetns = join(tmp, 'netns-file');
writeFileSync(notANetns, '');

const conf = (cniVersion: string) => ({
  cniVersion,
  name: 'vnode-chain',
  type: 'vnode-cni',
  prevResult: { cniVersion, interfaces: [{ name: 'eth0', sandbox: '/var/run/netns/cni-1' }], ips: [{ address: '10.22.0.5/24', interface: 0 }] },
});
const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: notANetns, CNI_IFNAME: 'eth0', CNI_ARGS: 'K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=p;K8S_POD_UID=u' };
const BRIDGE = '/usr/lib/cni/bridge';

test('the list is of versions the CNI plugins vnode-cni chains after speak, and its own answer is theirs', { skip: skipUnless(installed(BRIDGE)) }, () => {
  // The reference plugins (Debian's containernetworking-plugins), asked as containerd asks them.
  const theirs = JSON.parse(execFileSync(BRIDGE, [], { env: { CNI_COMMAND: 'VERSION' }, input: '{}', encoding: 'utf8' })) as { cniVersion: string; supportedVersions: string[] };
  for (const v of CNI_VERSIONS) assert.ok(theirs.supportedVersions.includes(v), `${v} is not one the bridge plugin speaks (${theirs.supportedVersions.join(', ')})`);
  assert.equal(CNI_VERSION, theirs.cniVersion);
});

const errorOf = (stdout: unknown) => JSON.parse(String(stdout)) as { cniVersion: string; code: number; msg: string; details: string };

test('vnode-cni in the manager: a listed version gets past the config, an unlisted one is refused with code 1 and the list', async () => {
  const calls: string[] = [];
  const cni = vnodeCniWithoutVNodes(calls, tmp);
  const ask = (v: string) => cni.handle({ entry: 'vnode-cni', cwd: '/', argv: ['vnode-cni'], env, stdin: Buffer.from(JSON.stringify(conf(v))) });
  for (const v of CNI_VERSIONS) {
    const a = await ask(v);
    assert.equal(a.kind, 'exit');
    const err = errorOf(a.kind === 'exit' && a.stdout);
    assert.equal(err.cniVersion, v, `answered in ${v}`);
    assert.match(err.msg, /looking up eth0 in .*netns-file/, `${v}: the ADD went on to the interface check`);
  }
  for (const v of UNLISTED) {
    const a = await ask(v);
    const err = errorOf(a.kind === 'exit' && a.stdout);
    assert.equal(err.code, 1, `${JSON.stringify(v)}: the spec's "incompatible CNI version"`);
    assert.equal(err.cniVersion, CNI_VERSION);
    assert.ok(err.msg.includes(`${JSON.stringify(v)} is not a CNI version vnode-cni speaks (${CNI_VERSIONS.join(', ')})`), err.msg);
  }
  assert.deepEqual(calls, []);
  const version = await cni.handle({ entry: 'vnode-cni', cwd: '/', argv: ['vnode-cni'], env: { CNI_COMMAND: 'VERSION' }, stdin: Buffer.alloc(0) });
  assert.deepEqual(JSON.parse(String(version.kind === 'exit' && version.stdout)), { cniVersion: CNI_VERSION, supportedVersions: CNI_VERSIONS });
});

test('vnode-cni without a manager answers in a listed version, and in its own for an unlisted one', () => {
  for (const v of CNI_VERSIONS) assert.equal(errorOf(cniFallback(env, Buffer.from(JSON.stringify(conf(v)))).stdout).cniVersion, v);
  for (const v of UNLISTED) assert.equal(errorOf(cniFallback(env, Buffer.from(JSON.stringify(conf(v)))).stdout).cniVersion, CNI_VERSION);
});

test('the installer chains a host config of a listed version and refuses another, naming the file and the list', () => {
  for (const v of CNI_VERSIONS) {
    assert.equal(chainConfig('10-host.conflist', JSON.stringify({ cniVersion: v, name: 'net', plugins: [{ type: 'bridge' }] })).cniVersion, v);
    assert.equal(chainConfig('10-host.conf', JSON.stringify({ cniVersion: v, name: 'net', type: 'bridge' })).cniVersion, v);
  }
  for (const v of UNLISTED) {
    for (const [file, text] of [
      ['10-host.conflist', { cniVersion: v, name: 'net', plugins: [{ type: 'bridge' }] }],
      ['10-host.conf', { cniVersion: v, name: 'net', type: 'bridge' }],
    ] as const) {
      assert.throws(
        () => chainConfig(file, JSON.stringify(text)),
        (e: unknown) => e instanceof CniConfigError && e.message === `${file}: cniVersion ${JSON.stringify(v)} is not a CNI version vnode-cni speaks (${CNI_VERSIONS.join(', ')})`,
      );
    }
  }
});

test("the manager's CniRunner loads a chain of a listed version and refuses another", () => {
  const dirFor = (v: string) => {
    const d = join(tmp, `net-${v || 'empty'}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, '10-vnode.conflist'), JSON.stringify({ cniVersion: v, name: 'net', plugins: [{ type: 'bridge' }, { type: 'vnode-cni' }] }));
    return d;
  };
  for (const v of CNI_VERSIONS) assert.deepEqual(loadConfList(dirFor(v), ['vnode-cni']), { cniVersion: v, name: 'net', plugins: [{ type: 'bridge' }] });
  for (const v of UNLISTED) assert.throws(() => loadConfList(dirFor(v)), (e: unknown) => e instanceof CniError && e.message.includes(`cniVersion: ${JSON.stringify(v)} is not a CNI version`));
});
