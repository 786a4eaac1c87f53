// The client end of the launcher socket in TypeScript (the C launcher is the other client): one
// request, one answer, for callers that already run Node (the `vnode` CLI, tests).
import net from 'node:net';
import { encodeLaunchRequest, LaunchProtocolError, MAX_LAUNCH_MESSAGE, type LaunchAnswer, type LaunchRequest } from './launchProtocol.js';

export class LaunchCallError extends Error {
  constructor(readonly socketPath: string, message: string, readonly code?: string) {
    super(`${socketPath}: ${message}`);
    this.name = 'LaunchCallError';
  }
}

class AnswerReader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  u32(what: string): number {
    if (this.buf.length - this.off < 4) throw new LaunchProtocolError(`truncated answer reading ${what}`);
    const v = this.buf.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }
  str(what: string): string {
    const n = this.u32(what);
    if (this.buf.length - this.off < n) throw new LaunchProtocolError(`truncated answer reading ${what} (${n} bytes)`);
    const s = this.buf.toString('utf8', this.off, this.off + n);
    this.off += n;
    return s;
  }
}

/** Decodes an answer body (without the outer length prefix), as the C launcher does. */
export function decodeLaunchAnswer(body: Buffer): LaunchAnswer {
  if (body.length < 4 || body.toString('latin1', 0, 4) !== 'VNA1') throw new LaunchProtocolError('bad magic in answer');
  const r = new AnswerReader(body.subarray(4));
  const kind = r.u32('kind');
  if (kind === 0) {
    const code = r.u32('code');
    return { kind: 'exit', code, stdout: r.str('stdout'), stderr: r.str('stderr') };
  }
  if (kind === 1) {
    const path = r.str('path');
    const argc = r.u32('argc');
    const argv = Array.from({ length: argc }, (_v, i) => r.str(`argv[${i}]`));
    const envc = r.u32('envc');
    const env: Record<string, string> = {};
    for (let i = 0; i < envc; i++) {
      const kv = r.str(`env[${i}]`);
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    return { kind: 'exec', path, argv, env };
  }
  throw new LaunchProtocolError(`unknown answer kind ${kind}`);
}

/** Sends one request to the manager's launch socket and waits for its answer. */
export function callLaunch(socketPath: string, req: LaunchRequest, timeoutMs = 5000): Promise<LaunchAnswer> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (e: LaunchCallError) => {
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    };
    const timer = setTimeout(() => fail(new LaunchCallError(socketPath, `no answer within ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs);
    sock.once('connect', () => sock.write(encodeLaunchRequest(req)));
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      if (size > MAX_LAUNCH_MESSAGE + 4) fail(new LaunchCallError(socketPath, `answer larger than ${MAX_LAUNCH_MESSAGE} bytes`));
    });
    sock.once('error', (e: NodeJS.ErrnoException) => fail(new LaunchCallError(socketPath, e.message, e.code)));
    sock.once('end', () => {
      clearTimeout(timer);
      sock.destroy();
      const all = Buffer.concat(chunks);
      try {
        if (all.length < 4) throw new LaunchProtocolError('connection closed without an answer');
        const n = all.readUInt32LE(0);
        if (all.length !== n + 4) throw new LaunchProtocolError(`answer length ${all.length - 4}, expected ${n}`);
        resolve(decodeLaunchAnswer(all.subarray(4)));
      } catch (e) {
        reject(new LaunchCallError(socketPath, (e as Error).message));
      }
    });
  });
}
