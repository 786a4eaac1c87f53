// A JSON Schema (draft-07) validator for exactly the keywords values.schema.json uses, so the
// tests check the file helm checks (helm does not run here, and no JSON Schema library is a
// dependency). A keyword outside the subset is an error: the schema cannot grow past what the
// tests prove.
type Schema = Record<string, unknown>;

const KNOWN = new Set(['$schema', 'title', 'description', 'type', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'const', 'pattern', 'minLength', 'minimum', 'maximum', 'propertyNames', 'allOf', 'if', 'then', 'not']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The problems of `value` against `schema`, each as "path: what"; empty when valid. */
export function jsonSchemaErrors(schema: Schema, value: unknown, path = 'values'): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) throw new Error(`${path}: schema keyword "${k}" is outside the supported subset`);
  const out: string[] = [];
  const t = typeOf(value);
  if (schema.type !== undefined) {
    const types = ([] as unknown[]).concat(schema.type);
    if (!types.some((x) => x === t || (x === 'number' && t === 'integer'))) return [`${path}: is ${t}, not ${types.join(' or ')}`];
  }
  if (schema.enum && !(schema.enum as unknown[]).some((e) => same(e, value))) out.push(`${path}: not one of ${JSON.stringify(schema.enum)}`);
  if ('const' in schema && !same(schema.const, value)) out.push(`${path}: must be ${JSON.stringify(schema.const)}`);
  if (t === 'string') {
    const s = value as string;
    if (schema.pattern !== undefined && !new RegExp(schema.pattern as string, 'u').test(s)) out.push(`${path}: does not match ${schema.pattern as string}`);
    if (schema.minLength !== undefined && [...s].length < (schema.minLength as number)) out.push(`${path}: shorter than ${schema.minLength as number}`);
  }
  if (t === 'integer' || t === 'number') {
    if (schema.minimum !== undefined && (value as number) < (schema.minimum as number)) out.push(`${path}: below ${schema.minimum as number}`);
    if (schema.maximum !== undefined && (value as number) > (schema.maximum as number)) out.push(`${path}: above ${schema.maximum as number}`);
  }
  if (t === 'array' && schema.items) (value as unknown[]).forEach((v, i) => out.push(...jsonSchemaErrors(schema.items as Schema, v, `${path}[${i}]`)));
  if (t === 'object') {
    const o = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const k of (schema.required ?? []) as string[]) if (!(k in o)) out.push(`${path}.${k}: required`);
    for (const [k, v] of Object.entries(o)) {
      if (schema.propertyNames) out.push(...jsonSchemaErrors(schema.propertyNames as Schema, k, `${path} key ${JSON.stringify(k)}`));
      if (props[k]) out.push(...jsonSchemaErrors(props[k], v, `${path}.${k}`));
      else if (schema.additionalProperties === false) out.push(`${path}.${k}: not allowed`);
      else if (typeof schema.additionalProperties === 'object') out.push(...jsonSchemaErrors(schema.additionalProperties as Schema, v, `${path}.${k}`));
    }
  }
  for (const s of (schema.allOf ?? []) as Schema[]) out.push(...jsonSchemaErrors(s, value, path));
  if (schema.if && schema.then && jsonSchemaErrors(schema.if as Schema, value, path).length === 0) out.push(...jsonSchemaErrors(schema.then as Schema, value, path));
  if (schema.not && jsonSchemaErrors(schema.not as Schema, value, path).length === 0) out.push(`${path}: must not match ${JSON.stringify(schema.not)}`);
  return out;
}
