// The test images, built once from Debian packages and cached under build/images by content.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, busyboxRoot, cacheKey, pauseRoot } from './ociImage.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const CACHE = join(REPO, 'build/images');

export interface TestImage {
  name: string;
  tar: string;
}
export interface TestImages {
  pause: TestImage;
  busybox: TestImage;
}

/** An image built by `make` (which lays out its layers under a scratch dir and returns them,
 * bottom first), cached as build/images/<name>-<key>.tar. */
function cachedLayers(name: string, key: string, make: (dir: string) => string[], config: Parameters<typeof buildImage>[0]['config'], dockerArchive = false): TestImage {
  mkdirSync(CACHE, { recursive: true });
  const tar = join(CACHE, `${name.replace(/[/:]/g, '_')}-${key}.tar`);
  if (!existsSync(tar)) {
    const dir = mkdtempSync(join(tmpdir(), 'vnode-img-'));
    try {
      buildImage({ name, layers: make(dir), config, dockerArchive }, `${tar}.tmp`);
      renameSync(`${tar}.tmp`, tar);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { name, tar };
}

/** A one-layer image whose root `make` fills. */
function cached(name: string, key: string, make: (root: string) => void, config: Parameters<typeof buildImage>[0]['config'], dockerArchive = false): TestImage {
  return cachedLayers(name, key, (dir) => {
    make(join(dir, 'root'));
    return [join(dir, 'root')];
  }, config, dockerArchive);
}

let images: TestImages | undefined;

export function ensureTestImages(): TestImages {
  if (images) return images;
  const pauseSrc = join(REPO, 'e2e/images/pause.c');
  const pause = cached('localhost/pause:vnode-test', cacheKey(readFileSync(pauseSrc), 'v1'), (d) => pauseRoot(d, pauseSrc), {
    Entrypoint: ['/pause'],
  });
  const busybox = cached('localhost/busybox:vnode-test', cacheKey(readFileSync('/bin/busybox'), 'v1'), busyboxRoot, {
    Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    Cmd: ['sh'],
  });
  images = { pause, busybox };
  return images;
}

/** An image with `files` small files across many directories, for start-time-vs-size tests. */
export function manyFilesImage(files: number): TestImage {
  return cached(`localhost/manyfiles:${files}`, cacheKey(readFileSync('/bin/busybox'), String(files), 'v1'), (d) => {
    busyboxRoot(d);
    for (let i = 0; i < files; i++) {
      const sub = join(d, 'data', String(i % 100));
      if (i < 100) mkdirSync(sub, { recursive: true });
      writeFileSync(join(sub, `f${i}`), `file ${i}\n`);
    }
  }, { Env: ['PATH=/bin'], Cmd: ['sh'] });
}

/**
 * busybox and `layers - 1` more layers of one file each (/layers/<i>) and a file every layer
 * writes (/layers/top: the highest layer's number): an image of more layers than one overlay
 * mount's option page holds as paths.
 */
export function manyLayersImage(layers: number): TestImage {
  return cachedLayers(`localhost/manylayers:${layers}`, cacheKey(readFileSync('/bin/busybox'), String(layers), 'v1'), (dir) => {
    const dirs = [join(dir, 'base')];
    busyboxRoot(dirs[0]!);
    for (let i = 1; i < layers; i++) {
      const d = join(dir, `l${i}`, 'layers');
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, String(i)), `${i}\n`);
      writeFileSync(join(d, 'top'), `${i}\n`);
      dirs.push(join(dir, `l${i}`));
    }
    return dirs;
  }, { Env: ['PATH=/bin'], Cmd: ['sh'] });
}

/** The busybox image as `docker save` writes it too (manifest.json), for `docker load` in a nested runtime. */
export function nestedBusyboxImage(): TestImage {
  return cached('localhost/busybox:nested', cacheKey(readFileSync('/bin/busybox'), 'docker-archive', 'v1'), busyboxRoot, { Env: ['PATH=/bin'], Cmd: ['sh'] }, true);
}

/**
 * A Debian bookworm image with `packages` and what they depend on (mmdebstrap --variant=minbase
 * from Debian's mirror, as the e2e release image's base; documentation left out), one layer: the
 * images of the nested-runtime and systemd tests. Cached under build/images by recipe.
 */
export function debianImage(name: string, packages: string[], config: Parameters<typeof buildImage>[0]['config']): TestImage {
  mkdirSync(CACHE, { recursive: true });
  const key = cacheKey('bookworm', 'minbase', ...packages, JSON.stringify(config), 'v1');
  const tar = join(CACHE, `${name.replace(/[/:]/g, '_')}-${key}.tar`);
  if (existsSync(tar)) return { name, tar };
  mkdirSync('/var/tmp', { recursive: true });
  const dir = mkdtempSync(join('/var/tmp', 'vnode-img-'));
  try {
    const root = join(dir, 'root.tar');
    const r = spawnSync(
      'mmdebstrap',
      ['--quiet', '--variant=minbase', '--mode=root', '--format=tar', `--include=${packages.join(',')}`, ...DOC_EXCLUDES.map((p) => `--dpkgopt=path-exclude=${p}`), 'bookworm', root],
      { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } },
    );
    if (r.error || r.status !== 0) throw new Error(`mmdebstrap of ${name} (${packages.join(', ')}) failed: ${r.error?.message ?? String(r.stderr).trim().split('\n').slice(-8).join('\n')} (npm test installs Debian's mmdebstrap; it needs Debian's mirror)`);
    buildImage({ name, layers: [root], config }, `${tar}.tmp`);
    renameSync(`${tar}.tmp`, tar);
    return { name, tar };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const DOC_EXCLUDES = ['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/info/*', '/usr/share/locale/*'];
