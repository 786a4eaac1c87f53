// The typed layer over raw TTRPC: a ServiceDefinition binds a protobufjs service to a TypeScript
// map of request/response shapes, so handlers and callers deal in plain objects while the wire
// stays bytes. Decoded objects: int64 as number, enums as number, bytes as Buffer, absent nested
// messages as null, every scalar present (proto3 defaults filled in). Objects to encode may leave
// any top-level field out (it takes its proto3 default).
import protobuf from 'protobufjs';
import { checkWire } from './checkWire.js';
import type { CallOptions, TtrpcClient } from './TtrpcClient.js';
import { Code, TtrpcError } from './TtrpcError.js';
import type { CallContext, RawFallback, RawHandler, TtrpcServer } from './TtrpcServer.js';

/** A service's methods by name, each with its request and response object types. */
export type ServiceShape = Record<string, { request: object; response: object }>;

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: Number, defaults: true };

/** Encodes and decodes one message type to and from plain objects. */
export class MessageCodec<T extends object> {
  constructor(readonly type: protobuf.Type) {}

  /** Full name without the leading dot, e.g. "containerd.events.TaskExit" (also its Any type_url). */
  get name(): string {
    return this.type.fullName.slice(1);
  }

  encode(value: Partial<T>): Uint8Array {
    return this.type.encode(this.type.fromObject(value as Record<string, unknown>)).finish();
  }

  /** Throws TtrpcError(INVALID_ARGUMENT) naming the type when the bytes are not this message. */
  decode(bytes: Uint8Array): T {
    let msg: protobuf.Message;
    try {
      checkWire(this.type, bytes);
      msg = this.type.decode(bytes);
    } catch (e) {
      throw new TtrpcError(Code.INVALID_ARGUMENT, `cannot decode ${this.name} (${bytes.length} bytes): ${(e as Error).message}`);
    }
    return this.type.toObject(msg, TO_OBJECT) as T;
  }

  /** Wraps a value in a google.protobuf.Any with the bare type name as type_url (containerd's typeurl). */
  toAny(value: Partial<T>): { type_url: string; value: Uint8Array } {
    return { type_url: this.name, value: this.encode(value) };
  }
}

export interface MethodDefinition<Req extends object, Res extends object> {
  name: string;
  request: MessageCodec<Req>;
  response: MessageCodec<Res>;
}

export class ServiceDefinition<S extends ServiceShape> {
  private constructor(
    /** Full service name as on the wire, e.g. "containerd.task.v2.Task". */
    readonly name: string,
    readonly methods: { [M in keyof S]: MethodDefinition<S[M]['request'], S[M]['response']> },
  ) {}

  /**
   * Builds the definition of `fullName` from a resolved protobufjs root. `S` is trusted to match
   * the .proto (wireCheck tests keep the .proto honest; the TypeScript shapes are checked by the
   * round-trip tests).
   */
  static fromRoot<S extends ServiceShape>(root: protobuf.Root, fullName: string): ServiceDefinition<S> {
    const svc = root.lookupService(fullName);
    const methods: Record<string, MethodDefinition<object, object>> = {};
    for (const m of svc.methodsArray) {
      m.resolve();
      if (m.requestStream || m.responseStream) continue;
      methods[m.name] = { name: m.name, request: new MessageCodec(m.resolvedRequestType!), response: new MessageCodec(m.resolvedResponseType!) };
    }
    return new ServiceDefinition<S>(svc.fullName.slice(1), methods as ServiceDefinition<S>['methods']);
  }
}

export type TypedHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Partial<Res>> | Partial<Res>;
export type ServiceImplementation<S extends ServiceShape> = { [M in keyof S]?: TypedHandler<S[M]['request'], S[M]['response']> };

/** Turns a typed handler into a raw one (decode request, encode response). */
export function rawHandler<Req extends object, Res extends object>(def: MethodDefinition<Req, Res>, h: TypedHandler<Req, Res>): RawHandler {
  return async (payload, ctx) => def.response.encode(await h(def.request.decode(payload), ctx));
}

/**
 * Registers `impl` for `def` on `server`. Methods without a typed handler go to `fallback` (raw
 * bytes, e.g. forwarded unchanged), else answer UNIMPLEMENTED. `raw` handlers win over typed ones.
 */
export function registerService<S extends ServiceShape>(
  server: TtrpcServer,
  def: ServiceDefinition<S>,
  impl: ServiceImplementation<S>,
  opts: { raw?: Partial<Record<keyof S & string, RawHandler>>; fallback?: RawFallback } = {},
): void {
  const methods: Record<string, RawHandler> = {};
  for (const name of Object.keys(impl) as (keyof S & string)[]) {
    const h = impl[name];
    const m = def.methods[name];
    if (!m) throw new Error(`${def.name} has no method ${name}`);
    if (h) methods[name] = rawHandler(m, h);
  }
  for (const [name, h] of Object.entries(opts.raw ?? {})) if (h) methods[name] = h as RawHandler;
  server.register(def.name, methods, opts.fallback);
}

/** Typed calls of one service over a TtrpcClient. */
export class ServiceClient<S extends ServiceShape> {
  constructor(
    readonly client: TtrpcClient,
    readonly def: ServiceDefinition<S>,
  ) {}

  async call<M extends keyof S & string>(method: M, request: Partial<S[M]['request']>, opts?: CallOptions): Promise<S[M]['response']> {
    const m = this.def.methods[method];
    const bytes = await this.client.callRaw(this.def.name, method, m.request.encode(request), opts);
    return m.response.decode(bytes);
  }

  /** Pass-through: forward already encoded bytes of `method` and get the answer's bytes. */
  callRaw(method: keyof S & string, payload: Uint8Array, opts?: CallOptions): Promise<Buffer> {
    return this.client.callRaw(this.def.name, method, payload, opts);
  }
}
