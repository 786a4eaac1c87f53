// vnode-cni, chained last after the host's network in the vnode handler's CNI config. ADD: the
// pod joins its vNode (created on first use; VNodePods.placePod decides which) and its interface,
// addresses and routes move into a network namespace owned by the vNode's user namespace
// (finished behind the answer, before the sandbox starts). DEL: succeeds for any input (the CNI
// spec asks it of DEL, and containerd can never remove a pod whose DEL fails): it needs only
// CNI_CONTAINERID, is idempotent and is called twice (the second time without a netns). CHECK and
// VERSION. Errors in the CNI error format.
import { z } from 'zod';
import { describeIssues } from '../common/config.js';
import type { Logger } from '../common/log.js';
import type { LaunchAnswer, LaunchRequest } from '../launch/launchProtocol.js';
import type { VNodePods } from '../pods/VNodePods.js';
import { SharingPolicyError } from '../vnode/SharingPolicy.js';
import type { VNodeManager } from '../vnode/VNodeManager.js';
import { podFromCni, VNodePlacementError } from '../vnode/VNodePlacement.js';
import { CNI_ID, cniError, cniVersionResult } from './cniResult.js';
import { answerVersion, CniVersionSchema, isCniVersion, unsupportedCniVersion } from './cniVersion.js';
import { interfaceIn, moveInterface } from './netnsMove.js';
import { CRI_ANNOTATIONS } from '../common/criAnnotations.js';

/** CNI error codes (spec): 4 invalid network config, 7 invalid env vars, 11 try again later;
 * 100 and up are the plugin's own: 100, the pod may not join the vNode it asked for. */
const E = { INCOMPATIBLE: 1, BAD_CONFIG: 4, BAD_ENV: 7, IO: 5, TRY_LATER: 11, REFUSED: 100, INTERNAL: 999 };

// Optional objects may come as null: containerd serializes a pod without annotations as
// `"io.kubernetes.cri.pod-annotations": null`.
const NetConfSchema = z
  .object({
    cniVersion: CniVersionSchema,
    name: z.string().min(1),
    type: z.string(),
    prevResult: z.object({ interfaces: z.array(z.object({ name: z.string(), sandbox: z.string().optional() }).passthrough()).nullish() }).passthrough().nullish(),
    runtimeConfig: z.object({ [CRI_ANNOTATIONS.podAnnotations]: z.record(z.string(), z.string()).nullish() }).passthrough().nullish(),
  })
  .passthrough();
type NetConf = z.infer<typeof NetConfSchema>;

/** CNI_ARGS: "K=V;K=V" (containerd sends IgnoreUnknown, K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID, ...). */
export function parseCniArgs(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of (s ?? '').split(';')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}


export class VNodeCni {
  constructor(
    private readonly vnodes: VNodeManager,
    private readonly pods: VNodePods,
    /** Whether the pod still has containers (then the pod keeps its vNode until its last goes). */
    private readonly podHasTasks: (podId: string) => boolean,
    private readonly log: Logger,
  ) {}

  handle = async (req: LaunchRequest): Promise<LaunchAnswer> => {
    const env = req.env;
    const cmd = env.CNI_COMMAND;
    if (cmd === 'VERSION') return { kind: 'exit', code: 0, stdout: cniVersionResult() };
    const id = env.CNI_CONTAINERID ?? '';
    if (cmd === 'DEL') return this.del(id, answerVersion(req.stdin));
    let conf: NetConf;
    try {
      const raw: unknown = JSON.parse(req.stdin.toString('utf8'));
      // The spec's code 1 for a version we do not speak, before anything else is judged.
      const asked = (raw as { cniVersion?: unknown } | null)?.cniVersion;
      if (typeof asked === 'string' && !isCniVersion(asked)) return cniError(E.INCOMPATIBLE, `incompatible CNI version: ${unsupportedCniVersion(asked)}`);
      const r = NetConfSchema.safeParse(raw);
      if (!r.success) return cniError(E.BAD_CONFIG, 'invalid network configuration', describeIssues(r.error).join('; '), answerVersion(req.stdin));
      conf = r.data;
    } catch (e) {
      return cniError(E.BAD_CONFIG, 'network configuration on stdin is not JSON', (e as Error).message);
    }
    const v = conf.cniVersion;
    if (!CNI_ID.test(id)) return cniError(E.BAD_ENV, 'CNI_CONTAINERID is missing or malformed', JSON.stringify(id), v);
    const ifname = env.CNI_IFNAME || 'eth0';
    try {
      switch (cmd) {
        case 'ADD':
          return await this.add(conf, id, ifname, env);
        case 'CHECK':
          return await this.check(conf, id, ifname);
        default:
          return cniError(E.BAD_ENV, `unknown CNI_COMMAND ${JSON.stringify(cmd ?? '')}`, '', v);
      }
    } catch (e) {
      if (e instanceof VNodePlacementError) return cniError(E.REFUSED, e.message, '', v);
      if (e instanceof SharingPolicyError) return cniError(E.TRY_LATER, e.message, '', v);
      this.log.error('vnode-cni failed', { command: cmd, id, error: (e as Error).message });
      return cniError(E.INTERNAL, `vnode-cni ${cmd}: ${(e as Error).message}`, '', v);
    }
  };

