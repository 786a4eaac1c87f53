// The Events the installer writes (EventRecorder.ts: rate-limited, repeats aggregated):
//   on its Node        VNodeInstalled, VNodeUpgraded, VNodeUninstalled (Normal);
//                      VNodeInstallFailed, VNodeUninstallFailed, VNodeManagerFailed (Warning)
//   on a Pod           VNodePlacementRefused, VNodeDeviceRefused (Warning), from the manager's
//                      spool (agent/common/podEventSpool.ts), which it takes every few seconds
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { logger, type Logger } from '../agent/common/log.js';
import { POD_EVENT_SPOOL, takePodEvents } from '../agent/common/podEventSpool.js';
import { EventRecorder, KubeEventSink, type EventRecorderOptions, type EventSink, type RecordOutcome } from './EventRecorder.js';
import type { InstallReport, UninstallReport } from './Installer.js';

export const COMPONENT = 'vnode-installer';

export class NodeEvents {
  readonly recorder: EventRecorder;
  private timer: NodeJS.Timeout | undefined;
  private forwarding: Promise<void> = Promise.resolve();

  constructor(
    sink: EventSink,
    private readonly nodeName: string,
    opts: Partial<EventRecorderOptions> = {},
    private readonly log: Logger = logger('events'),
  ) {
    this.recorder = new EventRecorder(sink, { component: COMPONENT, host: nodeName, log, ...opts });
  }

  static forCluster(kc: KubeConfig, nodeName: string): NodeEvents {
    return new NodeEvents(new KubeEventSink(kc), nodeName);
  }

  private onNode(type: 'Normal' | 'Warning', reason: string, message: string): Promise<RecordOutcome> {
    return this.recorder.record({ involved: { kind: 'Node', name: this.nodeName }, type, reason, message });
  }

  installed(r: InstallReport): Promise<RecordOutcome> {
    if (r.previousVersion) return this.onNode('Normal', 'VNodeUpgraded', `vNode upgraded from ${r.previousVersion} to ${r.version}${r.restarted ? ' (containerd restarted)' : ''}`);
    return this.onNode('Normal', 'VNodeInstalled', `vNode ${r.version} installed${r.changed.length ? ` (changed: ${r.changed.join(', ')})` : ' (nothing to change)'}${r.restarted ? ', containerd restarted' : ''}`);
  }

  uninstalled(r: UninstallReport): Promise<RecordOutcome> {
    return this.onNode('Normal', 'VNodeUninstalled', `vNode removed from the node (${r.evicted} vNode pods evicted${r.restarted ? ', containerd restarted' : ''})`);
  }

  failed(action: 'install' | 'uninstall', e: unknown): Promise<RecordOutcome> {
    return this.onNode('Warning', action === 'install' ? 'VNodeInstallFailed' : 'VNodeUninstallFailed', `vNode ${action} failed: ${(e as Error).message}`);
  }

  /** A subsystem the installer runs stopped (the manager exiting, ...). */
  subsystemFailed(subsystem: string, detail: string): Promise<RecordOutcome> {
    return this.onNode('Warning', 'VNodeManagerFailed', `${subsystem}: ${detail}`);
  }

  /** Runs an install or uninstall, with its Event either way. */
  async around<R extends InstallReport | UninstallReport>(action: 'install' | 'uninstall', run: () => Promise<R>): Promise<R> {
    let r: R;
    try {
      r = await run();
    } catch (e) {
      await this.failed(action, e);
      throw e;
    }
    await (action === 'install' ? this.installed(r as InstallReport) : this.uninstalled(r as UninstallReport));
    return r;
  }

  /** Takes the manager's spool once and posts its refusals as Events on their pods. */
  async forwardPodEvents(stateDir: string): Promise<number> {
    const { events, malformed } = takePodEvents(join(stateDir, POD_EVENT_SPOOL));
    if (malformed) this.log.warn('malformed lines in the pod event spool', { malformed });
    for (const e of events) await this.recorder.record({ involved: { kind: 'Pod', name: e.pod.name, namespace: e.pod.namespace, ...(e.pod.uid ? { uid: e.pod.uid } : {}) }, type: 'Warning', reason: e.reason, message: e.message });
    return events.length;
  }

  /** Forwards the spool every intervalMs until stop(). `stateDir` as this process sees it. */
  startForwarding(stateDir: string, intervalMs = 3000): void {
    const tick = (): void => {
      this.forwarding = this.forwardPodEvents(stateDir)
        .then(() => undefined)
        .catch((e: unknown) => {
          this.log.warn('cannot forward pod events', { error: (e as Error).message });
        })
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, intervalMs).unref();
        });
    };
    this.timer = setTimeout(tick, intervalMs).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.forwarding;
  }
}
