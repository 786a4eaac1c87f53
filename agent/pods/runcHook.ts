// vnode-runc's steps into the manager. containerd runs each vnode pod through a stock
// containerd-shim-runc-v2 whose runc is vnode-runc (the launcher); the launcher forwards the runc
// commands listed in VNODE_RUNC_HOOKED (create, start, delete) here and execs whatever the answer
// names. These three are the whole life of a container as the vNode layer sees it:
// - create: the container joins its pod's vNode (spec rewrite, idmapped rootfs, devices), before
//   `runc create` reads config.json;
// - start: the sandbox's network must be in place; a container's /proc/sys binds are in place
//   (made when its seccomp listener arrived during create, else now: it exists with its
//   namespaces but runs nothing yet), then `runc start`;
// - delete: the container leaves (and with the pod's last one, the pod leaves its vNode), then
//   `runc delete` (a forced one of a container runc no longer has is answered here: it would do
//   nothing).
// The manager is not in containerd's task path: a manager that dies leaves every container,
// exec and event to the runc shims; what it missed meanwhile, reconcile() finds.
import { appendFileSync, lstatSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { CONTAINER_ID } from '../common/containerId.js';
import type { Logger } from '../common/log.js';
import { RUNC_COMMAND_AT, RUNC_PATH_ENV, type LaunchAnswer, type LaunchRequest } from '../launch/launchProtocol.js';
import { parseSpec, type OciSpec } from '../spec/SpecRewriter.js';
import { ContainerRegistry, type ContainerRecord } from './ContainerRegistry.js';
import { CRI_ANNOTATIONS } from '../common/criAnnotations.js';

/** runc's state root when the caller passes none (runc 1.1). */
const RUNC_DEFAULT_ROOT = '/run/runc';

/** `runc create` flags that take a value. */
const CREATE_VALUED = new Set(['--bundle', '-b', '--console-socket', '--pid-file', '--preserve-fds']);

export interface RuncArgs {
  command: string | undefined;
  log: string | undefined;
  root: string | undefined;
  /** The command's own arguments, the container id last. */
  rest: string[];
}

/**
 * A runc command line (without argv[0]) split where the launcher found the command (`at`, an
 * index into it; -1: none): runc's global flags before it, the command's own words after. Only
 * --root and --log are read from the global flags (either form, `--root X` or `--root=X`).
 */
export function parseRuncArgs(argv: string[], at: number): RuncArgs {
  const globals = at < 0 ? argv : argv.slice(0, at);
  const flag = (name: string): string | undefined => {
    let v: string | undefined;
    globals.forEach((a, i) => {
      if (a === name) v = globals[i + 1];
      else if (a.startsWith(`${name}=`)) v = a.slice(name.length + 1);
    });
    return v;
  };
  return { command: at < 0 ? undefined : argv[at], log: flag('--log'), root: flag('--root'), rest: at < 0 ? [] : argv.slice(at + 1) };
}

/**
 * `runc delete --force ID` of a container runc has no directory for: runc 1.1 removes
 * `<root>/<ID>` (not there) and exits 0, doing nothing else. The runc shim asks it after each
 * container's delete (and containerd's cleanup of a dead shim asks it again); answering it here
 * spares a runc exec, ~4-6 ms of CPU, twice a pod. The root is the one runc itself is given: the
 * launcher rewrites --root to the vNode's runc root before the manager sees the call (every
 * release that forwards delete does; addon/launcher/runc.c, own_runc_root). Any other form (no
 * --force, a relative root, an id containerd would not make, a directory there, an unreadable
 * root) goes to runc.
 */
export function forcedDeleteOfNothing(p: RuncArgs, id: string): boolean {
  const flags = p.rest.slice(0, -1);
  if (!flags.some((a) => a === '--force' || a === '-f' || a === '--force=true')) return false;
  const root = p.root ?? RUNC_DEFAULT_ROOT;
  if (!CONTAINER_ID.test(id) || !isAbsolute(root)) return false;
  try {
    lstatSync(join(root, id));
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/** `runc create [flags] ID`: the bundle (default: the caller's cwd) and the id. */
export function parseCreateArgs(rest: string[], cwd: string): { bundle: string; id: string } {
  let bundle = cwd;
  let id: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a.startsWith('-')) {
      const [flag, inline] = a.split('=', 2) as [string, string | undefined];
      if (CREATE_VALUED.has(flag)) {
        const v = inline ?? rest[++i];
        if ((flag === '--bundle' || flag === '-b') && v !== undefined) bundle = v;
      }
      continue;
    }
    id = a;
  }
  if (!id) throw new Error('runc create without a container id');
  return { bundle: isAbsolute(bundle) ? bundle : join(cwd, bundle), id };
}

/** What the vNode layer sees of a container about to be created (it may rewrite config.json). */
export interface CreateContext {
  id: string;
  podId: string;
  sandbox: boolean;
  bundle: string;
  /** containerd's namespace (the bundle's parent directory's name). */
  namespace: string;
  /** config.json as containerd wrote it, parsed once. */
  spec: OciSpec;
  annotations: Record<string, string>;
}

/** How the vNode layer takes part in a container's life (VNodePods). */
export interface ContainerLife {
  /** Before `runc create`: rewrites config.json and remounts the bundle's rootfs for the vNode;
   * resolves with environment for that runc (the vNode's pid namespace for the tree's runc). */
  prepareCreate(ctx: CreateContext): Promise<{ env?: Record<string, string> } | void>;
  /** Before the sandbox's `runc start`: resolves once its network is in place. */
  beforeSandboxStart(podId: string): Promise<void>;
  /** Between a container's `runc create` and `runc start` (its init pid known): host-side steps
   * such as delegating its cgroup to a privileged container's runtime. */
  beforeStart(rec: ContainerRecord, pid: number): Promise<void>;
  /** Before a container's `runc start`: its /proc/sys binds are in place (made now, or awaited if
   * they were made while it was created); throws when they cannot be. */
  bindBeforeStart(id: string, pid: number): Promise<void>;
  /** A container is gone (deleted, or its create failed). */
  taskGone(id: string, podId: string): Promise<void>;
  /** The pod's last container is gone: it leaves its vNode. */
  podGone(podId: string): Promise<void>;
  /** A running sandbox found by a restarted manager: its per-pod facts come back. */
  adoptSandbox(r: ContainerRecord): void;
}

/** Containers younger than this may still be in `runc create`: reconcile leaves them be. */
const RECONCILE_MIN_AGE_MS = 30_000;

/**
 * Where the command is in a call forwarded by the previous release's launcher, which does not say
 * (pods created before an upgrade keep their runc shim, and with it that launcher, for their
 * lifetime). It forwarded only create, start and delete, always from the runc shim, whose words
 * before the command are flags and paths: the first of those three words is the command.
 */
function previousLauncherCommandAt(argv: string[]): number {
  const i = argv.findIndex((a, j) => j > 0 && (a === 'create' || a === 'start' || a === 'delete'));
  return i < 0 ? -1 : i;
}

export class RuncHook {
  constructor(
    private readonly life: ContainerLife,
    readonly containers: ContainerRegistry,
    private readonly log: Logger,
  ) {}

  readonly handle = async (req: LaunchRequest): Promise<LaunchAnswer> => {
    const args = req.argv.slice(1);
    // The runc the launcher runs is what the answers run (the previous release's launcher says so
    // too, from its shim_exec).
    const runc = req.env[RUNC_PATH_ENV] ?? '';
    if (!isAbsolute(runc)) return { kind: 'exit', code: 1, stderr: `vnode-runc: the launcher did not say which runc it runs (${RUNC_PATH_ENV}=${JSON.stringify(req.env[RUNC_PATH_ENV] ?? null)}): a launcher of another release? Nothing was done.\n` };
    const exec: LaunchAnswer = { kind: 'exec', path: runc, argv: ['runc', ...args] };
    const at = req.env[RUNC_COMMAND_AT] === undefined ? previousLauncherCommandAt(req.argv) : Number(req.env[RUNC_COMMAND_AT]);
    if (!Number.isInteger(at) || at === 0 || at < -1 || at >= req.argv.length)
      return { kind: 'exit', code: 1, stderr: `vnode-runc: the launcher did not say where the runc command is (${RUNC_COMMAND_AT}=${JSON.stringify(req.env[RUNC_COMMAND_AT] ?? null)}). Nothing was done.\n` };
    const p = parseRuncArgs(args, at < 0 ? -1 : at - 1);
    if (p.command === 'create') return this.create(p, req.cwd, exec);
    if (p.command === 'start') return this.start(p, exec);
    if (p.command === 'delete') {
      const id = p.rest[p.rest.length - 1] ?? '';
      await this.gone(id, 'deleted');
      return forcedDeleteOfNothing(p, id) ? { kind: 'exit', code: 0 } : exec;
    }
    return exec;
  };

  private async create(p: RuncArgs, cwd: string, exec: LaunchAnswer): Promise<LaunchAnswer> {
    const t0 = performance.now();
    let ctx: CreateContext;
    try {
      const { bundle, id } = parseCreateArgs(p.rest, cwd);
      if (!CONTAINER_ID.test(id)) throw new Error(`container id ${JSON.stringify(id)} is not one containerd makes`);
      const specPath = join(bundle, 'config.json');
      const spec = parseSpec(readFileSync(specPath, 'utf8'), specPath);
      const annotations = (spec.annotations ?? {}) as Record<string, string>;
      const podId = annotations[CRI_ANNOTATIONS.sandboxId] ?? id;
      if (!CONTAINER_ID.test(podId)) throw new Error(`sandbox id ${JSON.stringify(podId)} is not one containerd makes`);
      const sandbox = (annotations[CRI_ANNOTATIONS.containerType] ?? 'sandbox') === 'sandbox';
      ctx = { id, podId, sandbox, bundle, namespace: basename(dirname(bundle)), spec, annotations };
    } catch (e) {
      return this.refuse(p, `cannot create: ${(e as Error).message}`);
    }
    const rec: ContainerRecord = { id: ctx.id, podId: ctx.podId, sandbox: ctx.sandbox, bundle: ctx.bundle, root: p.root ?? RUNC_DEFAULT_ROOT, createdAt: Date.now() };
    // Recorded first: the seccomp agent asks whose container a listener is while runc creates it.
    const tParsed = performance.now();
    this.containers.add(rec);
    const tRecorded = performance.now();
    let prepared: { env?: Record<string, string> } | void;
    try {
      prepared = await this.life.prepareCreate(ctx);
      this.log.debug('create hook timings', { id: ctx.id, parseMs: +(tParsed - t0).toFixed(2), recordMs: +(tRecorded - tParsed).toFixed(2), prepareMs: +(performance.now() - tRecorded).toFixed(2) });
    } catch (e) {
      await this.gone(ctx.id, 'create refused');
      return this.refuse(p, `container ${ctx.id} not created: ${(e as Error).message}`);
    }
    return exec.kind === 'exec' && prepared?.env ? { ...exec, env: { ...exec.env, ...prepared.env } } : exec;
  }

  private async start(p: RuncArgs, exec: LaunchAnswer): Promise<LaunchAnswer> {
    const id = p.rest[p.rest.length - 1] ?? '';
    const rec = this.containers.task(id);
    // Fail closed: every container the vnode runtime creates is recorded before its `runc create`
    // (and the record is on disk), so one without a record did not come through the hook and
    // nothing says it may start without its vNode's binds.
    if (!rec) return this.refuse(p, `container ${id} not started: vnode-runc has no record of creating it (a container of the vnode runtime starts only after its create went through the manager)`);
    // A sandbox (the pause process) reads no /proc/sys file: it waits for its network only.
    if (rec.sandbox) {
      try {
        await this.life.beforeSandboxStart(rec.podId);
      } catch (e) {
        return this.refuse(p, `pod ${rec.podId} not started: ${(e as Error).message}`);
      }
      return exec;
    }
    // Fail closed: a container that needs its binds never starts without them.
    let pid: number;
    try {
      pid = Number(readFileSync(join(rec.bundle, 'init.pid'), 'utf8').trim());
    } catch (e) {
      return this.refuse(p, `container ${id} not started: cannot read its init pid: ${(e as Error).message}`);
    }
    if (!Number.isInteger(pid) || pid <= 0) return this.refuse(p, `container ${id} not started: its init.pid holds no pid`);
    try {
      await this.life.beforeStart(rec, pid);
      await this.life.bindBeforeStart(id, pid);
    } catch (e) {
      return this.refuse(p, `container ${id} not started: ${(e as Error).message}`);
    }
    return exec;
  }

  /**
   * The container leaves; with it the pod, when it was the pod's last. Idempotent. Containers of
   * the pod deleted while no manager answered (no runc state left) leave with it: at the
   * sandbox's delete, or once they are too old to be still in `runc create`.
   */
  private async gone(id: string, why: string): Promise<void> {
    const rec = this.containers.remove(id);
    if (!rec) return;
    try {
      await this.life.taskGone(id, rec.podId);
      for (const r of this.containers.tasksOfPod(rec.podId)) {
        if (ContainerRegistry.exists(r) || (!rec.sandbox && Date.now() - r.createdAt < RECONCILE_MIN_AGE_MS)) continue;
        this.containers.remove(r.id);
        await this.life.taskGone(r.id, r.podId);
        this.log.warn('container deleted while no manager answered: cleaned up', { id: r.id, podId: r.podId });
      }
      if (this.containers.tasksOfPod(rec.podId).length === 0) await this.life.podGone(rec.podId);
    } catch (e) {
      this.log.error('container cleanup failed', { id, podId: rec.podId, why, error: (e as Error).message });
    }
    this.log.debug('container gone', { id, podId: rec.podId, why });
  }

  /**
   * A restarted manager: running sandboxes get their per-pod facts back; containers whose runc
   * state is gone (deleted while no manager answered) leave, and pods with them. Run at start and
   * then periodically (a delete that gave up waiting for the manager is caught by the next run).
   */
  async reconcile(opts: { adopt?: boolean } = {}): Promise<{ gone: number; adopted: number }> {
    let gone = 0;
    let adopted = 0;
    const now = Date.now();
    for (const r of this.containers.all()) {
      if (ContainerRegistry.exists(r)) {
        if (opts.adopt && r.sandbox) {
          this.life.adoptSandbox(r);
          adopted++;
        }
        continue;
      }
      if (now - r.createdAt < RECONCILE_MIN_AGE_MS) continue;
      await this.gone(r.id, 'no runc state');
      gone++;
    }
    if (gone) this.log.warn('containers deleted while no manager answered: cleaned up', { gone });
    return { gone, adopted };
  }

  podHasContainers(podId: string): boolean {
    return this.containers.tasksOfPod(podId).length > 0;
  }

  /**
   * A refusal the runc shim reports: runc's exit status and stderr, plus an error line in runc's
   * log file, which the runc shim reads for the message it returns to containerd.
   */
  private refuse(p: RuncArgs, why: string): LaunchAnswer {
    this.log.error('vnode-runc refused', { command: p.command, why });
    if (p.log && isAbsolute(p.log)) {
      try {
        appendFileSync(p.log, `${JSON.stringify({ level: 'error', msg: `vnode: ${why}`, time: new Date().toISOString() })}\n`);
      } catch {
        // the stderr below still says it
      }
    }
    return { kind: 'exit', code: 1, stderr: `vnode-runc: ${why}\n` };
  }
}
