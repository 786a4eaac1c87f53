// `containerd-shim-vnode-v2 -info`: a proto RuntimeInfo with the options read from stdin echoed
// back and the OCI runtime features of the runc we run (`runc features`), so containerd 2.x can
// check what the runtime supports (idmap mounts among them).
import { spawnSync } from 'node:child_process';
import { loadProtos } from '../proto/load.js';

export const RUNTIME_NAME = 'io.containerd.vnode.v2';
/** typeurl's name for runtime-spec features.Features (JSON-marshalled). */
export const FEATURES_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/features/Features';

export function runtimeInfo(version: string, optionsAny: Buffer, runc: string): Buffer {
  const root = loadProtos('containerd/introspection.proto');
  const RuntimeInfo = root.lookupType('containerd.types.RuntimeInfo');
  const Any = root.lookupType('google.protobuf.Any');
  const info: Record<string, unknown> = { name: RUNTIME_NAME, version: { version, revision: '' }, annotations: {} };
  if (optionsAny.length) info.options = Any.toObject(Any.decode(optionsAny));
  // No runc named (a launcher that found none): no features, as from a runc without `features`.
  const f = runc ? spawnSync(runc, ['features'], { encoding: 'utf8', timeout: 5000 }) : undefined;
  if (f && f.status === 0 && f.stdout.trim().startsWith('{')) info.features = { type_url: FEATURES_TYPE_URL, value: Buffer.from(f.stdout.trim()) };
  return Buffer.from(RuntimeInfo.encode(RuntimeInfo.fromObject(info)).finish());
}
