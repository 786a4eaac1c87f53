// A strict pass over protobuf wire bytes against a protobufjs Type, run before protobufjs decodes.
// protobufjs is lax where it matters for a trust boundary: it reads a known field whatever its wire
// type and, from a Buffer, clamps a truncated string instead of failing. This pass rejects a wrong
// wire type for a known field, a truncated or over-long value, field number 0, groups and wire
// types 6/7, recursing into nested messages, so garbage is an error and not a half-filled message.
import protobuf from 'protobufjs';

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

const wireTypeOf: Record<string, number> = {
  int32: VARINT, int64: VARINT, uint32: VARINT, uint64: VARINT, sint32: VARINT, sint64: VARINT, bool: VARINT,
  fixed64: FIXED64, sfixed64: FIXED64, double: FIXED64,
  fixed32: FIXED32, sfixed32: FIXED32, float: FIXED32,
  string: LEN, bytes: LEN,
};

export class WireFormatError extends Error {
  override readonly name = 'WireFormatError';
}

const MAX_DEPTH = 32;

/** Throws WireFormatError describing the first violation; returns normally for well-formed bytes. */
export function checkWire(type: protobuf.Type, buf: Uint8Array): void {
  walk(type, buf, 0, buf.length, 0, type.fullName.slice(1));
}

function walk(type: protobuf.Type | null, buf: Uint8Array, start: number, end: number, depth: number, where: string): void {
  if (depth > MAX_DEPTH) throw new WireFormatError(`${where}: nested deeper than ${MAX_DEPTH}`);
  let pos = start;
  const varint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new WireFormatError(`${where}: truncated varint at byte ${pos}`);
      const b = buf[pos++]!;
      // Past 2^53 the value is only used for skipping and lengths, where it would be out of range anyway.
      result += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return result;
    }
    throw new WireFormatError(`${where}: varint longer than 10 bytes at byte ${pos}`);
  };
  while (pos < end) {
    const tagAt = pos;
    const tag = varint();
    const no = Math.floor(tag / 8);
    const wt = tag % 8;
    if (no === 0 || no > 0x1fffffff) throw new WireFormatError(`${where}: invalid field number ${no} at byte ${tagAt}`);
    const field = type ? type.fieldsById[no] : undefined;
    if (field) {
      field.resolve();
      const expected = expectedWireType(field);
      const packed = field.repeated && wt === LEN && expected !== LEN;
      if (wt !== expected && !packed) {
        throw new WireFormatError(`${where}.${field.name} (field ${no}): wire type ${wt}, expected ${expected}`);
      }
    }
    switch (wt) {
      case VARINT:
        varint();
        break;
      case FIXED64:
        pos += 8;
        break;
      case FIXED32:
        pos += 4;
        break;
      case LEN: {
        const len = varint();
        if (len > end - pos) throw new WireFormatError(`${where}${field ? `.${field.name}` : ''} (field ${no}): length ${len} runs past the end (${end - pos} bytes left)`);
        if (field && field instanceof protobuf.MapField) {
          walkMapEntry(field, buf, pos, pos + len, depth + 1, `${where}.${field.name}`);
        } else if (field && field.resolvedType instanceof protobuf.Type) {
          walk(field.resolvedType, buf, pos, pos + len, depth + 1, `${where}.${field.name}`);
        }
        pos += len;
        break;
      }
      default:
        throw new WireFormatError(`${where}: unsupported wire type ${wt} at byte ${tagAt}`);
    }
    if (pos > end) throw new WireFormatError(`${where}: truncated field ${no} at byte ${tagAt}`);
  }
}

function expectedWireType(field: protobuf.Field): number {
  if (field instanceof protobuf.MapField) return LEN;
  if (field.resolvedType instanceof protobuf.Enum) return VARINT;
  if (field.resolvedType instanceof protobuf.Type) return LEN;
  return wireTypeOf[field.type] ?? LEN;
}

const entryTypes = new WeakMap<protobuf.MapField, protobuf.Type>();

/**
 * A map entry is a message with key = 1 and value = 2. A message-typed value is bounds-checked
 * only (the shim APIs have none; protobufjs still decodes it safely within those bounds).
 */
function walkMapEntry(field: protobuf.MapField, buf: Uint8Array, start: number, end: number, depth: number, where: string): void {
  let entry = entryTypes.get(field);
  if (!entry) {
    const valueType = field.resolvedType instanceof protobuf.Enum ? 'int32' : field.resolvedType ? 'bytes' : field.type;
    entry = new protobuf.Type('Entry').add(new protobuf.Field('key', 1, field.keyType)).add(new protobuf.Field('value', 2, valueType));
    entryTypes.set(field, entry);
  }
  walk(entry, buf, start, end, depth, where);
}
