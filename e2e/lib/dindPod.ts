// Docker-in-Docker pods for the nested-runtime test and `BENCH nested-run`: an image with Debian's
// docker.io (dockerd, containerd, runc, docker-init) made by mmdebstrap, a pod that runs dockerd
// on a kubelet-like emptyDir, and the nested image staged where every vNode uid can read it.
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './hostState.js';
import type { TestBed } from './TestBed.js';
import { debianImage, nestedBusyboxImage, type TestImage } from './testImages.js';

export const DIND_IMAGE = 'localhost/dind:vnode-test';
/** The nested image, as `docker load` (manifest.json) and `ctr images import` (the OCI index) name it. */
export const NESTED_IMAGE = 'localhost/busybox:nested';

export function dindImage(): TestImage {
  return debianImage(DIND_IMAGE, ['docker.io', 'iptables'], { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['dockerd'] });
}

/** Imports the DinD image into the bed and stages the nested image tar under base/images (0755/0644). */
export function prepareDind(bed: TestBed, base: string): { imagesDir: string } {
  bed.importImage(dindImage().tar);
  const imagesDir = join(base, 'images');
  mkdirSync(imagesDir, { recursive: true, mode: 0o755 });
  chmodSync(imagesDir, 0o755);
  copyFileSync(nestedBusyboxImage().tar, join(imagesDir, 'busybox.tar'));
  chmodSync(join(imagesDir, 'busybox.tar'), 0o644);
  return { imagesDir };
}

/** kubelet's emptyDir of a pod: host root's, 0777, at <kubelet root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>. */
export function emptyDir(kubeletRoot: string, podUid: string, name: string): string {
  const d = join(kubeletRoot, 'pods', podUid, 'volumes/kubernetes.io~empty-dir', name);
  mkdirSync(d, { recursive: true });
  chmodSync(d, 0o777);
  return d;
}

export interface DindPod {
  podId: string;
  containerId: string;
  cgroupParent: string;
}

/** A privileged pod of `handler` running dockerd (docker-init as pid 1 reaps), its data root an emptyDir, /images the staged tars; resolves once dockerd answers. */
export async function runDindPod(bed: TestBed, o: { name: string; handler: string; uid: string; kubeletRoot: string; imagesDir: string; namespace?: string }): Promise<DindPod> {
  const podConfig = bed.podConfig({ name: o.name, namespace: o.namespace ?? 'nested', uid: o.uid, privileged: true }).build();
  mkdirSync(podConfig.logDirectory as string, { recursive: true });
  const podId = await bed.cri.runPodSandbox(podConfig, o.handler);
  const cfg = bed.containerConfig({
    name: 'dind',
    image: DIND_IMAGE,
    command: ['docker-init', '--', 'dockerd', '--host=unix:///var/run/docker.sock'],
    privileged: true,
    memoryLimitBytes: 1024 * 1024 * 1024,
    mounts: [
      { containerPath: '/var/lib/docker', hostPath: emptyDir(o.kubeletRoot, o.uid, 'docker') },
      { containerPath: '/images', hostPath: o.imagesDir, readonly: true },
    ],
  });
  const containerId = await bed.cri.createContainer(podId, cfg, podConfig);
  await bed.cri.startContainer(containerId);
  await waitFor('dockerd to answer', async () => (await bed.cri.execSync(containerId, ['docker', 'version', '--format', '{{.Server.Version}}'])).exitCode === 0 || undefined, 60_000, 250);
  return { podId, containerId, cgroupParent: (podConfig.linux as { cgroupParent: string }).cgroupParent };
}
