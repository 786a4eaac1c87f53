// Wire compatibility of the shim API protos (agent/proto/ttrpc.proto, agent/proto/containerd/*)
// with what the installed containerd binaries were built from: every message, field, enum value
// and method we define matches the embedded descriptors, the upstream messages and services we
// mirror are complete, and the check itself catches a changed field number.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { embeddedDescriptors, type FieldDesc, type FileDesc, type MessageDesc } from './embeddedDescriptors.js';
import { PROTO_DIR } from './load.js';
import { SHIM_PROTO_FILES, shimProtos, TASK_METHODS } from './taskApi.js';
import { wireCheck } from './wireCheck.js';
import { installed, skipUnless } from '../../e2e/lib/e2eGate.js';

const SHIM_BIN = '/usr/bin/containerd-shim-runc-v2';
const CONTAINERD_BIN = '/usr/bin/containerd';
const TTRPC_TYPES_GO = '/usr/share/gocode/src/github.com/containerd/ttrpc/types.go';

const shimDescs = embeddedDescriptors(SHIM_BIN);
const containerdDescs = embeddedDescriptors(CONTAINERD_BIN);

/**
 * ttrpc's framing messages are Go structs with protobuf struct tags, not a .proto: read the tags
 * (`protobuf:"bytes,1,opt,name=service,proto3"`) into a descriptor. Status is google.rpc.Status
 * on the wire, so ours is checked against that descriptor under package ttrpc.
 */
