// The host paths a vNode install would touch on a real node. Installer tests point every path at
// their bed, so these must look the same after the test as before it.
import { snapshotFiles, type Snapshot } from './fileSnapshot.js';

export const NODE_PATHS = [
  '/opt/vnode',
  '/opt/cni/bin/vnode-cni',
  '/usr/local/bin/containerd-shim-vnode-v2',
  '/usr/local/bin/vnode',
  '/etc/cni/vnode.d',
  '/etc/containerd',
  '/var/lib/vnode',
  '/var/lib/vnode-installer',
  '/run/vnode',
];

export function snapshotNodePaths(): Snapshot {
  return snapshotFiles(NODE_PATHS);
}
