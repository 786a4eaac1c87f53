// The devices a vNode container asked for, made real: each allowed request (DeviceRequests.ts)
// becomes a device node of the same number, owned by the container's user mapped into the vNode
// (the vNode's root for a root container), with the requested permissions for owner and group,
// which the spec rewrite binds at the container path. A bind of the host's own node would show
// its host owner as `nobody` inside the vNode (and /dev/fuse is 0600 root on many hosts).
//
// The nodes live on a small tmpfs of the manager's, `<vNode dir>/dev` (mounted without nodev:
// /run often is nodev, and a node there could not be opened), one directory per container:
// removed with the container (taskGone) and with the vNode (its teardown unmounts below its dir).
import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mknodDevice } from '../../addon/devnode.js';
import { mount, MountConstants } from '../../addon/mount.js';
import { CONTAINER_ID } from '../common/containerId.js';
import { isMountPoint } from '../common/mountinfo.js';
import { checkDeviceRequest, DeviceRequestError, type DeviceAllowEntry, type DeviceIdentity, type DeviceRequest, type DeviceType } from '../spec/DeviceRequests.js';
import { hostDeviceIdentity } from '../spec/hostDeviceOf.js';
import type { GrantedDevice } from '../spec/SpecRewriter.js';
import type { VNode } from '../vnode/VNodeRecord.js';

/** Owner and group permission bits for device cgroup access letters (m is mknod: no bit). */
export function deviceMode(access: string): number {
  const p = (access.includes('r') ? 4 : 0) | (access.includes('w') ? 2 : 0);
  return (p << 6) | (p << 3);
}

export class DeviceNodes {
  /** vNode dev dirs being mounted: two containers of one vNode must not stack two tmpfs. */
  private readonly mounting = new Map<string, Promise<void>>();

  constructor(
    private readonly allow: readonly DeviceAllowEntry[],
    private readonly identify: (type: DeviceType, major: number, minor: number) => DeviceIdentity = hostDeviceIdentity,
  ) {}

  /** Throws DeviceRequestError for the first request the vNode may not have; makes nothing. */
  check(requests: DeviceRequest[]): void {
    for (const r of requests) checkDeviceRequest(r, this.identify(r.type, r.major, r.minor), this.allow);
    const seen = new Set<string>();
    for (const r of requests) {
      if (seen.has(r.containerPath)) throw new DeviceRequestError(`device request ${JSON.stringify(r.containerPath)}: asked for twice`);
      seen.add(r.containerPath);
    }
  }

  /**
   * Checks the requests, then makes a node for each in the container's directory; on any failure
   * nothing is left. `user` is the container's uid and gid as the container sees them.
   */
  async prepare(vnode: VNode, containerId: string, requests: DeviceRequest[], user: { uid: number; gid: number }): Promise<GrantedDevice[]> {
    if (requests.length === 0) return [];
    this.check(requests);
    await this.ensureMounted(join(vnode.dir, 'dev'));
    const dir = this.dirOf(vnode, containerId);
    const inRange = (id: number): number => (Number.isInteger(id) && id >= 0 && id < vnode.idRange.size ? id : 0);
    const uid = vnode.idRange.uidStart + inRange(user.uid);
    const gid = vnode.idRange.gidStart + inRange(user.gid);
    try {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { mode: 0o711 });
      return await Promise.all(
        requests.map(async (r, i) => {
          const hostNode = join(dir, `d${i}`);
          mknodDevice(hostNode, r.type, 0, r.major, r.minor);
          await chown(hostNode, uid, gid);
          await chmod(hostNode, deviceMode(r.access));
          return { ...r, hostNode };
        }),
      );
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  /** The container is gone: its nodes go (idempotent). */
  async release(vnode: VNode, containerId: string): Promise<void> {
    await rm(this.dirOf(vnode, containerId), { recursive: true, force: true });
  }

  private dirOf(vnode: VNode, containerId: string): string {
    if (!CONTAINER_ID.test(containerId)) throw new DeviceRequestError(`container id ${JSON.stringify(containerId)} cannot name a directory`);
    return join(vnode.dir, 'dev', containerId);
  }

  private ensureMounted(dir: string): Promise<void> {
    let p = this.mounting.get(dir);
    if (!p) {
      p = (async () => {
        if (isMountPoint(dir)) return;
        await mkdir(dir, { recursive: true, mode: 0o711 });
        // nosuid and noexec: only device nodes live here, never programs.
        await mount('vnode-dev', dir, 'tmpfs', MountConstants.MS_NOSUID | MountConstants.MS_NOEXEC, 'mode=0711,size=64k,nr_inodes=4096');
      })().finally(() => this.mounting.delete(dir));
      this.mounting.set(dir, p);
    }
    return p;
  }
}
