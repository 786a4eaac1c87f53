// Compares the project's protobufjs definitions with descriptors embedded in a binary: every
// message, field, enum value and service method we define must exist upstream with the same
// number, type, cardinality and type name. Our files may define a subset of the fields.
import protobuf from 'protobufjs';
import type { EnumDesc, FieldDesc, FileDesc, MessageDesc, ServiceDesc } from './embeddedDescriptors.js';

const SCALAR: Record<number, string> = {
  1: 'double', 2: 'float', 3: 'int64', 4: 'uint64', 5: 'int32', 6: 'fixed64', 7: 'fixed32', 8: 'bool',
  9: 'string', 12: 'bytes', 13: 'uint32', 15: 'sfixed32', 16: 'sfixed64', 17: 'sint32', 18: 'sint64',
};
const TYPE_MESSAGE = 11;
const TYPE_ENUM = 14;
const LABEL_REPEATED = 3;

// protobufjs's own rule (util.camelCase): first character kept, only "_" + lower-case letter
// folds. Matching it exactly matters for names like "ipv6_2nd" or "_x", which it leaves alone.
const camel = (s: string): string => s.slice(0, 1) + s.slice(1).replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());

interface Index {
  messages: Map<string, MessageDesc>;
  enums: Map<string, EnumDesc>;
  services: Map<string, ServiceDesc>;
}

function indexFiles(files: FileDesc[]): Index {
  const idx: Index = { messages: new Map(), enums: new Map(), services: new Map() };
  const addMsg = (prefix: string, m: MessageDesc): void => {
    const full = `${prefix}.${m.name}`;
    idx.messages.set(full, m);
    for (const n of m.nestedType ?? []) addMsg(full, n);
    for (const e of m.enumType ?? []) idx.enums.set(`${full}.${e.name}`, e);
  };
  for (const f of files) {
    const p = f.package ? `.${f.package}` : '';
    for (const m of f.messageType ?? []) addMsg(p, m);
    for (const e of f.enumType ?? []) idx.enums.set(`${p}.${e.name}`, e);
    for (const s of f.service ?? []) idx.services.set(`${p}.${s.name}`, s);
  }
  return idx;
}

function describeUpstream(f: FieldDesc, idx: Index): string {
  if (f.type === TYPE_MESSAGE) {
    const m = f.typeName ? idx.messages.get(f.typeName) : undefined;
    if (m?.options?.mapEntry) {
      const k = m.field.find((x) => x.number === 1)!;
      const v = m.field.find((x) => x.number === 2)!;
      return `map<${describeUpstream(k, idx)},${describeUpstream(v, idx)}>`;
    }
  }
  const base = f.type === TYPE_MESSAGE || f.type === TYPE_ENUM ? (f.typeName ?? '?') : (SCALAR[f.type] ?? `type${f.type}`);
  return f.label === LABEL_REPEATED ? `repeated ${base}` : base;
}

function describeOurs(f: protobuf.Field): string {
  const typeName = (t: string, resolved: protobuf.Type | protobuf.Enum | null): string => (resolved ? resolved.fullName : t);
  if (f instanceof protobuf.MapField) {
    return `map<${f.keyType},${typeName(f.type, f.resolvedType)}>`;
  }
  const base = typeName(f.type, f.resolvedType);
  return f.repeated ? `repeated ${base}` : base;
}

/** Returns a list of mismatches (empty when our definitions agree with upstream). */
export function wireCheck(ours: protobuf.Root, upstream: FileDesc[]): string[] {
  const idx = indexFiles(upstream);
  const problems: string[] = [];
  const visit = (ns: protobuf.ReflectionObject): void => {
    if (ns instanceof protobuf.Type) {
      const up = idx.messages.get(ns.fullName);
      if (!up) {
        problems.push(`${ns.fullName}: no such message upstream`);
      } else {
        for (const f of ns.fieldsArray) {
          // Our root may be loaded with keepCase (snake_case) or without (camelCase).
          const uf = up.field.find((x) => x.name === f.name) ?? up.field.find((x) => camel(x.name) === f.name);
          if (!uf) {
            problems.push(`${ns.fullName}.${f.name}: no such field upstream`);
            continue;
          }
          if (uf.number !== f.id) problems.push(`${ns.fullName}.${f.name}: field number ${f.id}, upstream ${uf.number}`);
          const a = describeOurs(f);
          const b = describeUpstream(uf, idx);
          if (a !== b) problems.push(`${ns.fullName}.${f.name}: type ${a}, upstream ${b}`);
        }
      }
    } else if (ns instanceof protobuf.Enum) {
      const up = idx.enums.get(ns.fullName);
      if (!up) problems.push(`${ns.fullName}: no such enum upstream`);
      else {
        for (const [name, num] of Object.entries(ns.values)) {
          const uv = up.value.find((v) => v.name === name);
          if (!uv) problems.push(`${ns.fullName}.${name}: no such enum value upstream`);
          else if (uv.number !== num) problems.push(`${ns.fullName}.${name}: value ${num}, upstream ${uv.number}`);
        }
      }
    } else if (ns instanceof protobuf.Service) {
      const up = idx.services.get(ns.fullName);
      if (!up) problems.push(`${ns.fullName}: no such service upstream`);
      else {
        for (const m of ns.methodsArray) {
          const um = up.method.find((x) => x.name === m.name);
          if (!um) {
            problems.push(`${ns.fullName}.${m.name}: no such method upstream`);
            continue;
          }
          const req = m.resolvedRequestType?.fullName;
          const res = m.resolvedResponseType?.fullName;
          if (req !== um.inputType) problems.push(`${ns.fullName}.${m.name}: request ${req}, upstream ${um.inputType}`);
          if (res !== um.outputType) problems.push(`${ns.fullName}.${m.name}: response ${res}, upstream ${um.outputType}`);
          if (!!m.requestStream !== !!um.clientStreaming || !!m.responseStream !== !!um.serverStreaming) {
            problems.push(`${ns.fullName}.${m.name}: streaming differs from upstream`);
          }
        }
      }
    }
    if (ns instanceof protobuf.Namespace) for (const n of ns.nestedArray) visit(n);
  };
  for (const n of ours.nestedArray) {
    // protobufjs's own google.protobuf types are not ours to check.
    if (n.name === 'google') continue;
    visit(n);
  }
  return problems;
}
