// The release image, built the way a release pipeline builds it: the repository's Dockerfile, run
// by a real builder (Debian's buildah: `buildah bud`, vfs storage, chroot isolation; no Docker
// engine runs here) on a copy of what a clean clone holds. The Dockerfile's bases cannot be pulled
// here, so stand-ins are built from Debian packages and passed as its NODE_IMAGE and
// RUNTIME_IMAGE build arguments:
// - debian:bookworm-slim <- mmdebstrap --variant=minbase of bookworm, documentation left out as
//   the slim image does;
// - node:20-bookworm-slim <- that base plus this machine's node 20 (Debian package nodejs: binary,
//   headers, npm, corepack), relocated under /usr/local where the node images keep them.
// Images live in buildah's own storage under /var/tmp/vnode-buildah (a cache, like build/images);
// a built release image is kept as an OCI archive under build/images, keyed by the content of the
// build context, so the image test and the DaemonSet e2e of one run share one build.
import { execFileSync, spawnSync, type ExecFileSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from './TestBed.js';

export const BUILDAH_STORE = '/var/tmp/vnode-buildah';
const CACHE = join(REPO_ROOT, 'build/images');
/** Bump when a stand-in's recipe changes: the tag names the recipe. */
const RECIPE = 'r2';
export const STANDIN_DEBIAN = `localhost/vnode-standin/debian:bookworm-slim-${RECIPE}`;
export const STANDIN_NODE = `localhost/vnode-standin/node:20-bookworm-slim-${RECIPE}`;
/** What the real debian:bookworm-slim leaves out (its dpkg path-exclude list). */
const SLIM_EXCLUDES = ['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/info/*', '/usr/share/locale/*', '/usr/share/groff/*', '/usr/share/lintian/*', '/usr/share/linda/*'];

const NPM_CA = process.env.NODE_EXTRA_CA_CERTS || '/etc/ssl/certs/ca-certificates.crt';
const big = { maxBuffer: 64 << 20 };

const STORE_ARGS = ['--root', join(BUILDAH_STORE, 'storage'), '--runroot', join(BUILDAH_STORE, 'run'), '--storage-driver', 'vfs'];

/** Runs buildah on the test store; output returned, stderr kept for the error. */
export function buildah(args: string[], opts: ExecFileSyncOptions = {}): string {
  const r = spawnSync('buildah', [...STORE_ARGS, ...args], {
    encoding: 'utf8',
    ...big,
    ...opts,
  } as Parameters<typeof spawnSync>[2] & { encoding: 'utf8' });
  if (r.error) throw new Error(`buildah ${args[0]}: ${r.error.message} (npm test installs Debian's buildah)`);
  if (r.status !== 0) throw new Error(`buildah ${args.join(' ')} exited ${r.status ?? r.signal}: ${String(r.stderr).trim().split('\n').slice(-15).join('\n')}`);
  return String(r.stdout);
}

/** buildah for a check or a cleanup step: only whether it succeeded. */
function buildahOk(args: string[]): boolean {
  return spawnSync('buildah', [...STORE_ARGS, ...args], { stdio: 'ignore' }).status === 0;
}

export function hasImage(name: string): boolean {
  return buildahOk(['inspect', '--type', 'image', name]);
}

function scratchDir(prefix: string): string {
  mkdirSync('/var/tmp', { recursive: true });
  return mkdtempSync(join('/var/tmp', prefix));
}

/** Drops stand-ins of other recipes. */
function pruneStandins(): void {
  const names = buildah(['images', '--format', '{{.Name}}:{{.Tag}}']).split('\n').filter((n) => n.includes('/vnode-standin/'));
  for (const n of names) if (!n.endsWith(`-${RECIPE}`)) buildahOk(['rmi', n]);
}

/** The stand-in for debian:bookworm-slim. */
export function standinDebian(log: (s: string) => void = () => {}): string {
  if (hasImage(STANDIN_DEBIAN)) return STANDIN_DEBIAN;
  pruneStandins();
  const dir = scratchDir('vnode-standin-');
  try {
    const t0 = Date.now();
    const rootTar = join(dir, 'root.tar');
    execFileSync(
      'mmdebstrap',
      ['--quiet', '--variant=minbase', '--mode=root', '--format=tar', ...SLIM_EXCLUDES.map((p) => `--dpkgopt=path-exclude=${p}`), '--dpkgopt=path-include=/usr/share/doc/*/copyright', 'bookworm', rootTar],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } },
    );
    const c = buildah(['from', 'scratch']).trim();
    try {
      buildah(['add', c, rootTar, '/']);
      buildah(['config', '--env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--cmd', 'bash', '--label', 'vnode.test/stand-in-for=docker.io/library/debian:bookworm-slim', c]);
      buildah(['commit', '--quiet', c, STANDIN_DEBIAN]);
    } finally {
      buildahOk(['rm', c]);
    }
    log(`stand-in ${STANDIN_DEBIAN} built from Debian packages (mmdebstrap) in ${Date.now() - t0} ms`);
    return STANDIN_DEBIAN;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The stand-in for node:20-bookworm-slim: the Debian stand-in plus this machine's node 20 package under /usr/local. */
export function standinNode(log: (s: string) => void = () => {}): string {
  if (hasImage(STANDIN_NODE)) return STANDIN_NODE;
  const version = execFileSync('node', ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith('v20.')) throw new Error(`the node:20 stand-in needs this machine's node to be 20.x, found ${version}`);
  const pkg = execFileSync('dpkg-query', ['-S', execFileSync('readlink', ['-f', process.execPath], { encoding: 'utf8' }).trim()], { encoding: 'utf8' }).split(':')[0]!.trim();
  const base = standinDebian(log);
  const dir = scratchDir('vnode-standin-');
  try {
    const t0 = Date.now();
    // The package's binary and headers, and its global node_modules as they are now (npm may
    // have updated itself since the package was installed, so not the package's file list).
    const parts = ['usr/bin/node', 'usr/bin/npm', 'usr/bin/npx', 'usr/bin/corepack', 'usr/include/node', 'usr/lib/node_modules'].filter((p) => existsSync(`/${p}`));
    const tar = join(dir, 'node.tar');
    execFileSync('tar', ['-C', '/', '-cf', tar, '--transform', 's,^usr/,usr/local/,', ...parts]);
    const c = buildah(['from', '--pull=never', base]).trim();
    try {
      buildah(['add', c, tar, '/']);
      buildah(['config', '--env', `NODE_VERSION=${version.slice(1)}`, '--cmd', 'node', '--label', 'vnode.test/stand-in-for=docker.io/library/node:20-bookworm-slim', c]);
      buildah(['commit', '--quiet', c, STANDIN_NODE]);
    } finally {
      buildahOk(['rm', c]);
    }
    log(`stand-in ${STANDIN_NODE} (node ${version} from Debian package ${pkg}) built in ${Date.now() - t0} ms`);
    return STANDIN_NODE;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The files a clean clone holds: tracked and untracked-but-not-ignored files of the working tree
 * (so an uncommitted change is built as it would be once committed), copied into `dest`. Outside a
 * git checkout, the working tree as it is (the Dockerfile's .dockerignore then keeps build
 * outputs out).
 */
export function cleanCloneContext(dest: string): string[] {
  const listed = spawnSync('git', ['-C', REPO_ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8', ...big });
  if (listed.status !== 0) {
    execFileSync('cp', ['-a', `${REPO_ROOT}/.`, dest]);
    return [];
  }
  const files = listed.stdout.split('\0').filter((f) => f && existsSync(join(REPO_ROOT, f)));
  for (const f of files) {
    const src = join(REPO_ROOT, f);
    const dst = join(dest, f);
    mkdirSync(dirname(dst), { recursive: true });
    const st = lstatSync(src);
    if (st.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else copyFileSync(src, dst);
  }
  return files.sort();
}

export const RELEASE_TEST_IMAGE = 'localhost/vnode-runtime:release-test';

/** package.json's version: what the chart's image tag and the image's version label carry. */
export function releaseVersion(): string {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The commit the context comes from, `-dirty` when the working tree differs from it; undefined outside git. */
export function releaseRevision(): string | undefined {
  const head = spawnSync('git', ['-C', REPO_ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
  if (head.status !== 0) return undefined;
  const dirty = spawnSync('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=normal'], { encoding: 'utf8' }).stdout.trim() !== '';
  return `${head.stdout.trim()}${dirty ? '-dirty' : ''}`;
}

export interface ReleaseImage {
  /** The name it carries in the archive, for `ctr images import`. */
  name: string;
  /** OCI archive of the image. */
  archive: string;
  /** Wall time of `buildah bud`, ms (0 when the archive came from the cache). */
  buildMs: number;
  fromCache: boolean;
  /** Files of the build context. */
  context: string[];
}

export interface ReleaseBuildOptions {
  name?: string;
  /** Build even when an archive of this context is cached (for the benchmark). */
  fresh?: boolean;
  version?: string;
  revision?: string;
  log?: (s: string) => void;
}

/** Builds the repository's Dockerfile with buildah from a clean-clone context; the image is left in buildah's store under `name`. */
export function buildReleaseImage(opts: ReleaseBuildOptions = {}): ReleaseImage {
  const name = opts.name ?? RELEASE_TEST_IMAGE;
  const log = opts.log ?? (() => {});
  opts = { ...opts, version: opts.version ?? releaseVersion(), revision: opts.revision ?? releaseRevision() };
  const nodeBase = standinNode(log);
  const runtimeBase = standinDebian(log);
  const ctx = scratchDir('vnode-release-ctx-');
  try {
    const context = cleanCloneContext(ctx);
    const h = createHash('sha256').update(`${RECIPE}\0${name}\0${opts.version ?? ''}\0${opts.revision ?? ''}\0`);
    for (const f of context) h.update(f).update('\0').update(readFileSync(join(ctx, f))).update('\0');
    const key = h.digest('hex').slice(0, 16);
    mkdirSync(CACHE, { recursive: true });
    const archive = join(CACHE, `vnode-release-${key}.oci.tar`);
    if (!opts.fresh && existsSync(archive) && hasImage(name)) return { name, archive, buildMs: 0, fromCache: true, context };
    const t0 = Date.now();
    const args = [
      'bud',
      '--isolation', 'chroot',
      '--pull=never',
      '--layers=false',
      '--build-arg', `NODE_IMAGE=${nodeBase}`,
      '--build-arg', `RUNTIME_IMAGE=${runtimeBase}`,
      // This machine reaches the npm registry through a TLS-inspecting proxy: its CA bundle, as
      // the Dockerfile's optional build secret.
      ...(existsSync(NPM_CA) ? ['--secret', `id=npm_ca,src=${NPM_CA}`] : []),
      ...(opts.version ? ['--build-arg', `VERSION=${opts.version}`] : []),
      ...(opts.revision ? ['--build-arg', `REVISION=${opts.revision}`] : []),
      '--tag', name,
      '--file', join(ctx, 'Dockerfile'),
      ctx,
    ];
    buildah(args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const buildMs = Date.now() - t0;
    log(`buildah bud of the Dockerfile: ${(buildMs / 1000).toFixed(1)} s`);
    rmSync(`${archive}.tmp`, { force: true });
    buildah(['push', '--quiet', name, `oci-archive:${archive}.tmp:${name}`]);
    renameSync(`${archive}.tmp`, archive);
    // One archive and one image per name: older builds are dropped.
    for (const f of readdirSync(CACHE)) if (f.startsWith('vnode-release-') && join(CACHE, f) !== archive) rmSync(join(CACHE, f), { force: true });
    buildahOk(['rmi', '--prune']);
    return { name, archive, buildMs, fromCache: false, context };
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
}

/** Mounts (vfs: exposes) the image's root file system, runs `use`, then removes the working container. */
export function withImageRoot<T>(image: string, use: (root: string) => T): T {
  const c = buildah(['from', '--pull=never', image]).trim();
  try {
    const root = buildah(['mount', c]).trim();
    return use(root);
  } finally {
    buildahOk(['rm', c]);
  }
}

export interface ImageFacts {
  config: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[]; Labels?: Record<string, string> };
  /** Uncompressed layer sizes, bytes, base first. */
  layers: number[];
}

/** The image's OCI config and its layers as buildah stores them. */
export function imageFacts(image: string): ImageFacts {
  const j = JSON.parse(buildah(['inspect', '--type', 'image', image])) as { OCIv1?: { config?: ImageFacts['config'] }; Manifest: string };
  const manifest = JSON.parse(j.Manifest) as { layers: { size: number }[] };
  return { config: j.OCIv1?.config ?? {}, layers: manifest.layers.map((l) => l.size) };
}

/**
 * The next release as far as a node can tell: the release image with one more file in its tree
 * (so the tree's content version differs), committed as `name` and exported for `ctr images
 * import`. A rolling update from one to the other is an upgrade of every part of vNode on the node.
 */
export function nextReleaseImage(base: string, name: string): { name: string; archive: string } {
  const ctx = scratchDir('vnode-release-next-');
  const ctr = buildah(['from', '--pull=never', '--quiet', base]).trim();
  try {
    writeFileSync(join(ctx, 'NEXT'), `${name}\n`);
    buildah(['copy', '--quiet', ctr, join(ctx, 'NEXT'), '/opt/vnode-image/NEXT']);
    buildah(['commit', '--quiet', ctr, name]);
  } finally {
    buildahOk(['rm', ctr]);
    rmSync(ctx, { recursive: true, force: true });
  }
  mkdirSync(CACHE, { recursive: true });
  const archive = join(CACHE, 'vnode-release-next.oci.tar');
  rmSync(archive, { force: true });
  buildah(['push', '--quiet', name, `oci-archive:${archive}:${name}`]);
  return { name, archive };
}
