/**
 * `${{ expr }}` templates. In commands every value is shell-quoted (a list
 * becomes several quoted words), so no value can change the command's shape;
 * a probe's `args:`/`env:` are quoted whole, literal text included
 * ({@link renderWord}); in text (titles, evidence, fixes) values are
 * inserted as they are.
 */
import { TriageError } from '../errors.ts';
import { compileExpr } from './expr.ts';

const TEMPLATE = /\$\{\{([\s\S]*?)\}\}/g;

/** Quotes one word for POSIX sh: `it's` → `'it'\''s'`. */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new TriageError('TEMPLATE_ERROR', 'a value contains a NUL byte and cannot be passed to a shell');
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A value a command needs is not set (e.g. the target has no `nginx.site`): the step is skipped. */
export class MissingValueError extends TriageError {
  override name = 'MissingValueError';
  constructor(readonly expr: string) {
    super('TEMPLATE_ERROR', `not configured: ${expr}`);
  }
}

/** The expressions used in a template, in order. */
export function templateExprs(template: string): string[] {
  return [...template.matchAll(TEMPLATE)].map((m) => m[1]!.trim());
}

/** Fills a command template; throws {@link MissingValueError} when a value is null or missing. */
export function renderCommand(template: string, ctx: Record<string, unknown>): string {
  return template.replace(TEMPLATE, (_m, src: string) => {
    const expr = src.trim();
    const v = compileExpr(expr).evaluate(ctx);
    if (v === null || v === undefined) throw new MissingValueError(expr);
    if (Array.isArray(v)) return v.map((x) => shellQuote(toText(x))).join(' ');
    return shellQuote(toText(v));
  });
}

/**
 * Fills one probe argument or environment value and quotes it as a single
 * shell word: literal text and values alike, so nothing in a runbook's
 * `args:`/`env:` is ever read as shell code. A list inside a word is joined
 * with newlines. Throws {@link MissingValueError} when a value is null.
 */
export function renderWord(template: string, ctx: Record<string, unknown>): string {
  return shellQuote(fillValues(template, ctx));
}

/**
 * Fills a probe's `args:` into quoted words. An argument written as exactly
 * `${{ expr }}` whose value is a list becomes one word per item (none for an
 * empty list); any other argument is one word ({@link renderWord}).
 */
export function renderArgs(templates: readonly string[], ctx: Record<string, unknown>): string[] {
  return templates.flatMap((tpl) => {
    const whole = /^\$\{\{([\s\S]*?)\}\}$/.exec(tpl.trim());
    if (whole && !whole[1]!.includes('}}')) {
      const expr = whole[1]!.trim();
      const v = compileExpr(expr).evaluate(ctx);
      if (v === null || v === undefined) throw new MissingValueError(expr);
      if (Array.isArray(v)) return v.map((x) => shellQuote(toText(x)));
    }
    return [renderWord(tpl, ctx)];
  });
}

function fillValues(template: string, ctx: Record<string, unknown>): string {
  return template.replace(TEMPLATE, (_m, src: string) => {
    const expr = src.trim();
    const v = compileExpr(expr).evaluate(ctx);
    if (v === null || v === undefined) throw new MissingValueError(expr);
    return Array.isArray(v) ? v.map(toText).join('\n') : toText(v);
  });
}

/** Fills a text template. `missing` tells whether any value was null or empty (evidence lines are then dropped). */
export function renderText(template: string, ctx: Record<string, unknown>): { text: string; missing: boolean } {
  let missing = false;
  const text = template.replace(TEMPLATE, (_m, src: string) => {
    const v = compileExpr(src.trim()).evaluate(ctx);
    if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) {
      missing = true;
      return '';
    }
    return Array.isArray(v) ? v.map(toText).join(', ') : toText(v);
  });
  return { text: text.trim(), missing };
}

/** The template with every `${{ … }}` shown as `mark` (for a step that never ran). */
export function blankTemplate(template: string, mark = '…'): string {
  return template.replace(TEMPLATE, mark);
}

function toText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
