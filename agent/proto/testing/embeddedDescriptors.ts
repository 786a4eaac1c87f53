// Reads the FileDescriptorProtos that Go protobuf binaries embed gzipped (containerd,
// containerd-shim-runc-v2). Used by tests to check our .proto definitions field by field.
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import descriptor from 'protobufjs/ext/descriptor/index.js';

export interface FieldDesc {
  name: string;
  number: number;
  label: number; // 1 optional, 2 required, 3 repeated
  type: number; // FieldDescriptorProto.Type
  typeName?: string;
}
export interface MessageDesc {
  name: string;
  field: FieldDesc[];
  nestedType: MessageDesc[];
  enumType: EnumDesc[];
  options?: { mapEntry?: boolean };
}
export interface EnumDesc {
  name: string;
  value: { name: string; number: number }[];
}
export interface MethodDesc {
  name: string;
  inputType: string;
  outputType: string;
  clientStreaming?: boolean;
  serverStreaming?: boolean;
}
export interface ServiceDesc {
  name: string;
  method: MethodDesc[];
}
export interface FileDesc {
  name: string;
  package: string;
  messageType: MessageDesc[];
  enumType: EnumDesc[];
  service: ServiceDesc[];
}

const GZIP = Buffer.from([0x1f, 0x8b, 0x08]);

/** Every embedded FileDescriptorProto found in `binary`. */
export function embeddedDescriptors(binary: string): FileDesc[] {
  const buf = readFileSync(binary);
  const out: FileDesc[] = [];
  for (let i = buf.indexOf(GZIP); i >= 0; i = buf.indexOf(GZIP, i + 1)) {
    const flags = buf[i + 3] ?? 0;
    if (flags !== 0) continue; // Go's gzip writer sets no optional header fields
    let raw: Buffer;
    try {
      // Raw inflate after the 10-byte header: tolerant of the binary's bytes after the stream.
      raw = zlib.inflateRawSync(buf.subarray(i + 10, i + 10 + (4 << 20)), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    } catch {
      continue;
    }
    try {
      const fd = descriptor.FileDescriptorProto.decode(raw) as unknown as FileDesc;
      if (fd.name?.endsWith('.proto')) out.push(fd);
    } catch {
      // not a descriptor
    }
  }
  return out;
}
