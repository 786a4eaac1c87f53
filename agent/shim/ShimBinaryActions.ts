// What `containerd-shim-vnode-v2 start` and `... delete` do, served by the manager for the
// launcher. start: remember the task's containerd, write the bundle's `address` (containerd 1.6/1.7
// reads it to reconnect after its own restart) and print the manager's Task address. delete:
// idempotent and fast; answers from the task's tombstone, or kills a task we still hold, or
// cleans up an orphan; prints a proto DeleteResponse.
import { join } from 'node:path';
import { writeFileAtomic } from '../common/atomicWrite.js';
import type { Logger } from '../common/log.js';
import type { LaunchAnswer, LaunchRequest } from '../launch/launchProtocol.js';
import { shimProtos, TASK_SERVICE, type DeleteResponse, type TaskApi } from '../proto/taskApi.js';
import { cleanupOrphan } from './orphanCleanup.js';
import type { ShimActions, ShimArgs } from './shimLaunch.js';
import { safeName, type TaskRegistry } from './TaskRegistry.js';
import type { TaskProxy } from './TaskProxy.js';
import { ServiceDefinition } from './ttrpc/typedService.js';

const def = (): ServiceDefinition<TaskApi> => ServiceDefinition.fromRoot<TaskApi>(shimProtos(), TASK_SERVICE);

export function encodeDeleteResponse(r: DeleteResponse): Buffer {
  return Buffer.from(def().methods.Delete.response.encode(r));
}

function now(): { seconds: number; nanos: number } {
  const ms = Date.now();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

export class ShimBinaryActions implements ShimActions {
  constructor(
    private readonly registry: TaskRegistry,
    private readonly proxy: TaskProxy,
    /** The manager's Task service address as containerd dials it, e.g. unix:///run/vnode/shim.sock */
    private readonly taskAddress: string,
    private readonly log: Logger,
  ) {}

  async start(args: ShimArgs, req: LaunchRequest): Promise<LaunchAnswer> {
    const bad = validate(args, ['id', 'namespace', 'address']);
    if (bad) return bad;
    const bundle = args.bundle || req.cwd;
    if (!bundle.startsWith('/')) return fail(`start: no bundle (cwd ${JSON.stringify(req.cwd)})`);
    this.registry.noteStart({
      id: args.id,
      namespace: args.namespace,
      bundle,
      containerdAddress: args.address,
      ttrpcAddress: req.env.TTRPC_ADDRESS || `${args.address}.ttrpc`,
      publishBinary: args.publishBinary,
    });
    writeFileAtomic(join(bundle, 'address'), this.taskAddress);
    this.log.debug('shim start', { id: args.id, bundle });
    return { kind: 'exit', code: 0, stdout: this.taskAddress };
  }

  async delete(args: ShimArgs, req: LaunchRequest): Promise<LaunchAnswer> {
    const bad = validate(args, ['id', 'namespace']);
    if (bad) return bad;
    const bundle = args.bundle || req.cwd;
    const tomb = this.registry.takeTombstone(args.id);
    if (tomb) return ok({ pid: tomb.pid, exitStatus: tomb.exitStatus, exitedAt: tomb.exitedAt });
    if (this.proxy.hasTask(args.id)) {
      try {
        const r = await this.proxy.forceDelete(args.id);
        if (r) return ok(r);
      } catch (e) {
        this.log.warn('shim delete of a live task failed; cleaning up as an orphan', { id: args.id, error: (e as Error).message });
      }
      await this.proxy.dropTask(args.id);
    }
    // A start that never became a task (its Create failed or never came) is forgotten here.
    this.registry.forgetStart(args.id);
    const r = cleanupOrphan(bundle, args.id, args.namespace);
    return { kind: 'exit', code: 0, stdout: encodeDeleteResponse({ pid: r.pid, exitStatus: r.exitStatus, exitedAt: now() }), stderr: r.warnings.join('\n') };
  }
}

function ok(r: DeleteResponse): LaunchAnswer {
  return { kind: 'exit', code: 0, stdout: encodeDeleteResponse(r) };
}

function fail(msg: string): LaunchAnswer {
  return { kind: 'exit', code: 1, stderr: `containerd-shim-vnode-v2 ${msg}\n` };
}

function validate(args: ShimArgs, need: (keyof ShimArgs)[]): LaunchAnswer | undefined {
  for (const k of need) if (!args[k]) return fail(`${args.action}: missing -${k}`);
  try {
    safeName(args.id);
  } catch (e) {
    return fail(`${args.action}: ${(e as Error).message}`);
  }
  return undefined;
}

/** The standalone `delete` when no manager answers (the JS fallback of the launcher). */
export function standaloneDelete(args: ShimArgs, cwd: string): { stdout: Buffer; stderr: string } {
  const r = cleanupOrphan(args.bundle || cwd, args.id, args.namespace);
  return { stdout: encodeDeleteResponse({ pid: r.pid, exitStatus: r.exitStatus, exitedAt: now() }), stderr: r.warnings.join('\n') };
}