function ttrpcDescriptor(): FileDesc {
  const src = readFileSync(TTRPC_TYPES_GO, 'utf8');
  const goTypes: Record<string, { type: number; typeName?: string }> = {
    string: { type: 9 },
    '[]byte': { type: 12 },
    int64: { type: 3 },
    '[]*KeyValue': { type: 11, typeName: '.ttrpc.KeyValue' },
    '*spb.Status': { type: 11, typeName: '.ttrpc.Status' },
    '[]string': { type: 9 },
  };
  const messages: MessageDesc[] = [];
  for (const m of src.matchAll(/type (\w+) struct \{([^}]*)\}/g)) {
    const field: FieldDesc[] = [];
    for (const f of m[2]!.matchAll(/^\s*\w+\s+(\S+)\s+`protobuf:"(\w+),(\d+),(opt|rep),name=(\w+)/gm)) {
      const t = goTypes[f[1]!];
      assert.ok(t, `unexpected Go type ${f[1]} in ${m[1]}`);
      field.push({ name: f[5]!, number: Number(f[3]), label: f[4] === 'rep' ? 3 : 1, ...t });
    }
    messages.push({ name: m[1]!, field, nestedType: [], enumType: [] });
  }
  const status = shimDescs.find((f) => f.package === 'google.rpc')?.messageType.find((m) => m.name === 'Status');
  assert.ok(status, 'google.rpc.Status descriptor in the runc shim');
  messages.push(status);
  return { name: 'ttrpc/types.go', package: 'ttrpc', messageType: messages, enumType: [], service: [] };
}

// Go ttrpc's source comes with golang-github-containerd-containerd-dev (npm test installs it).
const noTtrpcSource = skipUnless(installed(TTRPC_TYPES_GO));
const haveTtrpcSource = noTtrpcSource === false;

/** Our root without the ttrpc package (checked separately when its Go source is present). */
function upstreamFor(withTtrpc: boolean): FileDesc[] {
  return [...shimDescs, ...containerdDescs, ...(withTtrpc ? [ttrpcDescriptor()] : [])];
}

function rootWithout(root: protobuf.Root, pkg: string): protobuf.Root {
  const copy = protobuf.Root.fromJSON(root.toJSON());
  const ns = copy.get(pkg);
  if (ns) copy.remove(ns);
  copy.resolveAll();
  return copy;
}

/** Parses .proto texts (ours, some possibly altered) into a fresh root, as a mutation would load. */
function rootFromTexts(texts: Record<string, string>): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_o, t) => t; // only google/protobuf/* is loaded this way: protobufjs's bundled copies
  root.loadSync(['google/protobuf/any.proto', 'google/protobuf/empty.proto', 'google/protobuf/timestamp.proto']);
  for (const text of Object.values(texts)) protobuf.parse(text, root, { keepCase: false });
  root.resolveAll();
  return root;
}

const ourTexts = (): Record<string, string> => Object.fromEntries(SHIM_PROTO_FILES.map((f) => [f, readFileSync(join(PROTO_DIR, f), 'utf8')]));

test('every shim API definition matches the embedded containerd descriptors', () => {
  const root = shimProtos();
  const problems = haveTtrpcSource ? wireCheck(root, upstreamFor(true)) : wireCheck(rootWithout(root, 'ttrpc'), upstreamFor(false));
  assert.deepEqual(problems, []);
});

test('the Task service and its types match the runc shim binary alone', () => {
  const root = rootWithout(rootWithout(shimProtos(), 'ttrpc'), 'runtimeoptions');
  assert.deepEqual(wireCheck(root, shimDescs), []);
});

test('ttrpc framing messages match the field numbers in Go ttrpc', { skip: noTtrpcSource }, () => {
  const root = shimProtos();
  for (const name of ['Request', 'Response', 'KeyValue', 'Status']) assert.ok(root.lookupType(`ttrpc.${name}`));
  const onlyTtrpc = protobuf.Root.fromJSON({ nested: { ttrpc: root.lookup('ttrpc')!.toJSON(), google: root.lookup('google')!.toJSON() } });
  onlyTtrpc.resolveAll();
  assert.deepEqual(wireCheck(onlyTtrpc, [ttrpcDescriptor(), ...shimDescs]), []);
});

test('mirrored messages, enums and services are complete (no upstream field or method left out)', () => {
  const root = shimProtos();
  const upstream = upstreamFor(haveTtrpcSource);
  const msgs = new Map<string, MessageDesc>();
  const addMsg = (prefix: string, m: MessageDesc): void => {
    msgs.set(`${prefix}.${m.name}`, m);
    for (const n of m.nestedType ?? []) addMsg(`${prefix}.${m.name}`, n);
  };
  for (const f of upstream) for (const m of f.messageType ?? []) addMsg(`.${f.package}`, m);
  const missing: string[] = [];
  const visit = (ns: protobuf.ReflectionObject): void => {
    if (ns instanceof protobuf.Type) {
      const up = msgs.get(ns.fullName);
      for (const uf of up?.field ?? []) if (!Object.values(ns.fields).some((f) => f.id === uf.number)) missing.push(`${ns.fullName} field ${uf.name}=${uf.number}`);
    }
    if (ns instanceof protobuf.Enum) {
      for (const f of upstream) for (const e of f.enumType ?? []) {
        if (`.${f.package}.${e.name}` !== ns.fullName) continue;
        for (const v of e.value) if (ns.values[v.name] !== v.number) missing.push(`${ns.fullName} value ${v.name}`);
      }
    }
    if (ns instanceof protobuf.Service) {
      for (const f of upstream) for (const s of f.service ?? []) {
        if (`.${f.package}.${s.name}` !== ns.fullName) continue;
        for (const m of s.method) if (!ns.methods[m.name]) missing.push(`${ns.fullName} method ${m.name}`);
      }
    }
    if (ns instanceof protobuf.Namespace) for (const n of ns.nestedArray) visit(n);
  };
  for (const n of root.nestedArray) if (n.name !== 'google') visit(n);
  assert.deepEqual(missing, []);
  // Every message of the upstream files we mirror is defined (task API, task events, runc options).
  for (const pkg of ['containerd.task.v2', 'containerd.events', 'containerd.runc.v1', 'containerd.v1.types', 'containerd.services.events.ttrpc.v1']) {
    const file = shimDescs.find((f) => f.package === pkg && (pkg !== 'containerd.events' || f.name.endsWith('/task.proto')));
    assert.ok(file, `upstream ${pkg}`);
    for (const m of file.messageType) assert.ok(root.lookup(`.${pkg}.${m.name}`), `.${pkg}.${m.name} is defined`);
  }
  assert.deepEqual([...root.lookupService('containerd.task.v2.Task').methodsArray.map((m) => m.name)].sort(), [...TASK_METHODS].sort());
});

test('the check catches a changed field number, type, enum value or method type (mutation)', () => {
  const upstream = upstreamFor(false);
  const texts = ourTexts();
  delete texts['ttrpc.proto'];
  // The unaltered texts pass through the same path, so only the mutation can make it fail.
  assert.deepEqual(wireCheck(rootFromTexts(texts), upstream), []);

  const mutate = (file: string, from: string, to: string): string[] => {
    const t = { ...texts };
    assert.ok(t[file]!.includes(from), `${file} contains ${from}`);
    t[file] = t[file]!.replace(from, to);
    return wireCheck(rootFromTexts(t), upstream);
  };
  assert.deepEqual(mutate('containerd/taskShim.proto', 'uint32 task_pid = 2;', 'uint32 task_pid = 4;'), [
    '.containerd.task.v2.ConnectResponse.taskPid: field number 4, upstream 2',
  ]);
  assert.deepEqual(mutate('containerd/runcOptions.proto', 'string binary_name = 6;', 'bytes binary_name = 6;'), [
    '.containerd.runc.v1.Options.binaryName: type bytes, upstream string',
  ]);
  assert.deepEqual(mutate('containerd/taskTypes.proto', 'PAUSED = 4;', 'PAUSED = 6;'), ['.containerd.v1.types.Status.PAUSED: value 6, upstream 4']);
  assert.deepEqual(mutate('containerd/taskShim.proto', 'rpc Wait(WaitRequest) returns (WaitResponse);', 'rpc Wait(WaitRequest) returns (StateResponse);'), [
    '.containerd.task.v2.Task.Wait: response .containerd.task.v2.StateResponse, upstream .containerd.task.v2.WaitResponse',
  ]);
  assert.deepEqual(mutate('containerd/taskEvents.proto', 'uint32 exit_status = 4;', 'repeated uint32 exit_status = 4;'), [
    '.containerd.events.TaskExit.exitStatus: type repeated uint32, upstream uint32',
  ]);
  assert.deepEqual(mutate('containerd/taskShim.proto', 'map<string, string> annotations = 3;', 'map<string, bytes> annotations = 3;'), [
    '.containerd.task.v2.UpdateTaskRequest.annotations: type map<string,bytes>, upstream map<string,string>',
  ]);
});

test('a changed ttrpc framing number is caught too', { skip: noTtrpcSource }, () => {
  const text = readFileSync(join(PROTO_DIR, 'ttrpc.proto'), 'utf8').replace('int64 timeout_nano = 4;', 'int64 timeout_nano = 6;');
  const root = rootFromTexts({ 'ttrpc.proto': text });
  assert.deepEqual(wireCheck(root, [ttrpcDescriptor(), ...shimDescs]), ['.ttrpc.Request.timeoutNano: field number 6, upstream 4']);
});

test('wireCheck matches snake_case roots (keepCase) as well as camelCase ones', () => {
  const root = new protobuf.Root();
  protobuf.parse(readFileSync(join(PROTO_DIR, 'containerd/runcOptions.proto'), 'utf8'), root, { keepCase: true });
  root.resolveAll();
  assert.ok(root.lookupType('containerd.runc.v1.Options').fields['binary_name']);
  assert.deepEqual(wireCheck(root, shimDescs), []);
});
