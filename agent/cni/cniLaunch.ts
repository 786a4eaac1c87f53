// vnode-cni as the manager serves it for the launcher. CNI_COMMAND comes from the environment,
// the network config from stdin; answers follow the CNI spec's result and error formats.
import type { LaunchAnswer, LaunchRequest } from '../launch/launchProtocol.js';

export const CNI_SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0'];

export function cniError(code: number, msg: string, details = '', cniVersion = '1.0.0'): LaunchAnswer {
  return { kind: 'exit', code: 1, stdout: `${JSON.stringify({ cniVersion, code, msg, details })}\n` };
}

export async function cniLaunch(req: LaunchRequest): Promise<LaunchAnswer> {
  const command = req.env.CNI_COMMAND;
  switch (command) {
    case 'VERSION':
      return { kind: 'exit', code: 0, stdout: `${JSON.stringify({ cniVersion: '1.0.0', supportedVersions: CNI_SUPPORTED_VERSIONS })}\n` };
    case undefined:
    case '':
      return cniError(4, 'CNI_COMMAND is not set', 'vnode-cni is a CNI plugin; containerd runs it');
    default:
      // ADD, DEL and CHECK come with the pods-in-vNodes work.
      return cniError(4, `CNI_COMMAND ${command} is not supported by this build of vnode-cni`);
  }
}
