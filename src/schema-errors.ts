/**
 * The one translator from zod issues to errors people can act on, shared by
 * `triage.yaml` (`config/load.ts`) and runbooks (`runbooks/loader.ts`).
 *
 * Each problem names the dotted path inside the file
 * (`targets.wushipay.port`, keys with dots quoted: `hosts."web1.example.com"`),
 * the line and column in the YAML (aliases followed), what is wrong, and one
 * fix. Schemas carry their own fix by writing a check's message with
 * {@link say}; for zod's built-in issues the fix is worked out here: unknown
 * keys get "did you mean" against the keys the schema accepts at that path,
 * wrong types say the type expected and the type given, missing keys get an
 * example from the caller.
 *
 * Deliberately left out: YAML syntax errors (each loader words its own, with
 * its own error code) and checks that are not zod issues (runbook lint,
 * known_hosts).
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter, type Node } from 'yaml';
import type { z } from 'zod';
import { type ErrorCode, TriageError } from './errors.ts';

/** Separates what is wrong from the fix in a schema message ({@link say}). */
export const FIX_SEP = '\nfix: ';

/** A check's message with its fix: `say('port out of range', 'use a port from 1 to 65535')`. */
export const say = (what: string, fix: string): string => `${what}${FIX_SEP}${fix}`;

/** What {@link schemaErrors} needs besides the issues. */
export interface SchemaErrorsContext {
  /** The schema that was parsed; unknown keys are matched against the keys it accepts at their path. */
  schema: z.core.$ZodType;
  /** The error code of every problem (`CONFIG_INVALID`, `RUNBOOK_INVALID`). */
  code: ErrorCode;
  /** The file, for the error. */
  file: string;
  /** The data that was parsed, to say what was given. Default: `doc` turned into values. */
  input?: unknown;
  /** The parsed YAML document the data came from, for line numbers. */
  doc: Document;
  lineCounter: LineCounter;
  /**
   * Where the line goes: `suffix` → `port out of range (line 4:11)` (config),
   * `prefix` → `line 4: port out of range` (runbooks, like their lint
   * problems). Default `suffix`.
   */
  lineAt?: 'suffix' | 'prefix';
  /** An example line for a fix at `path` (`port: 8000`), used for missing keys and wrong types. Default none. */
  example?: (path: readonly PropertyKey[]) => string | undefined;
  /** The fix when nothing better is known, e.g. where to read the format. */
  fallbackFix: string;
}

/** zod's own English wording ("Invalid input: ...", "Too small: ..."), as opposed to a message a schema wrote. */
const ZOD_WORDING_RE = /^(Invalid |Too (small|big): |Unrecognized key)/;

type Raw = Record<string, unknown>;
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

type Issue = z.core.$ZodIssue;
/** An issue after {@link flatten}; `isKey` marks a problem with a mapping key rather than its value. */
type FlatIssue = Issue & { isKey?: boolean };
type Seg = PropertyKey;

/** A mapping key as written in a path: quoted when it holds anything but letters, digits, _ and -. */
export function fmtKey(k: Seg): string {
  const s = String(k);
  return /^[A-Za-z0-9_-]+$/.test(s) ? s : JSON.stringify(s);
}

/** `targets.wushipay.port`; keys with dots or spaces are quoted: `hosts."web1.example.com".port`. */
export function fmtPath(path: readonly Seg[]): string {
  return path.map(fmtKey).join('.');
}

/** Edit distance counting a swap of neighbours as one edit, so `prot` is one step from `port`. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The candidate nearest to `word`, if near enough to be a typo (case is ignored). */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(Math.max(word.length, best.length) / 3)) ? best : undefined;
}

/** ` — did you mean 'X'?` when a candidate is near `word`, else `''`. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c ? ` — did you mean '${c}'?` : '';
}

// biome-ignore lint/suspicious/noExplicitAny: walking zod's internal definitions
const def = (s: z.core.$ZodType): any => s._zod.def;

/**
 * `s` and the schemas it wraps (optional, default, prefault, nullable,
 * readonly, a pipe's input), outermost first; the last one is the schema
 * that says what the value is. Shared with the config reference (docs).
 */
export function zodWrappers(s: z.core.$ZodType): z.core.$ZodType[] {
  const d = def(s);
  switch (d.type) {
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
    case 'readonly':
      return [s, ...zodWrappers(d.innerType)];
    case 'pipe':
      return [s, ...zodWrappers(d.in)];
    default:
      return [s];
  }
}

