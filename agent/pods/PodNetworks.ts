// Pod networks vnode-cni's ADD is still setting up: the netns (the sandbox's Create waits for it)
// and the interface moved into it (the sandbox's Start waits for that). vnode-cni's ADD tracks
// them (agent/cni/VNodeCni.ts), VNodePods waits on them; an entry goes when it succeeds; a failed
// one stays, failing the sandbox, until the pod's CNI DEL (or the pod leaves its vNode).

/** One pod's network setup in flight: its vNode's key, its netns, the interface move. */
export interface PodNetwork {
  key: string;
  netns: Promise<string>;
  ready: Promise<void>;
}

export class PodNetworks {
  private readonly podNetworks = new Map<string, PodNetwork>();

  trackPodNetwork(podId: string, net: PodNetwork): void {
    this.podNetworks.set(podId, net);
    net.netns.catch(() => undefined);
    net.ready.then(
      () => {
        if (this.podNetworks.get(podId) === net) this.podNetworks.delete(podId);
      },
      () => undefined,
    );
  }

  /** Resolves once the pod's network is in place; rejects with why it could not be. */
  async podNetworkReady(podId: string): Promise<void> {
    await this.podNetworks.get(podId)?.ready;
  }

  /** Waits for a network setup in flight to end either way, then forgets it. */
  async podNetworkSettled(podId: string): Promise<void> {
    const net = this.podNetworks.get(podId);
    if (!net) return;
    await net.ready.catch(() => undefined);
    if (this.podNetworks.get(podId) === net) this.podNetworks.delete(podId);
  }

  /** The pod's setup in flight, if any (its vNode's key decides the pod's placement). */
  inFlight(podId: string): PodNetwork | undefined {
    return this.podNetworks.get(podId);
  }

  /** How many are tracked (the manager's state entry). */
  get size(): number {
    return this.podNetworks.size;
  }
}
