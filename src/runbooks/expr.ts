/**
 * The runbook expression language: conditions such as
 * `service.state != 'active' && !listen.listening` in `when` and `status.*`.
 *
 * A hand-written tokenizer and precedence-climbing parser turn the source into
 * a tree of closures; nothing is ever passed to `eval` or `new Function`, and
 * an expression can only read the context it is given.
 *
 * Deliberately left out: assignment, user-defined functions, method calls,
 * bracket indexing (`a[0]`; write `a.0`), ternaries, `Map` values, regex
 * literals (`/x/`; regexes are strings), regex flags other than `m`.
 */
import { TriageError } from '../errors.ts';

/** A parsed expression, ready to evaluate against any number of contexts. */
export interface CompiledExpr {
  readonly source: string;
  /** Evaluates against `ctx`; never returns `undefined` (missing values are `null`). */
  evaluate(ctx: Record<string, unknown>): unknown;
  /** dotted paths referenced, e.g. ['service.state','params.x'] */
  readonly paths: string[];
}

/** Longest accepted source, in characters. */
const MAX_SOURCE = 2000;
/** Deepest nesting of parentheses, lists, calls and unary operators. */
const MAX_DEPTH = 64;
/** Compiled expressions and regexes kept; runbooks hold far fewer. */
const CACHE_LIMIT = 1000;

const SYNTAX_FIX = "write expressions like: service.state != 'active' && !listen.listening";

// ---------------------------------------------------------------------------
// Values

/** `null`/`undefined`/`false`/`0`/`NaN`/`''`/`[]` are false; everything else is true. */
export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return Boolean(v);
}

const NUMERIC = /^\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*$/;

/** The number a number or numeric string stands for; `undefined` for anything else. */
function numeric(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && NUMERIC.test(v)) return Number(v);
  return undefined;
}

function toNumber(v: unknown): number {
  return numeric(v) ?? Number.NaN;
}

/** Infinity and NaN never leak out of arithmetic: they become `null`. */
function finiteOrNull(n: number): number | null {
  return Number.isFinite(n) ? n : null;
}

function toText(v: unknown, listSep = ', '): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.map((x) => toText(x, listSep)).join(listSep);
  try {
    return JSON.stringify(v) ?? '';
  } catch {
    return '';
  }
}

function looseEquals(a: unknown, b: unknown): boolean {
  const x = a ?? null;
  const y = b ?? null;
  if (x === null || y === null) return x === y;
  if (Array.isArray(x) && Array.isArray(y)) {
    return x.length === y.length && x.every((v, i) => looseEquals(v, y[i]));
  }
  const nx = numeric(x);
  const ny = numeric(y);
  if (nx !== undefined && ny !== undefined) return nx === ny;
  return x === y;
}

function compare(a: unknown, b: unknown, op: string): boolean {
  const na = numeric(a);
  const nb = numeric(b);
  let l: number | string;
  let r: number | string;
  if (na !== undefined && nb !== undefined && Number.isFinite(na) && Number.isFinite(nb)) {
    l = na;
    r = nb;
  } else if (typeof a === 'string' && typeof b === 'string') {
    l = a;
    r = b;
  } else {
    return false;
  }
  switch (op) {
    case '<':
      return l < r;
    case '<=':
      return l <= r;
    case '>':
      return l > r;
    default:
      return l >= r;
  }
}

function inside(needle: unknown, haystack: unknown): boolean {
  if (Array.isArray(haystack)) return haystack.some((v) => looseEquals(needle, v));
  if (typeof haystack === 'string') return needle !== null && needle !== undefined && haystack.includes(toText(needle));
  return false;
}

const regexCache = new Map<string, RegExp>();

function regex(source: string): RegExp {
  let re = regexCache.get(source);
  if (re) return re;
  try {
    re = new RegExp(source, 'm');
  } catch (err) {
    const why = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    throw new TriageError('EXPR_INVALID', `invalid regular expression '${source}' (${why})`, {
      fix: "remember backslashes in regexes, e.g. '\\d+' for digits",
      cause: err,
    });
  }
  if (regexCache.size >= CACHE_LIMIT) regexCache.delete(regexCache.keys().next().value as string);
  regexCache.set(source, re);
  return re;
}

/** Lists are searched line by line (joined with newlines) so `^…$` works per element. */
function regexMatch(subject: unknown, pattern: unknown): boolean {
  if (typeof pattern !== 'string' && typeof pattern !== 'number') return false;
  return regex(String(pattern)).test(toText(subject, '\n'));
}

