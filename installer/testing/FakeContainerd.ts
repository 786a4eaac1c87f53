// A stand-in for containerd in installer tests that need no daemon: "restarting" it loads the
// host's config files as they are at that moment (the handler appears only after a restart, as
// with the real one), and its state lives in a file under the host root so a second process (the
// run after a kill -9) sees the same containerd.
import { parse } from 'smol-toml';
import { posix } from 'node:path';
import type { HostRoot } from '../HostRoot.js';
import { loadConfigSet } from '../containerdConfig.js';
import type { ContainerdRestarter, CriRuntimeProbe } from '../restart.js';

const STATE = '/run/fake-containerd/state.json';

interface FakeState {
  restarts: number;
  handlers: string[];
}

export class FakeContainerd implements ContainerdRestarter, CriRuntimeProbe {
  readonly strategy = 'function' as const;
  /** Set to make the next restarts come up without the handler (a broken config). */
  failLoading = false;
  sandboxes = 0;

  constructor(private readonly host: HostRoot, private readonly configPath: string) {}

  private get state(): FakeState {
    const t = this.host.readText(STATE);
    return t ? (JSON.parse(t) as FakeState) : { restarts: 0, handlers: ['runc'] };
  }

  get restarts(): number {
    return this.state.restarts;
  }

  describe(): string {
    return 'fake containerd';
  }

  async restart(): Promise<void> {
    const handlers = new Set(['runc']);
    if (!this.failLoading) {
      for (const f of loadConfigSet(this.host, this.configPath)) {
        const data = parse(this.host.readText(f.path) ?? '') as Record<string, any>;
        for (const id of ['io.containerd.grpc.v1.cri', 'io.containerd.cri.v1.runtime', 'cri']) {
          for (const h of Object.keys(data.plugins?.[id]?.containerd?.runtimes ?? {})) handlers.add(h);
        }
      }
    }
    this.host.writeAtomic(STATE, JSON.stringify({ restarts: this.state.restarts + 1, handlers: [...handlers].sort() }));
  }

  async runtimeHandlers(): Promise<string[]> {
    return this.state.handlers;
  }

  async podSandboxes(): Promise<number> {
    return this.sandboxes;
  }

  /** Removes the fake's own state file (not part of the host under test). */
  forget(): void {
    this.host.remove(posix.dirname(STATE));
  }
}
