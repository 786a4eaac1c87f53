// Helpers for the TTRPC tests: a temp socket dir, a logger that records lines, and a raw socket
// that speaks frames by hand (to send what a correct client never would).
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from '../../common/log.js';
import { encodeFrame, FrameDecoder, type Frame, type FrameType } from './frame.js';

export function tempSocketDir(): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vnode-ttrpc-'));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RecordedLine {
  level: string;
  message: string;
  [k: string]: unknown;
}

export function recordingLogger(): { log: Logger; lines: RecordedLine[] } {
  const lines: RecordedLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as RecordedLine);
      cb();
    },
  });
  const log = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
  return { log, lines };
}

/** A client socket that sends arbitrary bytes and collects whatever frames come back. */
export class RawPeer {
  readonly frames: Frame[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder();
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      for (const ev of this.decoder.push(d)) if (ev.kind === 'frame') this.frames.push({ ...ev.frame, payload: Buffer.from(ev.frame.payload) });
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  send(streamId: number, type: FrameType | number, payload: Uint8Array, flags = 0): void {
    const f = encodeFrame(streamId, 1 as FrameType, payload, flags);
    f[8] = type;
    this.socket.write(f);
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Waits until `pred` holds (re-checked on every arrival), or fails after `ms`. */
  async until(pred: () => boolean, ms = 2000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error('RawPeer: condition not met in time');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 20);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
