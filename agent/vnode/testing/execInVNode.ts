// Runs a command inside a vNode's namespaces through the vnode-nsexec helper (a separate,
// single-threaded process: setns(CLONE_NEWUSER) is impossible in Node's own process).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { locateTree } from '../Holder.js';
import type { NamespaceKind, VNode } from '../VNodeRecord.js';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecInVNodeOptions {
  /** Namespaces to join (default: all but mnt, so the host filesystem stays visible). */
  namespaces?: NamespaceKind[];
  /** A private mount namespace with a /proc of the vNode's pid namespace. */
  mountProc?: boolean;
  timeoutMs?: number;
  treeDir?: string;
}

export function execInVNode(v: Pick<VNode, 'holder' | 'name'>, argv: string[], opts: ExecInVNodeOptions = {}): Promise<ExecResult> {
  if (!v.holder) return Promise.reject(new Error(`vNode ${v.name} has no holder`));
  const ns = opts.namespaces ?? ['user', 'pid', 'uts', 'ipc', 'net', 'cgroup'];
  const args = [String(v.holder.pid), ns.join(','), ...(opts.mountProc ? ['--mount-proc'] : []), '--', ...argv];
  const bin = join(locateTree(opts.treeDir), 'bin/vnode-nsexec');
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') {
        reject(new Error(`vnode-nsexec in ${v.name}: ${err.message}`));
        return;
      }
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
