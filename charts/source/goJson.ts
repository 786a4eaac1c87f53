// JSON as Helm's toJson writes it (Go's encoding/json), so both outputs of the source agree byte for byte.
/** Go's encoding/json as Helm's toJson uses it: map keys sorted, <>& escaped. */
export function goJson(v: unknown): string {
  const norm = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(norm);
    if (x && typeof x === 'object') return Object.fromEntries(Object.keys(x).sort().map((k) => [k, norm((x as Record<string, unknown>)[k])]));
    return x;
  };
  return JSON.stringify(norm(v)).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

