// The test bed's containerd as a service manager would own it: restarts are asked for over a unix
// socket (as `systemctl restart containerd` asks systemd), done by this process, which keeps
// containerd as its own child and counts every restart. So an installer run in another process
// or in a pod restarts the bed's containerd the way it restarts a node's, and containerd never
// becomes a child of the installer (or of the installer pod's cgroup).
import { rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT, type TestBed } from './TestBed.js';
import assert from 'node:assert/strict';
import { diffSnapshots, type Snapshot } from './fileSnapshot.js';
import { snapshotNodePaths } from './hostGuard.js';

export class ContainerdUnit {
  restarts = 0;
  private readonly server: net.Server;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly bed: TestBed,
    readonly socketPath: string,
  ) {
    this.server = net.createServer((s) => this.serve(s));
  }

  /** The argv that restarts the bed's containerd from any process on this host (a systemctl stand-in). */
  restartArgv(): string[] {
    return [process.execPath, join(REPO_ROOT, 'dist/e2e/lib/unitCtl.js'), this.socketPath, 'restart'];
  }

  async listen(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => resolve());
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  /** One restart at a time, like a unit's job queue; the answer comes when containerd serves CRI again. */
  restart(): Promise<void> {
    const job = this.queue.then(async () => {
      this.restarts++;
      await this.bed.restartContainerd();
    });
    this.queue = job.catch(() => undefined);
    return job;
  }

  private serve(s: net.Socket): void {
    let line = '';
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      line += d.toString();
      if (!line.includes('\n')) return;
      const cmd = line.trim();
      if (cmd !== 'restart') {
        s.end(`error: unknown command ${JSON.stringify(cmd)}\n`);
        return;
      }
      // A client killed mid-restart does not stop the job (systemd finishes it too).
      this.restart().then(
        () => s.end('ok\n'),
        (e: unknown) => s.end(`error: ${(e as Error).message.split('\n')[0]}\n`),
      );
    });
  }
}

/** An installer e2e's end: the unit and the bed closed whatever happens, then nothing of the bed
 * left behind and the node's own vNode paths (hostGuard.ts) as they were before. */
export async function closeUnitAndBed(bed: TestBed | undefined, unit: ContainerdUnit, nodeBefore: Snapshot): Promise<void> {
  if (!bed) return;
  try {
    await unit.close();
  } finally {
    await bed.teardown();
  }
  assert.deepEqual(bed.leftovers(), [], 'the bed left nothing behind');
  assert.deepEqual(diffSnapshots(nodeBefore, snapshotNodePaths()), [], "the node's own vNode paths were never touched");
}