// ---------------------------------------------------------------------------
// Paths

const BLOCKED = new Set(['__proto__', 'constructor', 'prototype']);

function lookup(ctx: unknown, segments: readonly string[]): unknown {
  let cur = ctx;
  for (const seg of segments) {
    if (cur === null || typeof cur !== 'object' || BLOCKED.has(seg)) return null;
    // Own enumerable only: inherited members (toString, length of strings…) read as null.
    if (!Object.prototype.propertyIsEnumerable.call(cur, seg)) return null;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur === undefined || typeof cur === 'function' ? null : cur;
}

// ---------------------------------------------------------------------------
// Functions

interface FnSpec {
  min: number;
  max: number;
  /** Index of an argument that is a regex; validated at compile time when it is a literal. */
  regexArg?: number;
  call(args: unknown[]): unknown;
}

function flatNumbers(args: unknown[]): number[] {
  return args
    .flatMap((a) => (Array.isArray(a) ? a : [a]))
    .map(numeric)
    .filter((n): n is number => n !== undefined && Number.isFinite(n));
}

const FUNCTIONS: Record<string, FnSpec> = {
  /** String or list length; objects count keys; `null` is 0. */
  len: {
    min: 1,
    max: 1,
    call: ([x]) => {
      if (x === null || x === undefined) return 0;
      if (typeof x === 'string' || Array.isArray(x)) return x.length;
      if (typeof x === 'object') return Object.keys(x).length;
      return toText(x).length;
    },
  },
  /** `null`, blank strings, `[]` and `{}`. */
  empty: {
    min: 1,
    max: 1,
    call: ([x]) => {
      if (x === null || x === undefined) return true;
      if (typeof x === 'string') return x.trim() === '';
      if (Array.isArray(x)) return x.length === 0;
      if (typeof x === 'object') return Object.keys(x).length === 0;
      return false;
    },
  },
  num: { min: 1, max: 1, call: ([x]) => finiteOrNull(toNumber(x)) },
  str: { min: 1, max: 1, call: ([x]) => toText(x) },
  lower: { min: 1, max: 1, call: ([x]) => toText(x).toLowerCase() },
  contains: { min: 2, max: 2, call: ([a, b]) => inside(b, a) },
  matches: { min: 2, max: 2, regexArg: 1, call: ([s, re]) => regexMatch(s, re) },
  first: { min: 1, max: 1, call: ([l]) => (Array.isArray(l) && l.length > 0 ? (l[0] ?? null) : null) },
  last: { min: 1, max: 1, call: ([l]) => (Array.isArray(l) && l.length > 0 ? (l[l.length - 1] ?? null) : null) },
  /** Separator defaults to `', '`. */
  join: {
    min: 1,
    max: 2,
    call: ([l, sep]) => (Array.isArray(l) ? toText(l, sep === undefined ? ', ' : toText(sep)) : toText(l)),
  },
  /** List length; for a string (a step's output), its non-blank lines. */
  count: {
    min: 1,
    max: 1,
    call: ([l]) => {
      if (l === null || l === undefined) return 0;
      if (Array.isArray(l)) return l.length;
      if (typeof l === 'string') return l.split('\n').filter((line) => line.trim() !== '').length;
      return 1;
    },
  },
  any: {
    min: 2,
    max: 2,
    regexArg: 1,
    call: ([l, re]) => {
      if (l === null || l === undefined) return false;
      return Array.isArray(l) ? l.some((v) => regexMatch(v, re)) : regexMatch(l, re);
    },
  },
  default: { min: 2, max: 2, call: ([a, b]) => a ?? b },
  /** Lists among the arguments are flattened; non-numbers ignored; none left → null. */
  max: {
    min: 1,
    max: Number.POSITIVE_INFINITY,
    call: (args) => {
      const ns = flatNumbers(args);
      return ns.length ? Math.max(...ns) : null;
    },
  },
  min: {
    min: 1,
    max: Number.POSITIVE_INFINITY,
    call: (args) => {
      const ns = flatNumbers(args);
      return ns.length ? Math.min(...ns) : null;
    },
  },
};

/** The name of every function expressions may call, in table order (docs/runbooks.md documents each). */
export const EXPR_FUNCTIONS: readonly string[] = Object.keys(FUNCTIONS);

// ---------------------------------------------------------------------------
// Tokenizer

type Token =
  | { kind: 'num'; col: number; text: string; value: number }
  | { kind: 'str'; col: number; text: string; value: string }
  | { kind: 'path'; col: number; text: string; segments: string[] }
  | { kind: 'op'; col: number; text: string }
  | { kind: 'eof'; col: number; text: string };

const KEYWORD_OPS = new Set(['in']);
const LITERALS = new Map<string, unknown>([
  ['true', true],
  ['false', false],
  ['null', null],
]);
const TWO_CHAR_OPS = new Set(['==', '!=', '<=', '>=', '=~', '!~', '&&', '||']);
const ONE_CHAR_OPS = new Set(['<', '>', '!', '+', '-', '*', '/', '%', '(', ')', '[', ']', ',']);
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;
const DIGITS = /[0-9]+/y;
const NUMBER = /[0-9]+(?:\.[0-9]+)?/y;

/** `expected ')' at column 14, found …: <source>` — `what` comes before the column, `more` after it. */
function fail(source: string, col: number, what: string, more = '', fix = SYNTAX_FIX): TriageError {
  const shown = source.length > 120 ? `${source.slice(0, 117)}...` : source || "''";
  return new TriageError('EXPR_INVALID', `${what} at column ${col}${more ? `, ${more}` : ''}: ${shown}`, { fix });
}

function describe(tok: Token): string {
  return tok.kind === 'eof' ? 'the end of the expression' : `'${tok.text}'`;
}

function readAt(re: RegExp, src: string, i: number): string | null {
  re.lastIndex = i;
  const m = re.exec(src);
  return m ? m[0] : null;
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const col = i + 1;
    const num = readAt(NUMBER, src, i);
    if (num) {
      out.push({ kind: 'num', col, text: num, value: Number(num) });
      i += num.length;
      continue;
    }
    if (c === "'" || c === '"') {
      let value = '';
      let j = i + 1;
      for (; j < src.length && src[j] !== c; j++) {
        if (src[j] === '\\' && j + 1 < src.length) {
          j++;
          // Unknown escapes keep their backslash so regexes like '\d+' work as written.
          value += ESCAPES[src[j]] ?? `\\${src[j]}`;
        } else {
          value += src[j];
        }
      }
      if (j >= src.length) throw fail(src, col, 'unterminated string', `expected a closing ${c}`);
      out.push({ kind: 'str', col, text: src.slice(i, j + 1), value });
      i = j + 1;
      continue;
    }
    const ident = readAt(IDENT, src, i);
    if (ident) {
      const segments = [ident];
      let j = i + ident.length;
      while (src[j] === '.') {
        const seg = readAt(IDENT, src, j + 1) ?? readAt(DIGITS, src, j + 1);
        if (!seg) break;
        segments.push(seg);
        j += 1 + seg.length;
      }
      const text = src.slice(i, j);
      if (segments.length === 1 && KEYWORD_OPS.has(ident)) out.push({ kind: 'op', col, text });
      else if (segments.length > 1 && (LITERALS.has(ident) || KEYWORD_OPS.has(ident))) {
        throw fail(src, col, `'${ident}' is a keyword and cannot start a path`);
      } else out.push({ kind: 'path', col, text, segments });
      i = j;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (TWO_CHAR_OPS.has(two)) {
      out.push({ kind: 'op', col, text: two });
      i += 2;
      continue;
    }
    if (ONE_CHAR_OPS.has(c)) {
      out.push({ kind: 'op', col, text: c });
      i++;
      continue;
    }
    if (c === '=') throw fail(src, col, "expected '==' or '=~'", "a single '=' is not an operator");
    if (c === '&') throw fail(src, col, "expected '&&'");
    if (c === '|') throw fail(src, col, "expected '||'");
    throw fail(src, col, `unexpected character '${c}'`);
  }
  out.push({ kind: 'eof', col: src.length + 1, text: '' });
  return out;
}

// ---------------------------------------------------------------------------
// Parser: precedence climbing over the token list, producing closures.

type Ctx = Record<string, unknown>;
type Eval = (ctx: Ctx) => unknown;

interface Node {
  ev: Eval;
  /** Set for literals, so regex arguments can be checked at compile time. */
  literal?: { value: unknown };
}

/** Binding power per binary operator; higher binds tighter. */
const PRECEDENCE: Record<string, number> = {
  '||': 1,
  '&&': 2,
  '==': 3,
  '!=': 3,
  '<': 4,
  '<=': 4,
  '>': 4,
  '>=': 4,
  '=~': 4,
  '!~': 4,
  in: 4,
  '+': 5,
  '-': 5,
  '*': 6,
  '/': 6,
  '%': 6,
};

/** Every operator: the binary ones in precedence order, then unary `!` (unary `-` is the binary one's spelling). */
export const EXPR_OPERATORS: readonly string[] = [...Object.keys(PRECEDENCE), '!'];
/** The literal words (`true`, `false`, `null`). */
export const EXPR_LITERALS: readonly string[] = [...LITERALS.keys()];

function binary(op: string, l: Eval, r: Eval): Eval {
  switch (op) {
    case '||':
      return (c) => truthy(l(c)) || truthy(r(c));
    case '&&':
      return (c) => truthy(l(c)) && truthy(r(c));
    case '==':
      return (c) => looseEquals(l(c), r(c));
    case '!=':
      return (c) => !looseEquals(l(c), r(c));
    case '<':
    case '<=':
    case '>':
    case '>=':
      return (c) => compare(l(c), r(c), op);
    case '=~':
      return (c) => regexMatch(l(c), r(c));
    case '!~':
      return (c) => !regexMatch(l(c), r(c));
    case 'in':
      return (c) => inside(l(c), r(c));
    case '+':
      return (c) => {
        const a = l(c);
        const b = r(c);
        if (Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
        if (typeof a === 'string' || typeof b === 'string') return toText(a) + toText(b);
        return finiteOrNull(toNumber(a) + toNumber(b));
      };
    case '-':
      return (c) => finiteOrNull(toNumber(l(c)) - toNumber(r(c)));
    case '*':
      return (c) => finiteOrNull(toNumber(l(c)) * toNumber(r(c)));
    case '/':
      return (c) => finiteOrNull(toNumber(l(c)) / toNumber(r(c)));
    default:
      return (c) => finiteOrNull(toNumber(l(c)) % toNumber(r(c)));
  }
}

class Parser {
  private pos = 0;
  private depth = 0;
  readonly paths = new Set<string>();

  constructor(
    private readonly src: string,
    private readonly toks: Token[],
  ) {}

  parse(): Node {
    if (this.peek().kind === 'eof') throw fail(this.src, 1, 'expected an expression', 'got an empty string');
    const node = this.expr(1);
    const tok = this.peek();
    if (tok.kind !== 'eof') throw fail(this.src, tok.col, 'expected an operator or the end', `found ${describe(tok)}`);
    return node;
  }

  private peek(): Token {
    return this.toks[this.pos];
  }

  private next(): Token {
    return this.toks[this.pos++];
  }

  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === text;
  }

  private expect(text: string, context: string): void {
    const tok = this.peek();
    if (!this.isOp(text)) throw fail(this.src, tok.col, `expected '${text}'`, `found ${describe(tok)} ${context}`);
    this.pos++;
  }

  private enter(col: number): void {
    if (++this.depth > MAX_DEPTH) throw fail(this.src, col, `nesting deeper than ${MAX_DEPTH} levels`);
  }

  private expr(minPrec: number): Node {
    this.enter(this.peek().col);
    let left = this.unary();
    for (;;) {
      const tok = this.peek();
      const prec = tok.kind === 'op' ? PRECEDENCE[tok.text] : undefined;
      if (prec === undefined || prec < minPrec) break;
      this.pos++;
      const rightCol = this.peek().col;
      const right = this.expr(prec + 1);
      if ((tok.text === '=~' || tok.text === '!~') && right.literal) this.checkRegex(right.literal.value, rightCol);
      left = { ev: binary(tok.text, left.ev, right.ev) };
    }
    this.depth--;
    return left;
  }

  private unary(): Node {
    const tok = this.peek();
    if (this.isOp('!') || this.isOp('-')) {
      this.pos++;
      this.enter(tok.col);
      const operand = this.unary().ev;
      this.depth--;
      if (tok.text === '!') return { ev: (c) => !truthy(operand(c)) };
      return { ev: (c) => finiteOrNull(-toNumber(operand(c))) };
    }
    return this.primary();
  }

  private primary(): Node {
    const tok = this.next();
    switch (tok.kind) {
      case 'num':
      case 'str': {
        const value = tok.value;
        return { ev: () => value, literal: { value } };
      }
      case 'path':
        return this.isOp('(') ? this.call(tok) : this.path(tok);
      case 'op':
        if (tok.text === '(') {
          const inner = this.expr(1);
          this.expect(')', `(to close '(' from column ${tok.col})`);
          return inner;
        }
        if (tok.text === '[') return this.list(tok);
        break;
    }
    throw fail(this.src, tok.col, 'expected a value', `found ${describe(tok)}`);
  }

  private path(tok: Extract<Token, { kind: 'path' }>): Node {
    if (tok.segments.length === 1 && LITERALS.has(tok.text)) {
      const value = LITERALS.get(tok.text);
      return { ev: () => value, literal: { value } };
    }
    this.paths.add(tok.text);
    const segments = tok.segments;
    return { ev: (c) => lookup(c, segments) };
  }

  private list(open: Token): Node {
    const items: Eval[] = [];
    while (!this.isOp(']')) {
      items.push(this.expr(1).ev);
      if (!this.isOp(',')) break;
      this.pos++;
    }
    this.expect(']', `(to close '[' from column ${open.col})`);
    return { ev: (c) => items.map((ev) => ev(c) ?? null) };
  }

  private call(name: Extract<Token, { kind: 'path' }>): Node {
    const fn = Object.hasOwn(FUNCTIONS, name.text) ? FUNCTIONS[name.text] : undefined;
    if (!fn) {
      const fix = `use one of: ${Object.keys(FUNCTIONS).join(', ')}`;
      throw fail(this.src, name.col, `unknown function '${name.text}'`, '', fix);
    }
    this.pos++; // '('
    const args: Node[] = [];
    while (!this.isOp(')')) {
      args.push(this.expr(1));
      if (!this.isOp(',')) break;
      this.pos++;
    }
    this.expect(')', `(to close ${name.text}())`);
    if (args.length < fn.min || args.length > fn.max) {
      const want = fn.min === fn.max ? `${fn.min}` : fn.max === Number.POSITIVE_INFINITY ? `at least ${fn.min}` : `${fn.min} or ${fn.max}`;
      throw fail(this.src, name.col, `${name.text}() takes ${want} argument${want === '1' ? '' : 's'}`, `got ${args.length}`);
    }
    const re = fn.regexArg === undefined ? undefined : args[fn.regexArg]?.literal;
    if (re) this.checkRegex(re.value, name.col);
    const evs = args.map((a) => a.ev);
    return { ev: (c) => fn.call(evs.map((ev) => ev(c))) ?? null };
  }

  private checkRegex(value: unknown, col: number): void {
    if (typeof value !== 'string') return;
    try {
      regex(value);
    } catch (err) {
      throw fail(this.src, col, (err as Error).message, '', (err as TriageError).fix);
    }
  }
}

// ---------------------------------------------------------------------------
// Public API

const compiled = new Map<string, CompiledExpr>();

/**
 * Parses `source` once and caches the result by source text (up to 1000
 * expressions). Throws `TriageError('EXPR_INVALID')` naming the column for
 * bad syntax, unknown functions, wrong argument counts, invalid literal
 * regexes, sources over 2000 characters and empty sources.
 */
export function compileExpr(source: string): CompiledExpr {
  const hit = compiled.get(source);
  if (hit) return hit;
  if (typeof source !== 'string') {
    throw new TriageError('EXPR_INVALID', `expected an expression string, got ${typeof source}`, {
      fix: 'quote the expression in YAML',
    });
  }
  if (source.length > MAX_SOURCE) {
    throw new TriageError('EXPR_INVALID', `expression is ${source.length} characters long (limit ${MAX_SOURCE})`, {
      fix: 'split the condition across steps or captures',
    });
  }
  const parser = new Parser(source, tokenize(source));
  const root = parser.parse().ev;
  const expr: CompiledExpr = {
    source,
    paths: [...parser.paths],
    evaluate: (ctx) => root(ctx) ?? null,
  };
  if (compiled.size >= CACHE_LIMIT) compiled.delete(compiled.keys().next().value as string);
  compiled.set(source, expr);
  return expr;
}

/** Compiles (cached) and evaluates in one go. Evaluation never throws except for an invalid non-literal regex. */
export function evaluateExpr(source: string, ctx: Record<string, unknown>): unknown {
  return compileExpr(source).evaluate(ctx);
}
