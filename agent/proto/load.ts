// The project's own protobuf definitions (agent/proto/*.proto) loaded with protobufjs. The .proto
// files are written here from the published field numbers; wireCheck.ts proves them against the
// descriptors embedded in the installed containerd binaries.
import { fileURLToPath } from 'node:url';
import type protobufTypes from 'protobufjs';
import { requireCjs } from '../common/cjs.js';

const protobuf = requireCjs('protobufjs') as typeof protobufTypes;

export const PROTO_DIR = fileURLToPath(new URL('.', import.meta.url));

const cache = new Map<string, protobufTypes.Root>();

/** Loads (once) the given files from agent/proto, plus protobufjs's google/protobuf well-known types. */
export function loadProtos(...files: string[]): protobufTypes.Root {
  const key = files.join(',');
  let root = cache.get(key);
  if (!root) {
    root = new protobuf.Root();
    root.resolvePath = (_origin, target) => {
      // google/protobuf/*.proto come from protobufjs's bundled common definitions.
      if (target.startsWith('google/protobuf/')) return target;
      return target.startsWith('/') ? target : `${PROTO_DIR}${target}`;
    };
    root.loadSync(files, { keepCase: false });
    root.resolveAll();
    cache.set(key, root);
  }
  return root;
}

export function messageType(root: protobufTypes.Root, fullName: string): protobufTypes.Type {
  return root.lookupType(fullName);
}
