// Builds OCI image-layout tars without a registry or a Docker engine, deterministically, from
// directories of files: one layer per directory. `ctr images import` takes the result.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ImageSpec {
  /** Full reference, e.g. localhost/busybox:vnode-test */
  name: string;
  /** Layers, bottom first: directories, or tar files taken as they are (mmdebstrap's output). */
  layers: string[];
  /** Also write the `docker save` manifest.json beside the OCI layout, so `docker load` (20.10,
   * which reads only that) takes the archive too; ctr reads the OCI index either way. */
  dockerArchive?: boolean;
  config: { Env?: string[]; Cmd?: string[]; Entrypoint?: string[]; WorkingDir?: string; User?: string };
}

function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

const TAR_FLAGS = ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime'];

/** Writes the image layout as a tar at `out`. Returns the manifest digest. */
export function buildImage(spec: ImageSpec, out: string): string {
  const work = mkdtempSync(join(tmpdir(), 'vnode-oci-'));
  try {
    const blobs = join(work, 'blobs/sha256');
    mkdirSync(blobs, { recursive: true });
    const putBlob = (data: Buffer): { digest: string; size: number } => {
      const d = sha256(data);
      writeFileSync(join(blobs, d), data);
      return { digest: `sha256:${d}`, size: data.length };
    };
    const layers = spec.layers.map((dir) => putBlob(statSync(dir).isFile() ? readFileSync(dir) : execFileSync('tar', [...TAR_FLAGS, '-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 30 })));
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        created: '1970-01-01T00:00:00Z',
        config: spec.config,
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
        history: layers.map(() => ({ created: '1970-01-01T00:00:00Z', created_by: 'vnode e2e image builder' })),
      }),
    );
    const cfg = putBlob(config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
        layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
      }),
    );
    const man = putBlob(manifest);
    writeFileSync(join(work, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(
      join(work, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...man,
            annotations: { 'io.containerd.image.name': spec.name, 'org.opencontainers.image.ref.name': spec.name.split(':').pop() },
          },
        ],
      }),
    );
    const entries = ['oci-layout', 'index.json', 'blobs'];
    if (spec.dockerArchive) {
      const path = (d: string): string => `blobs/sha256/${d.slice('sha256:'.length)}`;
      writeFileSync(join(work, 'manifest.json'), JSON.stringify([{ Config: path(cfg.digest), RepoTags: [spec.name], Layers: layers.map((l) => path(l.digest)) }]));
      entries.push('manifest.json');
    }
    execFileSync('tar', [...TAR_FLAGS, '-C', work, '-cf', out, ...entries]);
    return man.digest;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** A busybox root: /bin/busybox from Debian's busybox-static, one link per applet, /etc files. */
export function busyboxRoot(dir: string): void {
  const bb = '/bin/busybox';
  if (!existsSync(bb)) throw new Error('busybox-static is not installed (/bin/busybox missing)');
  for (const d of ['bin', 'etc', 'tmp', 'root', 'proc', 'sys', 'dev', 'var/log']) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, 'tmp'), 0o1777);
  copyFileSync(bb, join(dir, 'bin/busybox'));
  chmodSync(join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync(bb, ['--list']).toString().split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(dir, 'bin', a));
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
}

/** A pause root: a static pause binary built from e2e/images/pause.c. */
export function pauseRoot(dir: string, source: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync('cc', ['-static', '-Os', '-s', '-o', join(dir, 'pause'), source]);
}

/** Content key for caching: changes when any input changes. */
export function cacheKey(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? p : p).update('\0');
  return h.digest('hex').slice(0, 16);
}