  private async add(conf: NetConf, id: string, ifname: string, env: Record<string, string>): Promise<LaunchAnswer> {
    const v = conf.cniVersion;
    if (!conf.prevResult) return cniError(E.BAD_CONFIG, 'vnode-cni must be chained after the host network (no prevResult)', '', v);
    const netns = env.CNI_NETNS;
    if (!netns?.startsWith('/')) return cniError(E.BAD_ENV, 'CNI_NETNS is missing', '', v);
    // Refused before anything is made (VNodePlacementError, answered as code 100).
    const key = this.pods.placePod(podFromCni(id, parseCniArgs(env.CNI_ARGS), conf.runtimeConfig?.[CRI_ANNOTATIONS.podAnnotations]));
    // Checked here, so that the usual misconfiguration fails the ADD itself; the move is later.
    if (!(await interfaceIn(netns, ifname))) return cniError(E.BAD_CONFIG, `no interface ${ifname} in ${netns}: vnode-cni must be chained after the plugin that creates it`, '', v);
    const podNetns = this.vnodes.podNetnsPath(key, id);
    // The vNode (created on first use: ~12 ms), the pod's netns and the interface move (16-20 ms
    // of kernel time: moving a link waits for an RCU barrier) run on while containerd prepares
    // the sandbox: its Create waits for the netns and its Start for the move
    // (PodNetworks.trackPodNetwork), so RunPodSandbox still returns only with the network in place,
    // and a failure here fails the sandbox.
    const t0 = performance.now();
    const netnsReady = this.vnodes.joinWithNetns(key, id, id);
    const moved = (async () => {
      try {
        await netnsReady;
        const t1 = performance.now();
        const m = await moveInterface(netns, ifname, podNetns);
        const ms = (a: number, b: number) => +(b - a).toFixed(1);
        this.log.info('pod network moved into its vNode', { id, key, ...m, vnodeAndNetnsMs: ms(t0, t1), moveMs: ms(t1, performance.now()) });
      } catch (e) {
        this.log.error('pod network setup failed', { id, key, error: (e as Error).message });
        // Both idempotent: a netns never made is not removed, a pod never counted in not released.
        await this.pods.leaveVNode(key, id, { bestEffort: true, release: () => this.vnodes.get(key)?.pods.includes(id) === true && !this.podHasTasks(id) });
        throw e;
      }
    })();
    this.pods.networks.trackPodNetwork(id, { key, netns: netnsReady, ready: moved });
    // The result is the host network's, with our interface now in the pod's vNode netns.
    const result = structuredClone(conf.prevResult);
    for (const i of result.interfaces ?? []) if (i.name === ifname && i.sandbox) i.sandbox = podNetns;
    return { kind: 'exit', code: 0, stdout: `${JSON.stringify({ ...result, cniVersion: v })}\n` };
  }

  /** Never fails on input: an id we could not have used has nothing of ours to remove. */
  private async del(id: string, cniVersion: string): Promise<LaunchAnswer> {
    if (!CNI_ID.test(id)) {
      this.log.warn('vnode-cni DEL without a usable CNI_CONTAINERID: nothing to remove', { id: JSON.stringify(id).slice(0, 200) });
      return { kind: 'exit', code: 0, stdout: '' };
    }
    try {
      // An ADD still setting up (or failed) settles first; its own failure path cleaned up after it.
      await this.pods.networks.podNetworkSettled(id);
      const vnode = this.pods.vnodeOfPod(id);
      // The netns goes; the reference only without containers: a pod whose sandbox never started
      // (a failed RunPodSandbox) would otherwise hold its vNode.
      if (vnode) await this.pods.leaveVNode(vnode.key, id, { release: () => !this.podHasTasks(id) });
    } catch (e) {
      // Not the input: the host refused (a busy mount, a full disk). containerd retries DEL.
      this.log.error('vnode-cni DEL failed', { id, error: (e as Error).message });
      return cniError(E.IO, `vnode-cni DEL ${id}: ${(e as Error).message}`, '', cniVersion);
    }
    return { kind: 'exit', code: 0, stdout: '' };
  }

  private async check(conf: NetConf, id: string, ifname: string): Promise<LaunchAnswer> {
    try {
      await this.pods.networks.podNetworkReady(id);
    } catch (e) {
      return cniError(E.TRY_LATER, `pod ${id}: its network setup failed: ${(e as Error).message}`, '', conf.cniVersion);
    }
    const vnode = this.pods.vnodeOfPod(id);
    const path = vnode?.netns[id];
    if (!path) return cniError(E.TRY_LATER, `pod ${id} has no vNode network namespace`, '', conf.cniVersion);
    if (!(await interfaceIn(path, ifname))) return cniError(E.TRY_LATER, `interface ${ifname} is missing from the pod's vNode network namespace`, path, conf.cniVersion);
    return { kind: 'exit', code: 0, stdout: '' };
  }
}
