/**
 * The `triage.yaml` key reference in docs/config.md, generated from the zod
 * schema in `src/config/schema.ts` (through `z.toJSONSchema`, input side) so the
 * table cannot drift from what the loader accepts.
 *
 * Per key: its dotted path (`hosts.<name>.port`, `schedules[].cron`), type,
 * whether it is required, its default, the description given with
 * `.describe()` / `.meta({ description })` in the schema, and an example —
 * the value `examples/triage.yaml` has at that path, else the schema's
 * `examples` meta.
 *
 * Deliberately left out: rules that span keys (a host needs `user` unless
 * `address: local`, ...). They live in the descriptions and in `triage lint`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, stringify } from 'yaml';
import { z } from 'zod';
import { ConfigSchema } from '../config.ts';
import { zodWrappers } from '../schema-errors.ts';

/** One row of the reference table. */
export interface ConfigKey {
  /** `hosts.<name>.port`; list items are `[]`. */
  path: string;
  type: string;
  required: boolean;
  /** As written in YAML, or `''` for none. */
  default: string;
  /** `''` when the schema gives none (the docs test refuses that). */
  description: string;
  /**
   * One YAML line; `''` when neither the example config nor the schema has one, or for a
   * mapping whose example would be long (its keys have rows of their own).
   */
  example: string;
}

/** The example config the table quotes. */
export const EXAMPLE_CONFIG = new URL('../../examples/triage.yaml', import.meta.url);

// biome-ignore lint/suspicious/noExplicitAny: JSON Schema is untyped JSON
type Json = any;

const SECRET_PATTERN_START = '^(env:';
const IDENTITY_PATTERN_START = '^(tg|slack):';
/** Examples longer than this are left out of rows whose keys follow in their own rows. */
const MAX_PARENT_EXAMPLE = 80;

/** Every key of `triage.yaml`, parents before children, in schema order. */
export function configKeys(): ConfigKey[] {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as Json;
  const example = parseYaml(readFileSync(EXAMPLE_CONFIG, 'utf8')) as unknown;
  const out: ConfigKey[] = [];
  walkObject(schema, [], example, out);
  // The input-side JSON Schema drops `examples` and `default` of a key whose
  // value has a transform inside; read those from the zod schema itself.
  for (const k of out) {
    const meta = zodMetaAt(ConfigSchema, k.path);
    if (!k.default && meta.default !== undefined) k.default = yamlValue(meta.default);
    if (!k.example && Array.isArray(meta.examples) && meta.examples.length) {
      const text = `${k.path.split(/[.\]]/).filter(Boolean).pop()}: ${yamlValue(meta.examples[0])}`;
      const parent = out.some((c) => c.path.startsWith(`${k.path}.`) || c.path.startsWith(`${k.path}[]`));
      if (!parent || text.length <= MAX_PARENT_EXAMPLE) k.example = text;
    }
  }
  return out;
}

type ZodNode = z.core.$ZodType;
// biome-ignore lint/suspicious/noExplicitAny: walking zod's internal definitions
const defOf = (s: ZodNode): any => s._zod.def;

/** The meta (`.describe()`, `.meta()`) given anywhere on the key at `path`, outer wrappers winning. */
function zodMetaAt(root: ZodNode, path: string): Record<string, unknown> {
  const segs = path.replace(/\[\]/g, '.[]').split('.');
  let current: ZodNode[] = [root];
  for (const seg of segs) {
    current = current.flatMap((s) => {
      const base = zodWrappers(s).pop()!;
      const d = defOf(base);
      if (seg === '<name>') return d.type === 'record' ? [d.valueType] : [];
      if (seg === '[]') return d.type === 'array' ? [d.element] : [];
      if (d.type === 'union') return d.options.flatMap((o: ZodNode) => { const od = defOf(zodWrappers(o).pop()!); return od.type === 'object' && od.shape[seg] ? [od.shape[seg]] : []; });
      return d.type === 'object' && d.shape[seg] ? [d.shape[seg]] : [];
    });
  }
  const meta: Record<string, unknown> = {};
  for (const s of current.flatMap(zodWrappers).reverse()) {
    const d = defOf(s);
    if (d.type === 'default' && meta.default === undefined) meta.default = typeof d.defaultValue === 'function' ? d.defaultValue() : d.defaultValue;
    Object.assign(meta, z.globalRegistry.get(s as z.ZodType) ?? {});
  }
  return meta;
}

type Seg = { key: string } | { name: true } | { item: true };

function pathText(path: Seg[]): string {
  let s = '';
  for (const seg of path) {
    if ('key' in seg) s += s ? `.${seg.key}` : seg.key;
    else if ('name' in seg) s += '.<name>';
    else s += '[]';
  }
  return s;
}

function isObjectSchema(s: Json): boolean {
  return s?.type === 'object' && s.properties !== undefined;
}

