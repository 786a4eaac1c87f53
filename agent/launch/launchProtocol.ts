// The wire format between the C launcher (addon/launcher/forward.c; the format is at the top of
// addon/launcher/vnode.c) and the manager. One call per connection: a length-prefixed request,
// then a length-prefixed answer. Integers are u32 LE, strings are u32 length + bytes.

export const MAX_LAUNCH_MESSAGE = 64 << 20;

/** What vnode-runc adds to the environment it forwards (addon/launcher/runc.c): where in argv it
 * found the runc command (its own grammar of runc's global flags), and which runc it runs
 * (runc_path; the shim's -info forwards it too). */
export const RUNC_COMMAND_AT = 'VNODE_RUNC_COMMAND_AT';
export const RUNC_PATH_ENV = 'VNODE_RUNC';

export interface LaunchRequest {
  entry: string;
  cwd: string;
  argv: string[];
  env: Record<string, string>;
  stdin: Buffer;
}

export type LaunchAnswer =
  | { kind: 'exit'; code: number; stdout?: Buffer | string; stderr?: Buffer | string }
  | { kind: 'exec'; path: string; argv: string[]; env?: Record<string, string> };

export class LaunchProtocolError extends Error {
  override name = 'LaunchProtocolError';
}

class Reader {
  private off = 0;
  constructor(private readonly buf: Buffer) {}
  u32(what: string): number {
    if (this.buf.length - this.off < 4) throw new LaunchProtocolError(`truncated request reading ${what}`);
    const v = this.buf.readUInt32LE(this.off);
    this.off += 4;
    return v;
  }
  bytes(what: string): Buffer {
    const n = this.u32(what);
    if (this.buf.length - this.off < n) throw new LaunchProtocolError(`truncated request reading ${what} (${n} bytes)`);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
  str(what: string): string {
    return this.bytes(what).toString('utf8');
  }
  done(): void {
    if (this.off !== this.buf.length) throw new LaunchProtocolError(`${this.buf.length - this.off} trailing bytes in request`);
  }
}

/** Decodes a request body (without the outer length prefix). */
export function decodeLaunchRequest(body: Buffer): LaunchRequest {
  if (body.length < 4 || body.toString('latin1', 0, 4) !== 'VNL1') throw new LaunchProtocolError('bad magic in request');
  const r = new Reader(body.subarray(4));
  const entry = r.str('entry');
  const cwd = r.str('cwd');
  const argc = r.u32('argc');
  if (argc > 4096) throw new LaunchProtocolError(`argc ${argc} too large`);
  const argv: string[] = [];
  for (let i = 0; i < argc; i++) argv.push(r.str(`argv[${i}]`));
  const envc = r.u32('envc');
  if (envc > 65536) throw new LaunchProtocolError(`envc ${envc} too large`);
  const env: Record<string, string> = {};
  for (let i = 0; i < envc; i++) {
    const kv = r.str(`env[${i}]`);
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const stdin = Buffer.from(r.bytes('stdin'));
  r.done();
  return { entry, cwd, argv, env, stdin };
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
function str(s: string | Buffer): Buffer[] {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return [u32(b.length), b];
}

/** Encodes an answer with its outer length prefix. */
export function encodeLaunchAnswer(a: LaunchAnswer): Buffer {
  const parts: Buffer[] = [Buffer.from('VNA1')];
  if (a.kind === 'exit') {
    parts.push(u32(0), u32(a.code), ...str(a.stdout ?? ''), ...str(a.stderr ?? ''));
  } else {
    parts.push(u32(1), ...str(a.path), u32(a.argv.length), ...a.argv.flatMap((x) => str(x)));
    const env = Object.entries(a.env ?? {});
    parts.push(u32(env.length), ...env.flatMap(([k, v]) => str(`${k}=${v}`)));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([u32(body.length), body]);
}

/** Encodes a request the way the launcher does (used by tests and by the JS fallbacks). */
export function encodeLaunchRequest(q: LaunchRequest): Buffer {
  const env = Object.entries(q.env);
  const body = Buffer.concat([
    Buffer.from('VNL1'),
    ...str(q.entry),
    ...str(q.cwd),
    u32(q.argv.length),
    ...q.argv.flatMap((x) => str(x)),
    u32(env.length),
    ...env.flatMap(([k, v]) => str(`${k}=${v}`)),
    ...str(q.stdin),
  ]);
  return Buffer.concat([u32(body.length), body]);
}
