// The CNI spec's answers shared by vnode-cni in the manager (VNodeCni.ts) and its fallback when no
// manager runs (cniEntry.ts): the VERSION result and the error object, both printed on stdout.
import { CNI_VERSION, CNI_VERSIONS } from './cniVersion.js';

/** The container ids vnode-cni names anything after (a netns file, a record key). */
export { CONTAINER_ID as CNI_ID } from '../common/containerId.js';

/** The VERSION result. */
export function cniVersionResult(): string {
  return `${JSON.stringify({ cniVersion: CNI_VERSION, supportedVersions: CNI_VERSIONS })}\n`;
}

/** A CNI error object (code per the spec) with a non-zero exit, as the launcher answer. */
export function cniError(code: number, msg: string, details = '', cniVersion = CNI_VERSION): { kind: 'exit'; code: number; stdout: string } {
  return { kind: 'exit', code: 1, stdout: `${JSON.stringify({ cniVersion, code, msg, details })}\n` };
}
