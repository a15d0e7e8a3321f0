/**
 * Remediation: the fix a finding offers as a host-changing step, run only
 * once someone approved it, then checked.
 *
 * How a runbook says it: a finding names a `changes: true` step in `remedy:`
 * (`remedy: restart`); that step lists in `recheck:` the earlier steps that
 * tell whether it worked (`recheck: [service, listen, health]`). After the
 * host's checks, the engine ranks the host's findings; only when the most
 * likely cause names a remedy is that step offered. It asks for approval
 * (chat: an operator's Approve; CLI: `--approve restart`), runs, and then its
 * re-check steps run again — repeated for up to `settle` (default 10 s) until
 * they pass, since a restarted app takes a moment to listen. It `worked` when
 * every re-checked step passes (or warns): the runbook names in `recheck` the
 * steps that prove the problem gone. (The finding itself may rest on facts no
 * re-check can renew, such as log lines already written.) When it did not
 * work, the evidence is the failing re-checks and the finding that holds now.
 * Remedy steps that were not offered are recorded as skipped, saying why —
 * except on a healthy host, whose result lists only its checks.
 *
 * Re-check results are recorded (and persisted, for resuming) as steps with
 * the id `<step>.recheck`; they appear in the run's `remediation`, not in
 * `hosts[].steps`.
 *
 * Deliberately left out: running commands and asking for approval (the
 * engine's `run` and the caller's `approve` do that), and which host gets to
 * fix first — each host fixes its own cause.
 */
import type { HostSpec } from '../executors/executor.ts';
import { evaluateExpr, truthy } from './expr.ts';
import type { Finding, RecheckResult, Remediation, StepResult, StepStatus } from './result.ts';
import type { FindingRule, Runbook, Step } from './schema.ts';
import { skippedTitle } from './skip-reason.ts';

/** An answer to "may this step change the host?". `by` is who said so (audited in the result). */
export interface Approval {
  approved: boolean;
  /** Who approved (`cli:alice`, `slack:U999`). */
  by?: string;
  /** Why not, in words (e.g. `needs approval: re-run with --approve restart`). */
  reason?: string;
}

/** What `approve` callbacks may answer: a plain yes/no, or an {@link Approval}. */
export type ApprovalAnswer = boolean | Approval;

/** Normalises an {@link ApprovalAnswer}. */
export function toApproval(a: ApprovalAnswer): Approval {
  // Only an explicit true approves.
  return typeof a === 'boolean' ? { approved: a } : { ...a, approved: a.approved === true };
}

/** The stored id of a re-check of step `id`. */
export function recheckId(id: string): string {
  return `${id}.recheck`;
}

/** Ids of the steps some finding of the runbook names as its remedy. */
export function remedySteps(runbook: Runbook): Set<string> {
  const out = new Set<string>();
  for (const f of runbook.findings) if (f.remedy) out.add(f.remedy);
  for (const s of runbook.steps) if (s.finding?.remedy) out.add(s.finding.remedy);
  return out;
}

/** One ranked finding of a host, with the rule it came from. */
export interface RankedFinding {
  f: Finding;
  rule: FindingRule;
}

/** Options for {@link remediate}. */
export interface RemediateOptions {
  runbook: Runbook;
  host: HostSpec;
  /** Every step result so far (the checks, and any remedy or re-check results a resumed job already has). */
  steps: StepResult[];
  /** The expression context for a list of step results (the engine's `hostContext`). */
  context: (steps: StepResult[]) => Record<string, unknown>;
  /** The host's findings for a list of step results, most likely cause first. */
  rank: (steps: StepResult[]) => RankedFinding[];
  /** Runs one step (asking approval for a changing one) in a context. */
  run: (step: Step, ctx: Record<string, unknown>) => Promise<StepResult>;
  /** Keeps a new result (persisted before the next step starts). */
  record: (result: StepResult) => Promise<void>;
  /** Set when the host's work stopped (`host unreachable`, `cancelled`): remedies are only recorded as skipped. */
  stopped?: string;
  signal?: AbortSignal;
  /** Between re-check attempts. Default 1000 ms. */
  retryMs?: number;
}

const FAILED: ReadonlySet<StepStatus> = new Set(['fail', 'error', 'timeout']);
const DEFAULT_SETTLE_MS = 10_000;
const INTERRUPTED = /^interrupted/;

/**
 * Offers, runs and re-checks the fix for the host's most likely cause; records
 * every other remedy step as skipped. Returns what happened, or `undefined`
 * when no fix was offered (no remedy for the cause, or its step cannot run here).
 */
