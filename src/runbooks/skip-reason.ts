/**
 * Why a step did not run, in the words of someone on call — never the
 * expression source. "skipped: no nginx in the config", not
 * "condition not met: target.nginx != null".
 *
 * A runbook may say it itself (a step's `skip:` text); otherwise the reason
 * is derived from what the `when` condition looked at: config facts that are
 * not set, or earlier steps whose outcome made this one unnecessary.
 */
import type { Step } from './schema.ts';
import { blankTemplate, renderText } from './template.ts';

const REF = /\b([A-Za-z_][\w-]*)((?:\.[A-Za-z_][\w-]*)+)/g;

/** The plain-language reason a step whose `when` was false is skipped. */
export function skipReasonFor(step: Step & { skip?: string }, ctx: Record<string, unknown>): string {
  if (step.skip) return renderText(step.skip, ctx).text || step.skip;
  const refs = [...(step.when ?? '').matchAll(REF)].map((m) => [m[1]!, ...m[2]!.slice(1).split('.')]);
  const missing = unique(refs.filter((r) => r[0] === 'target' && lookup(ctx, r) == null).map((r) => factName(r, ctx)));
  if (missing.length) return `no ${missing.join(' or ')} in the config`;
  const steps = unique(refs.filter((r) => r[0] !== 'target' && r[0] !== 'params' && r[0] !== 'host' && isStep(ctx[r[0]])).map((r) => r[0]!));
  if (steps.length) {
    const said = steps.map((id) => {
      const s = ctx[id] as { status?: string; title?: string };
      return `${id} ${s.status === 'skipped' ? 'was skipped' : s.status === 'pass' ? 'passed' : `was ${s.status}`}`;
    });
    return `not needed: ${said.join(', ')}`;
  }
  const facts = unique(refs.filter((r) => r[0] === 'target').map((r) => `${factName(r)} is ${describe(lookup(ctx, r))}`));
  if (facts.length) return `does not apply: ${facts.join(', ')}`;
  const params = unique(refs.filter((r) => r[0] === 'params').map((r) => `${r.slice(1).join('.')} is ${describe(lookup(ctx, r))}`));
  if (params.length) return `not asked for: ${params.join(', ')}`;
  return 'does not apply to this host';
}

/** A command needed a config fact that is not set: `target.nginx.site` → "no nginx.site in the config". */
export function missingValueReason(expr: string, ctx?: Record<string, unknown>): string {
  const m = /^\s*target((?:\.[A-Za-z_][\w-]*)+)\s*$/.exec(expr);
  if (m) return `no ${factName(['target', ...m[1]!.slice(1).split('.')], ctx)} in the config`;
  const p = /^\s*params\.([A-Za-z_][\w-]*)\s*$/.exec(expr);
  if (p) return `parameter ${p[1]} was not given`;
  return 'a value it needs is not known here';
}

/**
 * A title for a step that never ran: the template filled with what is
 * known, or — when a value is missing — its words up to the first
 * placeholder ("database … at …:…" → "database"), never placeholders.
 */
export function skippedTitle(step: Step, ctx?: Record<string, unknown>): string {
  if (ctx) {
    const r = renderText(step.title, ctx);
    if (!r.missing && r.text) return r.text;
  }
  const head = step.title.split('${{')[0]!.replace(/[\s:,(–—-]+$/u, '');
  const cut = head.replace(/\s+(at|on|of|for|in|from|to|via|with|and)$/i, '').trim();
  return cut || blankTemplate(step.title, '').replace(/\s+/g, ' ').trim() || step.id;
}

/** `target.nginx.site` with no `nginx` at all reads "nginx"; with `nginx` but no `site`, "nginx.site". */
function factName(ref: string[], ctx?: Record<string, unknown>): string {
  if (ctx) {
    for (let i = 2; i <= ref.length; i++) if (lookup(ctx, ref.slice(0, i)) == null) return ref.slice(1, i).join('.');
  }
  return ref.slice(1).join('.');
}

function lookup(ctx: Record<string, unknown>, path: string[]): unknown {
  let v: unknown = ctx;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function isStep(v: unknown): boolean {
  return v !== null && typeof v === 'object' && 'status' in (v as object) && 'ran' in (v as object);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'not set';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return 'set';
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
