// TTRPC request metadata: ordered key/value pairs on the wire (Request.metadata), a multimap to
// the code. Keys are lower-cased as Go's ttrpc MD does; values keep their case.

/** The key under which containerd sends the namespace of every call. */
export const NAMESPACE_KEY = 'containerd-namespace-ttrpc';

export interface KeyValue {
  key: string;
  value: string;
}

export class Metadata {
  private readonly map = new Map<string, string[]>();

  constructor(init?: Record<string, string | string[]> | Iterable<KeyValue>) {
    if (!init) return;
    if (Symbol.iterator in init) {
      for (const kv of init as Iterable<KeyValue>) this.append(kv.key, kv.value);
    } else {
      for (const [k, v] of Object.entries(init)) this.set(k, ...(Array.isArray(v) ? v : [v]));
    }
  }

  /** First value for `key`. */
  get(key: string): string | undefined {
    return this.map.get(key.toLowerCase())?.[0];
  }

  getAll(key: string): readonly string[] {
    return this.map.get(key.toLowerCase()) ?? [];
  }

  /** Replaces the values of `key`; no values removes it. */
  set(key: string, ...values: string[]): this {
    const k = key.toLowerCase();
    if (values.length === 0) this.map.delete(k);
    else this.map.set(k, [...values]);
    return this;
  }

  append(key: string, ...values: string[]): this {
    if (values.length === 0) return this;
    const k = key.toLowerCase();
    const cur = this.map.get(k);
    if (cur) cur.push(...values);
    else this.map.set(k, [...values]);
    return this;
  }

  /** The containerd namespace of the call, if the caller sent one. */
  get namespace(): string | undefined {
    return this.get(NAMESPACE_KEY);
  }

  get size(): number {
    return this.map.size;
  }

  /** Pairs in wire order. */
  toKeyValues(): KeyValue[] {
    const out: KeyValue[] = [];
    for (const [key, values] of this.map) for (const value of values) out.push({ key, value });
    return out;
  }

  toJSON(): Record<string, string[]> {
    return Object.fromEntries(this.map);
  }
}
