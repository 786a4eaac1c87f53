// The CNI spec's answers shared by vnode-cni in the manager (VNodeCni.ts) and its fallback when no
// manager runs (cniEntry.ts): the VERSION result and the error object, both printed on stdout.

export const CNI_SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'];

/** The container ids vnode-cni names anything after (a netns file, a record key). */
export { CONTAINER_ID as CNI_ID } from '../common/containerId.js';

/** The VERSION result. */
export function cniVersionResult(): string {
  return `${JSON.stringify({ cniVersion: '1.0.0', supportedVersions: CNI_SUPPORTED_VERSIONS })}\n`;
}

/** A CNI error object (code per the spec) with a non-zero exit, as the launcher answer. */
export function cniError(code: number, msg: string, details = '', cniVersion = '1.0.0'): { kind: 'exit'; code: number; stdout: string } {
  return { kind: 'exit', code: 1, stdout: `${JSON.stringify({ cniVersion, code, msg, details })}\n` };
}