function isMapSchema(s: Json): boolean {
  return s?.type === 'object' && s.properties === undefined && typeof s.additionalProperties === 'object';
}

function hasChildren(prop: Json): boolean {
  return isObjectSchema(prop) || (isMapSchema(prop) && isObjectSchema(prop.additionalProperties)) || (prop?.type === 'array' && isObjectSchema(prop.items));
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * `value` is the example config's value at `path` (or the nearest schema
 * `examples` entry above it); maps and lists are shown by their first entry.
 */
function walkObject(s: Json, path: Seg[], value: unknown, out: ConfigKey[]): void {
  const required = new Set<string>(s.required ?? []);
  for (const [key, prop] of Object.entries<Json>(s.properties ?? {})) {
    const p = [...path, { key }];
    const fromFile = isRecord(value) ? value[key] : undefined;
    const v = fromFile !== undefined ? fromFile : Array.isArray(prop.examples) ? prop.examples[0] : undefined;
    out.push(row(prop, p, required.has(key), v));
    if (isObjectSchema(prop)) walkObject(prop, p, v, out);
    else if (isMapSchema(prop) && isObjectSchema(prop.additionalProperties)) walkObject(prop.additionalProperties, [...p, { name: true }], isRecord(v) ? Object.values(v)[0] : undefined, out);
    else if (prop?.type === 'array' && isObjectSchema(prop.items)) walkObject(prop.items, [...p, { item: true }], Array.isArray(v) ? v[0] : undefined, out);
  }
}

function row(prop: Json, path: Seg[], required: boolean, value: unknown): ConfigKey {
  const key = path[path.length - 1] as { key: string };
  let text = value === undefined ? '' : `${key.key}: ${yamlValue(value)}`;
  if (hasChildren(prop) && text.length > MAX_PARENT_EXAMPLE) text = '';
  return {
    path: pathText(path),
    type: typeOf(prop),
    required,
    default: prop.default === undefined ? '' : yamlValue(prop.default),
    description: typeof prop.description === 'string' ? prop.description : '',
    example: text,
  };
}

/** A value as one line of YAML (flow style for maps and lists). */
function yamlValue(v: unknown): string {
  if (Array.isArray(v) && v.length === 0) return '[]';
  if (v !== null && typeof v === 'object' && Object.keys(v).length === 0) return '{}';
  const text = stringify(v, { collectionStyle: 'flow', lineWidth: 0 }).trim();
  // A value with newlines inside (a multi-line string) is shown as JSON, which is YAML on one line.
  return text.includes('\n') ? JSON.stringify(v) : text;
}

function typeOf(s: Json): string {
  if (s === undefined || s === null) return 'any';
  if (Array.isArray(s.anyOf)) return s.anyOf.map(typeOf).join(' or ');
  if (s.const !== undefined) return `\`${String(s.const)}\``;
  if (Array.isArray(s.enum)) return s.enum.map((v: unknown) => `\`${String(v)}\``).join(' \\| ');
  switch (s.type) {
    case 'string':
      if (typeof s.pattern === 'string' && s.pattern.startsWith(SECRET_PATTERN_START)) return 'secret (`env:NAME` or `file:PATH`)';
      if (typeof s.pattern === 'string' && s.pattern.startsWith(IDENTITY_PATTERN_START)) return 'chat id (`tg:…` or `slack:…`)';
      return 'text';
    case 'integer':
      return s.minimum === 1 && s.maximum === 65535 ? 'port (1–65535)' : 'whole number';
    case 'number':
      return 'number';
    case 'boolean':
      return '`true` \\| `false`';
    case 'array':
      return `list of ${plural(typeOf(s.items))}`;
    case 'object':
      if (isMapSchema(s)) return `map: name → ${isObjectSchema(s.additionalProperties) ? 'mapping' : typeOf(s.additionalProperties)}`;
      return 'mapping';
    default:
      return 'any';
  }
}

function plural(t: string): string {
  if (t === 'text') return 'text';
  if (t === 'mapping') return 'mappings';
  if (t === 'whole number') return 'whole numbers';
  if (t.startsWith('chat id ')) return `chat ids ${t.slice(8)}`;
  return t;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The reference table as Markdown. */
export function configReferenceMarkdown(keys: ConfigKey[] = configKeys()): string {
  const lines = ['| key | type | required | default | description | example |', '| --- | --- | --- | --- | --- | --- |'];
  for (const k of keys) {
    // Type cells are already escaped (they may hold `\|` between values).
    lines.push(
      `| \`${k.path}\` | ${k.type} | ${k.required ? 'yes' : ''} | ${k.default ? `\`${cell(k.default)}\`` : ''} | ${cell(k.description)} | ${k.example ? `\`${cell(k.example)}\`` : ''} |`,
    );
  }
  return lines.join('\n');
}
