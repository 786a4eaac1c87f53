// The release image: the repository's multi-stage Dockerfile built by a real builder (buildah)
// from what a clean clone holds, on stand-in bases made from Debian packages (see
// e2e/lib/releaseImage.ts). The DaemonSet e2e (installerDaemonSet.test.ts) then runs this same
// image through CRI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { IMAGE_TREE } from '../charts/source/objects.js';
import { e2eSkipReason } from './lib/e2eGate.js';
import { buildReleaseImage, imageFacts, releaseRevision, releaseVersion, withImageRoot, type ReleaseImage } from './lib/releaseImage.js';
import { REPO_ROOT, TREE_DIR } from './lib/TestBed.js';

const skip = e2eSkipReason(['/usr/bin/buildah', '/usr/bin/mmdebstrap']);

let built: ReleaseImage | undefined;
function release(t: { diagnostic(s: string): void }): ReleaseImage {
  if (!built) {
    built = buildReleaseImage({ log: (s) => t.diagnostic(s) });
    t.diagnostic(built.fromCache ? `from the cache: ${built.archive}` : `built in ${(built.buildMs / 1000).toFixed(1)} s`);
  }
  return built;
}

function walk(dir: string, base = dir, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, base, out);
    else out.push(relative(base, p));
  }
  return out;
}

test('the Dockerfile is multi-stage, its bases pinned by digest, and the context excludes build outputs', () => {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const froms = [...text.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gm)].map((m) => m[1]);
  assert.deepEqual(froms, ['${NODE_IMAGE}', '${RUNTIME_IMAGE}'], 'a build stage and a runtime stage');
  for (const arg of ['NODE_IMAGE', 'RUNTIME_IMAGE']) {
    assert.match(text, new RegExp(`^ARG ${arg}=docker\\.io/library/[a-z0-9.:-]+@sha256:[0-9a-f]{64}$`, 'm'), `${arg} is pinned by digest`);
  }
  const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  // Everything the host build writes (.gitignore's build outputs) stays out of the context.
  const gitIgnored = readFileSync(join(REPO_ROOT, '.gitignore'), 'utf8').split('\n').map((l) => l.trim().replace(/\/$/, '')).filter((l) => l && !l.startsWith('#'));
  for (const g of gitIgnored) assert.ok(ignored.includes(g), `.dockerignore excludes ${g}`);
});

test('buildah builds the Dockerfile from a clean clone; the image carries the tree, its entrypoint and labels', { skip, timeout: 1_200_000 }, (t) => {
  const img = release(t);
  assert.ok(img.context.includes('Dockerfile') && img.context.includes('package-lock.json'));
  const outputs = img.context.filter((f) => /^(build|dist|node_modules|addon\/build)\//.test(f));
  assert.deepEqual(outputs, [], 'the context holds no build output of this machine');
  assert.ok(statSync(img.archive).size > 0, 'an OCI archive for ctr import');

  const { config, layers } = imageFacts(img.name);
  assert.deepEqual(config.Entrypoint, [`${IMAGE_TREE}/lib/node`, '--enable-source-maps', `${IMAGE_TREE}/lib/app/installer/installerEntry.js`]);
  assert.deepEqual(config.Cmd, ['run']);
  assert.ok(config.Env?.includes(`VNODE_TREE=${IMAGE_TREE}`));
  assert.equal(config.Labels?.['org.opencontainers.image.version'], releaseVersion());
  assert.equal(config.Labels?.['org.opencontainers.image.revision'], releaseRevision() ?? 'unknown');
  assert.match(config.Labels?.['org.opencontainers.image.source'] ?? '', /^https:\/\//);
  assert.equal(layers.length, 2, 'the runtime base and one layer with the tree: nothing of the build stage');
});

test('the runtime image holds no compiler or build tool, only production dependencies', { skip, timeout: 1_200_000 }, (t) => {
  const img = release(t);
  // Dev-only packages as the lockfile marks them (a devDependency may also be a production
  // dependency's dependency, like @types/node here: then it is production).
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const devOnly = Object.entries(lock.packages).filter(([p, m]) => p.startsWith('node_modules/') && m.dev).map(([p]) => p);
  assert.ok(devOnly.includes('node_modules/typescript') && devOnly.includes('node_modules/node-gyp'));
  withImageRoot(img.name, (root) => {
    const pathDirs = ['usr/local/sbin', 'usr/local/bin', 'usr/sbin', 'usr/bin', 'sbin', 'bin'];
    for (const tool of ['cc', 'gcc', 'g++', 'c++', 'cpp', 'ld', 'as', 'make', 'python3', 'node-gyp', 'npm', 'tsc']) {
      const found = pathDirs.filter((d) => existsSync(join(root, d, tool)));
      assert.deepEqual(found, [], `${tool} is not in the image`);
    }
    for (const dir of ['usr/include/node', 'usr/local/include/node', 'usr/lib/gcc', 'src']) assert.ok(!existsSync(join(root, dir)), `/${dir} is not in the image`);
    const present = devOnly.filter((p) => existsSync(join(root, IMAGE_TREE, 'lib/app', p)));
    assert.deepEqual(present, [], 'no dev-only package is in the image');
  });
});

test('the image tree is the tree the host build stages, and it runs from the image alone (chroot)', { skip, timeout: 1_200_000 }, (t) => {
  const img = release(t);
  withImageRoot(img.name, (root) => {
    const tree = join(root, IMAGE_TREE);
    const inImage = new Set(walk(tree).filter((f) => f.startsWith('lib/app/') || f.startsWith('bin/')));
    const here = walk(TREE_DIR).filter((f) => f.startsWith('lib/app/') || f.startsWith('bin/'));
    // runc and the runc shim, built from Debian's sources with the tree's patches in both builds.
    assert.ok(inImage.has('bin/runc') && inImage.has('bin/containerd-shim-runc-v2'));
    const missing = here.filter((f) => !inImage.has(f));
    assert.deepEqual(missing, [], 'every file of the staged tree is in the image');
    assert.equal(inImage.size, here.length, 'and nothing else');

    const run = (cmd: string[]) => spawnSync('chroot', [root, ...cmd], { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', VNODE_LOG_LEVEL: 'error' } });
    const usage = run([`${IMAGE_TREE}/lib/node`, `${IMAGE_TREE}/lib/app/installer/installerEntry.js`, 'no-such-command']);
    assert.equal(usage.status, 2, `installer entry: ${usage.stderr}`);
    assert.match(usage.stderr, /usage: vnode-installer/);
    const addon = run([`${IMAGE_TREE}/lib/node`, '-e', `require('${IMAGE_TREE}/lib/app/addon/vnode_addon.node')`]);
    assert.equal(addon.status, 0, `the addon loads with the image's libraries: ${addon.stderr}`);
    for (const tool of [['nsenter', '--version'], ['chroot', '--version'], ['sh', '-c', 'exit 0']]) {
      const r = run(tool);
      assert.equal(r.status, 0, `${tool[0]} runs in the image: ${r.stderr}`);
    }
  });
});
