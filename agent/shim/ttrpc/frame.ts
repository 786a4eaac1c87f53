// TTRPC framing: every message is a 10-byte header (u32 BE payload length, u32 BE stream id,
// u8 type, u8 flags) followed by the payload. FrameDecoder turns an arbitrary chunking of the byte
// stream back into frames without policy: the connection decides what a bad frame costs.

export const HEADER_LENGTH = 10;
/** Largest payload either side accepts (Go ttrpc's messageLengthMax). */
export const MAX_MESSAGE_LENGTH = 4 << 20;

export const FrameType = {
  Request: 1,
  Response: 2,
  /** Stream data (ttrpc 1.2 streaming); unary peers never send it. */
  Data: 3,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FrameFlags = {
  RemoteClosed: 0x1,
  RemoteOpen: 0x2,
  NoData: 0x4,
} as const;

export interface FrameHeader {
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

export interface Frame {
  streamId: number;
  type: FrameType;
  flags: number;
  payload: Buffer;
}

/** What the decoder yields: a frame, an oversized frame whose payload it skipped, or a fatal error. */
export type DecodeEvent =
  | { kind: 'frame'; frame: Frame }
  | { kind: 'oversize'; header: FrameHeader }
  | { kind: 'error'; reason: string; header?: FrameHeader };

const isFrameType = (t: number): t is FrameType => t === FrameType.Request || t === FrameType.Response || t === FrameType.Data;

/** Encodes one frame (header and payload in one buffer, so one write is one frame). */
export function encodeFrame(streamId: number, type: FrameType, payload: Uint8Array, flags = 0): Buffer {
  if (payload.length > MAX_MESSAGE_LENGTH) {
    throw new RangeError(`ttrpc frame payload of ${payload.length} bytes exceeds ${MAX_MESSAGE_LENGTH}`);
  }
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffffffff) {
    throw new RangeError(`ttrpc stream id ${streamId} is not a u32`);
  }
  const buf = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  buf.writeUInt32BE(payload.length, 0);
  buf.writeUInt32BE(streamId, 4);
  buf[8] = type;
  buf[9] = flags & 0xff;
  buf.set(payload, HEADER_LENGTH);
  return buf;
}

export function decodeHeader(buf: Buffer, offset = 0): FrameHeader {
  return {
    length: buf.readUInt32BE(offset),
    streamId: buf.readUInt32BE(offset + 4),
    type: buf[offset + 8]!,
    flags: buf[offset + 9]!,
  };
}

/**
 * Incremental decoder. `push` takes any chunk of the stream and returns the events it completes.
 * An oversized frame's payload is skipped as it arrives (never buffered), so the peer can be told
 * which stream failed, as Go ttrpc does. After an `error` event the decoder yields nothing more.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes the buffered tail must reach before parsing is worth a copy. */
  private need = HEADER_LENGTH;
  private skip = 0;
  private failed = false;

  constructor(private readonly maxLength = MAX_MESSAGE_LENGTH) {}

  /** Bytes held for a frame not yet complete. */
  get pending(): number {
    return this.buffered;
  }

  push(chunk: Buffer): DecodeEvent[] {
    const out: DecodeEvent[] = [];
    if (this.failed) return out;
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
    }
    if (chunk.length === 0) return out;
    // Fast path: nothing buffered, parse straight out of the chunk without copying.
    let buf: Buffer;
    if (this.buffered === 0) buf = chunk;
    else {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      // A big frame arrives in many chunks: copy once, when it is complete.
      if (this.buffered < this.need) return out;
      buf = Buffer.concat(this.chunks, this.buffered);
      this.chunks = [];
      this.buffered = 0;
    }
    let off = 0;
    while (buf.length - off >= HEADER_LENGTH) {
      const h = decodeHeader(buf, off);
      if (!isFrameType(h.type)) {
        this.failed = true;
        out.push({ kind: 'error', reason: `unknown frame type ${h.type} on stream ${h.streamId}`, header: h });
        return out;
      }
      if (h.length > this.maxLength) {
        out.push({ kind: 'oversize', header: h });
        const avail = buf.length - off - HEADER_LENGTH;
        if (avail >= h.length) {
          off += HEADER_LENGTH + h.length;
          continue;
        }
        this.skip = h.length - avail;
        return out;
      }
      if (buf.length - off - HEADER_LENGTH < h.length) break;
      const start = off + HEADER_LENGTH;
      out.push({ kind: 'frame', frame: { streamId: h.streamId, type: h.type, flags: h.flags, payload: buf.subarray(start, start + h.length) } });
      off = start + h.length;
    }
    if (off < buf.length) {
      // Keep the tail; copy when it is a small piece of a big chunk so the chunk can be freed.
      const tail = buf.subarray(off);
      this.chunks = [tail.length < buf.length / 2 ? Buffer.from(tail) : tail];
      this.buffered = tail.length;
      this.need = tail.length >= HEADER_LENGTH ? HEADER_LENGTH + tail.readUInt32BE(0) : HEADER_LENGTH;
    }
    return out;
  }
}
