// The admin's shared-vNode policy from namespace labels: a namespace labelled
// `vnode.loft.sh/shared-vnode: tenant1` has its pods in the shared vNode "tenant1" on every node.
// A list-then-watch of the labelled namespaces (client-node's ListWatch, a label selector so only
// those travel) kept as the manager's policy file (agent/vnode/SharingPolicy.ts), written
// atomically after the first full list and after every change, never before: until it exists,
// the manager places no pod (a retryable CNI error), so no pod lands in its namespace's own vNode
// while the admin has put that namespace in a shared one. A watch that ends or fails is
// restarted after a pause; meanwhile the last file written stays (the last policy the admin set).
import { CoreV1Api, KubeConfig, ListWatch, Watch, type V1Namespace, type V1NamespaceList } from '@kubernetes/client-node';
import { logger } from '../agent/common/log.js';
import type { SharedVNodes } from '../agent/common/config.js';
import type { HostRoot } from './HostRoot.js';

const log = logger('sharing');
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface NamespaceSharingWatchOptions {
  /** The namespace label whose value names the shared vNode. */
  label: string;
  /** Host path of the policy file the manager reads (VNODE_SHARING_POLICY_FILE). */
  file: string;
  /** Pause before a failed or ended watch is started again. */
  retryMs?: number;
}

/** name -> sorted namespaces, from labelled namespaces; a value that is not a DNS label is skipped. */
export function policyFromNamespaces(namespaces: readonly V1Namespace[], label: string, onInvalid?: (ns: string, value: string) => void): SharedVNodes {
  const out: SharedVNodes = {};
  for (const n of namespaces) {
    const ns = n.metadata?.name;
    const value = n.metadata?.labels?.[label];
    if (!ns || value === undefined) continue;
    if (!DNS_LABEL.test(value)) {
      onInvalid?.(ns, value);
      continue;
    }
    (out[value] ??= []).push(ns);
  }
  for (const list of Object.values(out)) list.sort();
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

export class NamespaceSharingWatch {
  private readonly informer: ListWatch<V1Namespace>;
  private synced = false;
  private stopped = false;
  private written: string | undefined;
  private retry: NodeJS.Timeout | undefined;
  private readonly warned = new Set<string>();
  private readonly synced1: Promise<void>;
  private markSynced!: () => void;

  constructor(
    kc: KubeConfig,
    private readonly host: HostRoot,
    private readonly o: NamespaceSharingWatchOptions,
  ) {
    const core = kc.makeApiClient(CoreV1Api);
    const listFn = (): Promise<V1NamespaceList> => core.listNamespace({ labelSelector: o.label });
    this.informer = new ListWatch<V1Namespace>('/api/v1/namespaces', new Watch(kc), listFn, false, o.label);
    this.synced1 = new Promise<void>((r) => (this.markSynced = r));
    this.informer.on('change', () => {
      if (this.synced) this.write();
    });
    this.informer.on('error', (e) => this.failed(e));
  }

  /** Starts listing and watching; resolves once the first list is written (or failed and retrying). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.run();
  }

  /** Resolves when the policy file has been written once. */
  whenSynced(): Promise<void> {
    return this.synced1;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.informer.stop();
  }

  private async run(): Promise<void> {
    let failed = false;
    const onError = () => (failed = true);
    this.informer.on('error', onError);
    try {
      await this.informer.start();
    } catch (e) {
      failed = true;
      this.failed(e);
    } finally {
      this.informer.off('error', onError);
    }
    if (failed || this.stopped) return;
    this.synced = true;
    this.write();
  }

  private failed(e: unknown): void {
    if (this.stopped) return;
    log.warn('namespace watch failed; retrying (the last policy written stays in force)', { error: (e as Error)?.message ?? String(e), label: this.o.label });
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.run(), this.o.retryMs ?? 5000);
    this.retry.unref();
  }

  private write(): void {
    const vnodes = policyFromNamespaces(this.informer.list(), this.o.label, (ns, value) => {
      if (this.warned.has(`${ns}=${value}`)) return;
      this.warned.add(`${ns}=${value}`);
      log.warn('namespace label is not a vNode name (a DNS label); the namespace keeps its own vNode', { namespace: ns, label: this.o.label, value });
    });
    const text = `${JSON.stringify({ version: 1, vnodes, source: `the namespace label ${this.o.label} (set by the cluster admin)` }, null, 2)}\n`;
    if (text === this.written) return;
    try {
      this.host.writeAtomic(this.o.file, text);
    } catch (e) {
      log.error('cannot write the shared-vNode policy', { file: this.o.file, error: (e as Error).message });
      return;
    }
    this.written = text;
    log.info('shared-vNode policy from namespace labels', { file: this.o.file, vnodes });
    this.markSynced();
  }
}
