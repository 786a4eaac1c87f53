// vnode-cni's manager handler for unit tests: the real VNodeCni, VNodePods and placement (policy:
// tenant1 may hold team-b's pods), over a vNode registry that holds nothing and records what was
// asked of it, so no input ever reaches a real vNode or network namespace.
import { join } from 'node:path';
import type { Logger } from '../../common/log.js';
import { VNodePods } from '../../pods/VNodePods.js';
import { SharingPolicy } from '../../vnode/SharingPolicy.js';
import type { VNodeManager } from '../../vnode/VNodeManager.js';
import { VNodePlacement } from '../../vnode/VNodePlacement.js';
import { VNodeCni } from '../VNodeCni.js';

/** A vNode registry that holds nothing and records what was asked of it. */
function recordingVNodes(calls: string[], dir: string): VNodeManager {
  return {
    get: () => undefined,
    list: () => [],
    ofPod: () => undefined,
    podNetnsPath: (key: string, id: string) => join(dir, 'vnode', key.replace(/[^a-z0-9]/gi, '_'), id),
    joinWithNetns: (key: string) => {
      calls.push(`join ${key}`);
      return Promise.reject(new Error('a test never joins a vNode'));
    },
    removePodNetns: async () => true,
    release: async () => ({ found: false, destroyed: false }),
  } as unknown as VNodeManager;
}

export function vnodeCniWithoutVNodes(calls: string[], dir: string): VNodeCni {
  // Quiet: every refused input is logged, and a fuzz makes thousands.
  const noop = () => undefined;
  const log = { debug: noop, info: noop, warn: noop, error: noop, child: () => log } as unknown as Logger;
  const vnodes = recordingVNodes(calls, dir);
  const pods = new VNodePods(vnodes, new VNodePlacement('namespace', new SharingPolicy({ tenant1: ['team-b'] })), {}, log);
  return new VNodeCni(vnodes, pods, () => false, log);
}
