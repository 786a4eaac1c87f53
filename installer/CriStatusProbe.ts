// The real CriRuntimeProbe: CRI Status (verbose) on containerd's socket, through the project's CRI
// client. A new connection per call: after a containerd restart a kept channel sits in grpc-js's
// reconnect back-off (up to minutes) and would delay the answer.
import { CriClient } from './cri/CriClient.js';
import { handlersFromStatus, type CriRuntimeProbe } from './restart.js';

export class CriStatusProbe implements CriRuntimeProbe {
  constructor(readonly socketPath: string) {}

  async runtimeHandlers(): Promise<string[]> {
    const cri = new CriClient(this.socketPath);
    try {
      const { info } = await cri.status(true);
      return handlersFromStatus({ info });
    } finally {
      cri.close();
    }
  }

  async podSandboxes(handler: string): Promise<number> {
    const cri = new CriClient(this.socketPath);
    try {
      return (await cri.listPodSandboxes()).filter((p) => p.runtimeHandler === handler).length;
    } finally {
      cri.close();
    }
  }
}