export async function remediate(o: RemediateOptions): Promise<Remediation | undefined> {
  const remedies = remedySteps(o.runbook);
  if (!remedies.size) return undefined;
  const done = new Map(o.steps.map((s) => [s.id, s]));
  const checks = o.steps.filter((s) => !remedies.has(s.id) && !s.id.endsWith('.recheck'));
  const ctx = o.context(checks);
  const top = o.stopped ? undefined : o.rank(checks).find((r) => r.f.severity !== 'info');
  const offered = top?.rule.remedy;

  // A healthy host lists only its checks; a host with another cause says why its fixes were not offered.
  for (const step of o.runbook.steps) {
    if (!remedies.has(step.id) || step.id === offered || done.has(step.id) || (!top && !o.stopped)) continue;
    const why = o.stopped ?? `a fix offered only when ${codesFixedBy(o.runbook, step.id)} is the cause; here it is ${top!.f.code}`;
    await o.record(skip(step, why, ctx));
  }
  if (!offered || !top) return undefined;
  const step = o.runbook.steps.find((s) => s.id === offered)!;
  let fix = done.get(step.id);
  if (!fix) {
    fix = await o.run(step, ctx);
    await o.record(fix);
  }
  const base = { host: o.host.name, finding: top.f.code, step: step.id, title: fix.title };
  if (fix.status === 'skipped') {
    // Its `when` is false here (e.g. no service manager that can restart it): nothing to offer.
    if (step.when && !truthy(evaluateExpr(step.when, ctx))) return undefined;
    const cancelled = fix.reason === 'cancelled' || !!o.signal?.aborted;
    return { ...base, outcome: cancelled ? 'cancelled' : 'needs-approval', ran: false, worked: null, reason: fix.reason ?? 'not approved', recheck: [], evidence: [] };
  }
  const approvedBy = fix.approvedBy ? { approvedBy: fix.approvedBy } : {};
  if (fix.status === 'error' && INTERRUPTED.test(fix.reason ?? '')) {
    return { ...base, ...approvedBy, outcome: 'interrupted', ran: false, worked: null, reason: fix.reason, recheck: [], evidence: [] };
  }

  const after = await recheck(o, step, checks, done);
  const still = o.rank(replaced(checks, after)).filter((r) => r.f.severity !== 'info');
  const failing = after.filter((r) => FAILED.has(r.status));
  const worked = after.length > 0 && !failing.length && !o.signal?.aborted;
  const recheckView: RecheckResult[] = after.map((r) => ({
    id: r.id,
    title: r.title,
    before: checks.find((c) => c.id === r.id)?.status ?? 'skipped',
    after: r.status,
    ...(r.summary || firstLine(r) ? { summary: r.summary ?? firstLine(r) } : {}),
  }));
  const evidence = worked
    ? []
    : [
        ...failing.map((r) => `re-check ${r.title}: ${r.status}${r.summary || firstLine(r) ? ` — ${r.summary ?? firstLine(r)}` : ''}`),
        ...(still[0] ? [`still: ${still[0].f.code} — ${still[0].f.title}`, ...still[0].f.evidence] : []),
      ];
  const fixFailed = FAILED.has(fix.status);
  return {
    ...base,
    ...approvedBy,
    outcome: worked ? 'worked' : o.signal?.aborted ? 'cancelled' : 'did-not-work',
    ran: true,
    worked: o.signal?.aborted && !worked ? null : worked,
    ...(fixFailed ? { reason: `${step.id} ended ${fix.status}${fix.exitCode !== null ? ` (exit ${fix.exitCode})` : ''}${firstLine(fix) ? `: ${firstLine(fix)}` : ''}` } : {}),
    recheck: recheckView,
    evidence,
  };
}

/**
 * Runs the re-check steps again (each seeing the results of the ones before
 * it), until they pass, or `settle` runs
 * out. Only the last attempt is recorded. Results a resumed job already has
 * are kept.
 */
async function recheck(o: RemediateOptions, fix: Step, checks: StepResult[], done: Map<string, StepResult>): Promise<StepResult[]> {
  const ids = fix.recheck ?? [];
  const kept = ids.map((id) => done.get(recheckId(id)));
  if (kept.every((r): r is StepResult => !!r)) return kept.map(plain);
  const deadline = Date.now() + (fix.settle ?? DEFAULT_SETTLE_MS);
  const retryMs = o.retryMs ?? 1000;
  let results: StepResult[] = [];
  // Bounded by the deadline; each pass runs every re-check step once.
  for (let attempt = 0; attempt < 1000; attempt++) {
    results = [];
    let current = checks;
    for (const id of ids) {
      const step = o.runbook.steps.find((s) => s.id === id)!;
      const r = await o.run(step, o.context(current));
      results.push(r);
      current = replaced(current, [r]);
    }
    const ok = results.every((r) => !FAILED.has(r.status));
    if (ok || o.signal?.aborted || Date.now() + retryMs > deadline) break;
    await sleep(retryMs, o.signal);
  }
  for (const r of results) await o.record({ ...r, id: recheckId(r.id), title: `re-check: ${r.title}` });
  return results;
}

/** `checks` with each result of `after` in place of the step of the same id. */
function replaced(checks: StepResult[], after: StepResult[]): StepResult[] {
  const by = new Map(after.map((r) => [r.id, r]));
  return checks.map((c) => by.get(c.id) ?? c);
}

/** A stored re-check result as the step it re-ran (its own id and title). */
function plain(r: StepResult): StepResult {
  return { ...r, id: r.id.replace(/\.recheck$/, ''), title: r.title.replace(/^re-check: /, '') };
}

function codesFixedBy(runbook: Runbook, stepId: string): string {
  const codes = new Set<string>();
  for (const f of runbook.findings) if (f.remedy === stepId) codes.add(f.code);
  for (const s of runbook.steps) if (s.finding?.remedy === stepId) codes.add(s.finding.code);
  return [...codes].join(' or ');
}

function skip(step: Step, reason: string, ctx: Record<string, unknown>): StepResult {
  return { id: step.id, title: skippedTitle(step, ctx), status: 'skipped', exitCode: null, durationMs: 0, output: '', reason };
}

function firstLine(r: StepResult): string {
  const line = r.output.split(/\r?\n/).find((l) => l.trim()) ?? '';
  return line.length > 160 ? `${line.slice(0, 160)}…` : line;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
