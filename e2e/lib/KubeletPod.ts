// One pod run through CRI as kubelet runs it: RunPodSandbox, CreateContainer + StartContainer per
// container, exec probes as ExecSync on kubelet's schedule (startup until it succeeds, then
// liveness and readiness), and kubelet's stop: StopContainer with the grace period (SIGTERM, then
// SIGKILL at the deadline), retried like kubelet's sync loop when containerd is briefly away,
// then StopPodSandbox and RemovePodSandbox. A runtime error during a probe is dropped, as
// kubelet's prober worker drops it; only an exit code or a timeout counts as a failure.
import { mkdirSync } from 'node:fs';
import { CriError } from '../../installer/cri/CriClient.js';
import type { TestBed } from './TestBed.js';
import type { ExecProbe, TranslatedPod } from './translatePod.js';

export type ProbeKind = 'startup' | 'liveness' | 'readiness';

export interface ProbeResult {
  container: string;
  probe: ProbeKind;
  at: number;
  result: 'success' | 'failure' | 'error';
  output: string;
}

export class KubeletPod {
  podId = '';
  readonly containerIds = new Map<string, string>();
  readonly results: ProbeResult[] = [];
  /** Liveness failures that reached the threshold: kubelet would have killed the container. */
  readonly livenessKills: ProbeResult[] = [];
  private readonly ready = new Map<string, boolean>();
  private readonly started = new Map<string, boolean>();
  private stopped = false;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    readonly bed: TestBed,
    readonly pod: TranslatedPod,
  ) {}

  async run(): Promise<void> {
    mkdirSync(this.pod.sandbox.logDirectory as string, { recursive: true });
    this.podId = await this.bed.cri.runPodSandbox(this.pod.sandbox, '');
    for (const c of this.pod.containers) {
      const id = await this.bed.cri.createContainer(this.podId, c.config, this.pod.sandbox);
      await this.bed.cri.startContainer(id);
      this.containerIds.set(c.name, id);
      this.startProbes(c.name, id, c.probes);
    }
  }

  isReady(container: string): boolean {
    return this.ready.get(container) === true;
  }

  hasStarted(container: string): boolean {
    return this.started.get(container) === true;
  }

  private startProbes(name: string, id: string, probes: TranslatedPod['containers'][number]['probes']): void {
    this.started.set(name, !probes.startup);
    this.ready.set(name, !probes.readiness);
    const worker = (kind: ProbeKind, p: ExecProbe) => {
      let failures = 0;
      let successes = 0;
      const tick = async (): Promise<void> => {
        if (this.stopped) return;
        const gated = kind !== 'startup' && !this.started.get(name);
        const done = kind === 'startup' && this.started.get(name);
        if (!gated && !done) {
          const r = await this.exec(id, p);
          this.results.push({ container: name, probe: kind, at: Date.now(), ...r });
          if (r.result === 'success') {
            failures = 0;
            successes++;
            if (successes >= p.successThreshold) {
              if (kind === 'startup') this.started.set(name, true);
              if (kind === 'readiness') this.ready.set(name, true);
            }
          } else if (r.result === 'failure') {
            successes = 0;
            failures++;
            if (failures >= p.failureThreshold) {
              if (kind === 'readiness') this.ready.set(name, false);
              if (kind === 'liveness' || kind === 'startup') this.livenessKills.push({ container: name, probe: kind, at: Date.now(), ...r });
              failures = 0;
            }
          }
        }
        if (!this.stopped) this.timers.push(setTimeout(() => void tick(), p.periodSeconds * 1000));
      };
      this.timers.push(setTimeout(() => void tick(), p.initialDelaySeconds * 1000));
    };
    if (probes.startup) worker('startup', probes.startup);
    if (probes.liveness) worker('liveness', probes.liveness);
    if (probes.readiness) worker('readiness', probes.readiness);
  }

  private async exec(id: string, p: ExecProbe): Promise<{ result: ProbeResult['result']; output: string }> {
    try {
      const r = await this.bed.cri.execSync(id, p.exec.command, p.timeoutSeconds);
      return { result: r.exitCode === 0 ? 'success' : 'failure', output: (r.stdout + r.stderr).trim() };
    } catch (e) {
      const msg = (e as Error).message;
      // ExecSync's own timeout is a probe failure; anything else is the runtime's error.
      if (/timeout|deadline/i.test(msg) && !(e instanceof CriError && /UNAVAILABLE/.test(msg))) return { result: 'failure', output: msg };
      return { result: 'error', output: msg };
    }
  }

  stopProbes(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
  }

  /** Runs a CRI call, waiting out a containerd restart (kubelet's next sync would retry it). */
  private async retrying<T>(what: string, fn: () => Promise<T>, deadline: number): Promise<T> {
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`${what}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** kubelet's pod kill: containers with the grace period, then the sandbox. Returns the ms it took. */
  async stop(gracePeriodSeconds = this.pod.terminationGracePeriodSeconds): Promise<number> {
    const t0 = Date.now();
    this.stopProbes();
    const deadline = t0 + (gracePeriodSeconds + 30) * 1000;
    for (const [, id] of this.containerIds) {
      try {
        await this.bed.cri.stopContainer(id, gracePeriodSeconds);
      } catch {
        // containerd went away mid-stop (the pod restarts it): the signal was sent; wait for the exit.
        await this.retrying(
          'container exit',
          async () => {
            const s = (await this.bed.cri.containerStatus(id)).status;
            if (s.state !== 'CONTAINER_EXITED') throw new Error(`container ${id.slice(0, 12)} is ${String(s.state)}`);
          },
          deadline,
        );
        await this.retrying('StopContainer', () => this.bed.cri.stopContainer(id, 0), deadline);
      }
    }
    const ms = Date.now() - t0;
    await this.retrying('StopPodSandbox', () => this.bed.cri.stopPodSandbox(this.podId), deadline);
    await this.retrying('RemovePodSandbox', () => this.bed.cri.removePodSandbox(this.podId), deadline);
    return ms;
  }
}