/** The keys an object schema accepts at `path` inside `schema`, for "did you mean". */
function keysAt(schema: z.core.$ZodType, path: readonly Seg[]): string[] {
  const unwrap = (s: z.core.$ZodType): z.core.$ZodType[] => {
    const inner = zodWrappers(s).pop()!;
    const d = def(inner);
    return d.type === 'union' ? d.options.flatMap(unwrap) : [inner];
  };
  let current = unwrap(schema);
  for (const seg of path) {
    current = current.flatMap((s) => {
      const d = def(s);
      if (d.type === 'object') return d.shape[seg as string] ? unwrap(d.shape[seg as string]) : [];
      if (d.type === 'record') return unwrap(d.valueType);
      if (d.type === 'array') return unwrap(d.element);
      return [];
    });
  }
  return [...new Set(current.flatMap((s) => (def(s).type === 'object' ? Object.keys(def(s).shape) : [])))];
}


function typeName(v: unknown): string {
  if (v === null) return 'nothing (null)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return 'text';
  return `a ${typeof v}`;
}

const EXPECTED: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  record: 'a mapping (name: {...})',
  array: 'a list',
};

/** `a, b or c`. */
function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** Where a path points in the YAML, 1-based; `key` points at the key instead of its value. */
function locate(ctx: SchemaErrorsContext, path: readonly Seg[], key = false): { line: number; col: number } | undefined {
  let node: unknown = ctx.doc.contents;
  let found: Node | undefined = ctx.doc.contents ?? undefined;
  for (const [i, seg] of path.entries()) {
    if (isAlias(node)) node = node.resolve(ctx.doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) break;
      const last = i === path.length - 1;
      node = pair.value;
      found = (last && key) || !pair.value ? (pair.key as Node) : (pair.value as Node);
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg]) {
      node = node.items[seg];
      found = node as Node;
    } else {
      break;
    }
  }
  const offset = found?.range?.[0];
  return offset === undefined ? undefined : ctx.lineCounter.linePos(offset);
}

/** Flattens record-key and union issues into the issues a person should read. */
function flatten(issues: readonly Issue[], prefix: readonly Seg[] = []): FlatIssue[] {
  const out: FlatIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'invalid_key') {
      out.push(...flatten(issue.issues, path).map((i): FlatIssue => ({ ...i, isKey: true })));
      continue;
    }
    if (issue.code === 'invalid_union' && !issue.message.includes(FIX_SEP)) {
      // The input had the shape of exactly one alternative: report that one's problems.
      const near = issue.errors.filter((errs) => errs.some((e) => e.path.length > 0 || (e.code !== 'invalid_type' && e.code !== 'invalid_value')));
      if (near.length === 1) {
        out.push(...flatten(near[0], path));
        continue;
      }
    }
    out.push({ ...issue, path });
  }
  return out;
}

function valueAt(raw: unknown, path: readonly Seg[]): unknown {
  let v = raw;
  for (const seg of path) v = isObj(v) || Array.isArray(v) ? (v as Record<PropertyKey, unknown>)[seg as string] : undefined;
  return v;
}

/**
 * Turns zod issues into one {@link TriageError} per problem, sorted by line:
 * the dotted path, the line (and column) in the YAML, what is wrong and how
 * to fix it. A message written with {@link say} is used as it is; zod's own
 * issues are worded here: an unknown key with the key it was probably meant
 * to be, a wrong type with the type expected and the type given, a value not
 * in an enum with the nearest allowed one.
 */
