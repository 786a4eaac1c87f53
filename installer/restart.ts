// Restarting containerd once, by a strategy fit for the host, and waiting until CRI answers with
// the handler present (after install) or absent (after uninstall).
//   command  a given argv, run in the installer's own namespaces (tests; hosts with a custom script)
//   nsenter  `nsenter -t 1 -m -u -i -n -p -- systemctl restart <unit>`: the host's systemd from a
//            hostPID pod (the unit is containerd, k3s, k3s-agent, rke2-server or rke2-agent)
//   none     the operator restarts containerd; the installer only waits
// systemd over D-Bus without systemctl is not built: it needs a D-Bus wire client (SASL EXTERNAL
// plus message marshalling) and a JobRemoved subscription, and nsenter+systemctl reaches the same
// systemd with tools every node has.
import { spawn } from 'node:child_process';
import type { ContainerdFlavor } from './containerdConfig.js';

export interface ContainerdRestarter {
  readonly strategy: 'command' | 'nsenter' | 'none' | 'function';
  describe(): string;
  restart(): Promise<void>;
}

export class RestartError extends Error {
  constructor(readonly what: string, message: string, readonly exitCode?: number | null) {
    super(`restarting containerd with ${what}: ${message}`);
    this.name = 'RestartError';
  }
}

/** Runs argv to completion; a non-zero exit, a signal or the timeout is an error with stderr kept. */
export function runArgv(argv: string[], timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; stderr: string }> {
  const [cmd, ...args] = argv;
  if (!cmd) return Promise.reject(new RestartError('(empty command)', 'no command given'));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new RestartError(argv.join(' '), `no exit within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new RestartError(argv.join(' '), e.message));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new RestartError(argv.join(' '), `exit ${code ?? signal}: ${stderr.trim().slice(-500)}`, code));
    });
  });
}

export class CommandRestarter implements ContainerdRestarter {
  readonly strategy = 'command' as const;
  constructor(private readonly argv: string[], private readonly timeoutMs = 120_000) {}
  describe(): string {
    return `command: ${this.argv.join(' ')}`;
  }
  async restart(): Promise<void> {
    await runArgv(this.argv, this.timeoutMs);
  }
}

/** The systemd unit that owns containerd for a flavor (k3s agents and servers differ). */
export function defaultUnit(flavor: ContainerdFlavor, isServer: boolean): string {
  if (flavor === 'k3s') return isServer ? 'k3s' : 'k3s-agent';
  if (flavor === 'rke2') return isServer ? 'rke2-server' : 'rke2-agent';
  return 'containerd';
}

export class NsenterRestarter implements ContainerdRestarter {
  readonly strategy = 'nsenter' as const;
  constructor(readonly unit: string, private readonly timeoutMs = 180_000, private readonly nsenter = 'nsenter', readonly targetPid = 1) {}
  argv(): string[] {
    return [this.nsenter, '--target', String(this.targetPid), '--mount', '--uts', '--ipc', '--net', '--pid', '--', 'systemctl', 'restart', this.unit];
  }
  describe(): string {
    return `nsenter into host pid ${this.targetPid}: systemctl restart ${this.unit}`;
  }
  async restart(): Promise<void> {
    await runArgv(this.argv(), this.timeoutMs);
  }
}

export class NoRestart implements ContainerdRestarter {
  readonly strategy = 'none' as const;
  describe(): string {
    return 'none (the operator restarts containerd)';
  }
  async restart(): Promise<void> {}
}

/** An in-process restart, e.g. the e2e test bed's restartContainerd(). */
export class FunctionRestarter implements ContainerdRestarter {
  readonly strategy = 'function' as const;
  constructor(private readonly fn: () => Promise<void>, private readonly label = 'function') {}
  describe(): string {
    return this.label;
  }
  restart(): Promise<void> {
    return this.fn();
  }
}

/** What CRI says about the runtime handlers; CriStatusProbe is the real one. */
export interface CriRuntimeProbe {
  /** The runtime handler names containerd's CRI plugin has loaded. Rejects while CRI is unreachable. */
  runtimeHandlers(): Promise<string[]>;
  /** How many pod sandboxes of the handler CRI lists (uninstall drains them); optional. */
  podSandboxes?(handler: string): Promise<number>;
}

export class ReadinessTimeout extends Error {
  constructor(readonly handler: string, readonly present: boolean, readonly lastError: string | undefined, ms: number) {
    super(`CRI did not report handler "${handler}" ${present ? 'present' : 'gone'} within ${ms} ms${lastError ? ` (last error: ${lastError})` : ''}`);
    this.name = 'ReadinessTimeout';
  }
}

/** Polls until CRI reports the handler present (or absent). Returns the wait in ms. */
export async function waitForHandler(probe: CriRuntimeProbe, handler: string, present: boolean, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<number> {
  const t0 = Date.now();
  const timeoutMs = opts.timeoutMs ?? 120_000;
  let lastError: string | undefined;
  for (;;) {
    try {
      const names = await probe.runtimeHandlers();
      lastError = undefined;
      if (names.includes(handler) === present) return Date.now() - t0;
    } catch (e) {
      lastError = (e as Error).message;
    }
    if (Date.now() - t0 > timeoutMs) throw new ReadinessTimeout(handler, present, lastError, timeoutMs);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}

/**
 * Handler names from a CRI Status answer: `runtime_handlers` where the runtime sends them (CRI of
 * Kubernetes 1.30+, containerd 2.x), else the runtimes of the CRI config that containerd 1.6/1.7
 * put in the verbose info under "config" (JSON, containerd.runtimes).
 */
export function handlersFromStatus(res: { runtimeHandlers?: { name?: string }[]; info?: Record<string, string> }): string[] {
  const listed = (res.runtimeHandlers ?? []).map((h) => h.name).filter((n): n is string => typeof n === 'string' && n !== '');
  if (listed.length) return listed;
  const raw = res.info?.config;
  if (!raw) throw new Error('CRI Status has neither runtime_handlers nor info.config (verbose)');
  let cfg: unknown;
  try {
    cfg = JSON.parse(raw);
  } catch (e) {
    throw new Error(`CRI Status info.config is not JSON: ${(e as Error).message}`);
  }
  const runtimes = (cfg as { containerd?: { runtimes?: unknown } } | null)?.containerd?.runtimes;
  if (typeof runtimes !== 'object' || runtimes === null) throw new Error('CRI Status info.config has no containerd.runtimes');
  return Object.keys(runtimes);
}
