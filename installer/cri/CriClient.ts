// A CRI (runtime.v1) client over grpc-js, built from the project's own definitions in
// agent/proto/cri.proto. Used by the e2e tests the way kubelet calls containerd, and by the
// installer to wait until containerd reports the vnode handler.
import grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { loadProtos } from '../../agent/proto/load.js';

export type CriService = 'RuntimeService' | 'ImageService';

/** Message objects as protobufjs gives them: camelCase fields, enums as names, int64 as numbers. */
export type CriMessage = Record<string, unknown>;

export class CriError extends Error {
  override name = 'CriError';
  constructor(
    readonly method: string,
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`CRI ${method}: ${grpc.status[code] ?? code}: ${details}`);
  }
}

const CONVERT: protobuf.IConversionOptions = { longs: Number, enums: String, bytes: Buffer, defaults: true, arrays: true, objects: true };

export class CriClient {
  private readonly root = loadProtos('cri.proto');
  private readonly client: grpc.Client;

  constructor(readonly socketPath: string) {
    this.client = new grpc.Client(`unix://${socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 16 << 20,
    });
  }

  close(): void {
    this.client.close();
  }

  /** One unary call; `req` is a plain object in camelCase. */
  call(service: CriService, method: string, req: CriMessage = {}, timeoutMs = 60_000): Promise<CriMessage> {
    const svc = this.root.lookupService(`runtime.v1.${service}`);
    const m = svc.methods[method];
    if (!m) throw new Error(`CRI ${service} has no method ${method} in cri.proto`);
    const reqType = m.resolvedRequestType!;
    const resType = m.resolvedResponseType!;
    const path = `/runtime.v1.${service}/${method}`;
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        path,
        (r: CriMessage) => Buffer.from(reqType.encode(reqType.fromObject(r)).finish()),
        (b: Buffer) => resType.toObject(resType.decode(b), CONVERT),
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (e, res) => {
          if (e) reject(new CriError(method, e.code ?? grpc.status.UNKNOWN, e.details ?? e.message));
          else resolve(res as CriMessage);
        },
      );
    });
  }

  runtime(method: string, req: CriMessage = {}, timeoutMs?: number): Promise<CriMessage> {
    return this.call('RuntimeService', method, req, timeoutMs);
  }

  image(method: string, req: CriMessage = {}, timeoutMs?: number): Promise<CriMessage> {
    return this.call('ImageService', method, req, timeoutMs);
  }

  async version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    const r = await this.runtime('Version', { version: 'v1' }, 5000);
    return r as { runtimeName: string; runtimeVersion: string; runtimeApiVersion: string };
  }

  async runPodSandbox(config: CriMessage, runtimeHandler = ''): Promise<string> {
    const r = await this.runtime('RunPodSandbox', { config, runtimeHandler });
    return r.podSandboxId as string;
  }

  async createContainer(podSandboxId: string, config: CriMessage, sandboxConfig: CriMessage): Promise<string> {
    const r = await this.runtime('CreateContainer', { podSandboxId, config, sandboxConfig });
    return r.containerId as string;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.runtime('StartContainer', { containerId });
  }

  async execSync(containerId: string, cmd: string[], timeoutSec = 30): Promise<{ stdout: string; stderr: string; exitCode: number }> {
    const r = await this.runtime('ExecSync', { containerId, cmd, timeout: timeoutSec }, (timeoutSec + 10) * 1000);
    return { stdout: (r.stdout as Buffer).toString(), stderr: (r.stderr as Buffer).toString(), exitCode: r.exitCode as number };
  }

  async containerStatus(containerId: string, verbose = false): Promise<{ status: CriMessage; info: Record<string, string> }> {
    const r = await this.runtime('ContainerStatus', { containerId, verbose });
    return { status: r.status as CriMessage, info: r.info as Record<string, string> };
  }

  async podSandboxStatus(podSandboxId: string, verbose = false): Promise<{ status: CriMessage; info: Record<string, string> }> {
    const r = await this.runtime('PodSandboxStatus', { podSandboxId, verbose });
    return { status: r.status as CriMessage, info: r.info as Record<string, string> };
  }

  async listPodSandboxes(): Promise<CriMessage[]> {
    return ((await this.runtime('ListPodSandbox', {})).items as CriMessage[]) ?? [];
  }

  async listContainers(podSandboxId?: string): Promise<CriMessage[]> {
    return ((await this.runtime('ListContainers', podSandboxId ? { filter: { podSandboxId } } : {})).containers as CriMessage[]) ?? [];
  }

  async stopContainer(containerId: string, timeout = 0): Promise<void> {
    await this.runtime('StopContainer', { containerId, timeout });
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.runtime('RemoveContainer', { containerId });
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.runtime('StopPodSandbox', { podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.runtime('RemovePodSandbox', { podSandboxId });
  }

  /** Status with verbose info: `info.config` holds containerd's CRI config (runtimes, CNI). */
  async status(verbose = false): Promise<{ conditions: CriMessage[]; info: Record<string, string> }> {
    const r = await this.runtime('Status', { verbose }, 10_000);
    return { conditions: ((r.status as CriMessage | null)?.conditions as CriMessage[]) ?? [], info: r.info as Record<string, string> };
  }
}