export function schemaErrors(issues: readonly Issue[], ctx: SchemaErrorsContext): TriageError[] {
  const raw = 'input' in ctx ? ctx.input : ctx.doc.toJS();
  const errors: { err: TriageError; line: number; col: number }[] = [];
  const seen = new Set<string>();
  const add = (path: readonly Seg[], what: string, fix: string, atKey = false) => {
    const pathText = fmtPath(path);
    const id = `${pathText}\0${what}`;
    if (seen.has(id)) return;
    seen.add(id);
    const pos = locate(ctx, path, atKey);
    const message = !pos ? what : ctx.lineAt === 'prefix' ? `line ${pos.line}: ${what}` : `${what} (line ${pos.line}:${pos.col})`;
    errors.push({
      err: new TriageError(ctx.code, message, { file: ctx.file, path: pathText || undefined, fix }),
      line: pos?.line ?? 0,
      col: pos?.col ?? 0,
    });
  };

  for (const issue of flatten(issues)) {
    const path = issue.path;
    const last = path[path.length - 1];
    const isKey = issue.isKey === true;
    if (issue.message.includes(FIX_SEP)) {
      const [what, fix] = issue.message.split(FIX_SEP);
      add(path, isKey ? `${what}: '${String(last)}'` : what, fix, isKey);
      continue;
    }
    if (issue.code !== 'unrecognized_keys' && !ZOD_WORDING_RE.test(issue.message)) {
      // The schema said what is wrong (e.g. "30 has no unit: write 30s"); keep its words.
      const example = ctx.example?.(path);
      add(path, isKey ? `${issue.message}: '${String(last)}'` : issue.message, example ? `write it like ${example}` : ctx.fallbackFix, isKey);
      continue;
    }
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = keysAt(ctx.schema, path.filter((s) => typeof s !== 'symbol'));
        for (const key of issue.keys) {
          const guess = closest(key, known);
          add(
            [...path, key],
            `unknown key '${key}'${guess ? ` — did you mean '${guess}'?` : ''}`,
            guess ? `rename '${key}' to '${guess}'` : known.length ? `remove it; allowed here: ${known.join(', ')}` : `remove it (${ctx.fallbackFix})`,
            true,
          );
        }
        break;
      }
      case 'invalid_type': {
        const input = valueAt(raw, path);
        const expected = EXPECTED[issue.expected] ?? issue.expected;
        const example = ctx.example?.(path);
        if (input === undefined) {
          add(path, `missing required key '${String(last)}'`, example ? `add ${example}` : `add ${String(last)}: here`);
        } else if (input === null) {
          add(path, `'${String(last)}' is empty`, example ? `give it a value, e.g. ${example}` : `give it a value (${expected})`);
        } else if (issue.expected === 'string' && (typeof input === 'number' || typeof input === 'boolean')) {
          add(path, `expected text, got ${typeName(input)}`, `quote the value, e.g. ${String(last)}: "${String(input)}"`);
        } else {
          add(path, `expected ${expected}, got ${typeName(input)}`, example ? `write it like ${example}` : `change it to ${expected}`);
        }
        break;
      }
      case 'invalid_value': {
        const allowed = issue.values.map(String);
        const input = valueAt(raw, path);
        const guess = typeof input === 'string' ? closest(input, allowed) : undefined;
        add(
          path,
          `${typeof input === 'string' ? `'${input}' is not allowed` : 'value not allowed'}${guess ? ` — did you mean '${guess}'?` : ''}`,
          `use one of: ${allowed.join(', ')}`,
        );
        break;
      }
      case 'invalid_union': {
        // No alternative came close (flatten reports the one that did): say which kinds of value would do.
        const input = valueAt(raw, path);
        const atRoot = issue.errors.flatMap((errs) => errs.filter((e) => e.path.length === 0));
        const kinds = atRoot.flatMap((e) => (e.code === 'invalid_type' ? [EXPECTED[e.expected] ?? e.expected] : e.code === 'invalid_value' ? e.values.map((v) => `'${String(v)}'`) : []));
        const options = orList([...new Set(kinds)]);
        const example = ctx.example?.(path);
        if (input === undefined) add(path, `missing required key '${String(last)}'`, example ? `add ${example}` : `add ${String(last)}: here`);
        else if (options) add(path, `expected ${options}, got ${typeName(input)}`, example ? `write it like ${example}` : `change it to ${options}`);
        else add(path, 'not one of the allowed forms', example ? `write it like ${example}` : ctx.fallbackFix);
        break;
      }
      case 'too_small':
      case 'too_big': {
        const bound = Number(issue.code === 'too_small' ? issue.minimum : issue.maximum);
        if (issue.origin === 'array') {
          const example = ctx.example?.(path);
          if (issue.code === 'too_big') add(path, `has more than ${bound} entries`, `keep at most ${bound}`);
          else add(path, bound === 1 ? 'the list is empty' : `needs at least ${bound} entries`, example ? `write it like ${example}` : `add at least ${bound}`);
        }
        else if (issue.origin === 'string') add(path, issue.code === 'too_small' ? 'is empty' : `is longer than ${bound} characters`, 'shorten or fill it in');
        else add(path, `must be ${issue.code === 'too_small' ? 'at least' : 'at most'} ${bound}`, `use a value ${issue.code === 'too_small' ? '>=' : '<='} ${bound}`);
        break;
      }
      default: {
        const example = ctx.example?.(path);
        add(path, issue.message, example ? `write it like ${example}` : ctx.fallbackFix, isKey);
      }
    }
  }
  return errors.sort((a, b) => a.line - b.line || a.col - b.col).map((e) => e.err);
}
