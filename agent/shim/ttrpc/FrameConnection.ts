// One TTRPC byte stream (a unix socket) seen as frames: decodes what arrives, writes whole frames,
// and closes exactly once with a reason. Server and client connections both sit on top of it.
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { encodeFrame, FrameDecoder, type Frame, type FrameHeader, type FrameType } from './frame.js';

export interface FrameConnectionEvents {
  frame: [frame: Frame];
  /** A frame longer than the limit arrived; its payload was skipped. */
  oversize: [header: FrameHeader];
  /** Emitted once. `reason` is undefined for an orderly end by the peer or by close(). */
  close: [reason: string | undefined];
}

let nextId = 1;

export class FrameConnection extends EventEmitter<FrameConnectionEvents> {
  /** Process-unique id, for logs and for tying calls to the connection they came on. */
  readonly id = nextId++;
  private readonly decoder: FrameDecoder;
  private closedReason: string | undefined;
  private closed = false;

  constructor(
    readonly socket: net.Socket,
    maxMessageLength?: number,
  ) {
    super();
    this.decoder = new FrameDecoder(maxMessageLength);
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      // EPIPE/ECONNRESET are the peer going away: an ordinary close, not a fault.
      const ordinary = e.code === 'EPIPE' || e.code === 'ECONNRESET';
      this.finish(ordinary ? undefined : `socket error: ${e.message}`);
    });
    socket.on('close', () => this.finish(this.closedReason));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Why the connection closed (undefined while open or after an orderly close). */
  get reason(): string | undefined {
    return this.closedReason;
  }

  /** Sends one frame; false if the connection is already closed. */
  send(streamId: number, type: FrameType, payload: Uint8Array, flags = 0): boolean {
    if (this.closed || this.socket.destroyed) return false;
    this.socket.write(encodeFrame(streamId, type, payload, flags));
    return true;
  }

  /** Closes the connection. A reason marks a protocol fault and is reported to 'close' listeners. */
  close(reason?: string): void {
    if (this.closed) return;
    if (reason !== undefined && this.closedReason === undefined) this.closedReason = reason;
    this.socket.destroy();
    // 'close' from the socket follows; finish() is idempotent either way.
    this.finish(this.closedReason);
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    for (const ev of this.decoder.push(chunk)) {
      if (this.closed) return;
      if (ev.kind === 'frame') this.emit('frame', ev.frame);
      else if (ev.kind === 'oversize') this.emit('oversize', ev.header);
      else this.close(`protocol error: ${ev.reason}`);
    }
  }

  private finish(reason: string | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closedReason = reason;
    if (!this.socket.destroyed) this.socket.destroy();
    this.emit('close', reason);
  }
}
