// The ttrpc.Request / ttrpc.Response envelopes (agent/proto/ttrpc.proto) as plain TypeScript
// values. Decoding validates what protobufjs leaves loose, so a garbage payload is an error here
// and never a half-filled request further on.
import type Long from 'long';
import { loadProtos } from '../../proto/load.js';
import { checkWire } from './checkWire.js';
import type { KeyValue } from './Metadata.js';
import type { AnyMessage } from './TtrpcError.js';

const root = loadProtos('ttrpc.proto');
const RequestType = root.lookupType('ttrpc.Request');
const ResponseType = root.lookupType('ttrpc.Response');

export interface WireRequest {
  service: string;
  method: string;
  payload: Buffer;
  /** Relative deadline in nanoseconds, 0 for none. */
  timeoutNano: number;
  metadata: KeyValue[];
}

export interface WireStatus {
  code: number;
  message: string;
  details: AnyMessage[];
}

export interface WireResponse {
  /** Absent or code 0 means success. */
  status?: WireStatus;
  payload: Buffer;
}

const EMPTY = Buffer.alloc(0);

const toBuffer = (b: Uint8Array | undefined): Buffer =>
  !b || b.length === 0 ? EMPTY : Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);

const toNumber = (v: number | Long | undefined): number => (v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber());

export class WireDecodeError extends Error {
  override readonly name = 'WireDecodeError';
}

interface RawRequest {
  service?: string;
  method?: string;
  payload?: Uint8Array;
  timeoutNano?: number | Long;
  metadata?: { key?: string; value?: string }[];
}

interface RawResponse {
  status?: { code?: number; message?: string; details?: { type_url?: string; value?: Uint8Array }[] } | null;
  payload?: Uint8Array;
}

export function decodeRequest(buf: Uint8Array): WireRequest {
  let m: RawRequest;
  try {
    checkWire(RequestType, buf);
    m = RequestType.decode(buf) as unknown as RawRequest;
  } catch (e) {
    throw new WireDecodeError(`malformed ttrpc.Request (${buf.length} bytes): ${(e as Error).message}`);
  }
  return {
    service: m.service ?? '',
    method: m.method ?? '',
    payload: toBuffer(m.payload),
    timeoutNano: toNumber(m.timeoutNano),
    metadata: (m.metadata ?? []).map((kv) => ({ key: kv.key ?? '', value: kv.value ?? '' })),
  };
}

export function encodeRequest(r: WireRequest): Uint8Array {
  return RequestType.encode({
    service: r.service,
    method: r.method,
    payload: r.payload,
    timeoutNano: r.timeoutNano,
    metadata: r.metadata,
  }).finish();
}

export function decodeResponse(buf: Uint8Array): WireResponse {
  let m: RawResponse;
  try {
    checkWire(ResponseType, buf);
    m = ResponseType.decode(buf) as unknown as RawResponse;
  } catch (e) {
    throw new WireDecodeError(`malformed ttrpc.Response (${buf.length} bytes): ${(e as Error).message}`);
  }
  const out: WireResponse = { payload: toBuffer(m.payload) };
  if (m.status) {
    out.status = {
      code: m.status.code ?? 0,
      message: m.status.message ?? '',
      details: (m.status.details ?? []).map((d) => ({ type_url: d.type_url ?? '', value: toBuffer(d.value) })),
    };
  }
  return out;
}

export function encodeResponse(r: WireResponse): Uint8Array {
  // Go's ttrpc always sends a status (code 0 on success); do the same for the benefit of
  // clients that read it unconditionally.
  const status = r.status ?? { code: 0, message: '', details: [] };
  return ResponseType.encode({ status, payload: r.payload }).finish();
}
