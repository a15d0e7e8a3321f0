/**
 * The engine: runs a runbook's steps on one host ({@link runHost}), then
 * reasons across all steps and hosts to rank findings and name the single
 * most likely cause ({@link diagnose}). {@link runRunbook} does both, hosts in
 * parallel; the queue worker calls the two halves separately so host work can
 * spread over workers and resume after a crash.
 *
 * Deliberately left out: queueing, persistence and chat. Progress leaves
 * through `onStep`; approvals for host-changing steps come in through `approve`.
 */
import { isTriageError, TriageError } from '../errors.ts';
import type { ExecResult, Executor, HostSpec } from '../executors/executor.ts';
import { defaultRedactor, isSecretName, REDACTED, type Redactor } from '../redact.ts';
import { compileExpr, evaluateExpr, truthy } from './expr.ts';
import type { ParamValue } from './params.ts';
import {
  ENGINE_CAUSES,
  INCONCLUSIVE,
  type Finding,
  type HostResult,
  type RunResult,
  type StepResult,
  type StepStatus,
} from './result.ts';
import type { Capture, FindingRule, Runbook, Severity, Step } from './schema.ts';
import { stepCommand } from './probes.ts';
import { type ApprovalAnswer, type RankedFinding, remediate, remedySteps, toApproval } from './remediation.ts';
import { SignatureTable } from './signatures.ts';
import { missingValueReason, skippedTitle, skipReasonFor } from './skip-reason.ts';
import { MissingValueError, renderText, templateExprs } from './template.ts';

/** The target's config facts as runbooks see them (`target.*`). */
export type TargetFacts = { name: string } & Record<string, unknown>;

/** Options for {@link runHost}. */
export interface HostRunOptions {
  runbook: Runbook;
  target: TargetFacts;
  host: HostSpec;
  params: Record<string, ParamValue>;
  executor: Executor;
  /** Aborting kills the running step and skips the rest. */
  signal?: AbortSignal;
  /** Steps already finished (resuming after a crash): kept, not run again. */
  done?: StepResult[];
  /** Called after each step, awaited before the next one starts (so it can be persisted first). */
  onStep?: (step: StepResult) => void | Promise<void>;
  /** Asked before a step marked `changes: true`; default: never approved. An {@link Approval} answer also says who approved (kept as the step's `approvedBy`). */
  approve?: (step: Step) => Promise<ApprovalAnswer>;
  /** Characters of output kept per step in the result. Default 4000. */
  maxOutputChars?: number;
  /** The log-signature table `signatures: true` steps are matched against. Default the built-in table. */
  signatures?: SignatureTable;
  /**
   * The run's redaction scope ({@link Redactor.scope}): its secret params are
   * registered there, and what one step redacts is redacted in every later
   * step, capture, summary and title. Default: a new scope for this host.
   */
  redactor?: Redactor;
}

const UNREACHABLE_CODES = new Set(['SSH_CONNECT', 'SSH_AUTH', 'SSH_HOSTKEY']);

/** Builds the expression context for one host from its finished steps. */
export function hostContext(target: TargetFacts, host: HostSpec, params: Record<string, ParamValue>, steps: StepResult[]): Record<string, unknown> {
  const ctx: Record<string, unknown> = {
    target,
    host: { name: host.name, address: host.address, zone: host.zone ?? 'default' },
    params,
  };
  for (const s of steps) ctx[s.id] = stepView(s);
  return ctx;
}

function stepView(s: StepResult): Record<string, unknown> {
  return { ...(s.captures ?? {}), status: s.status, exit: s.exitCode, output: s.output, ok: s.status === 'pass', ran: s.status !== 'skipped' };
}

/**
 * Runs every step of the runbook on one host, in order. Never throws for host problems: they become the result.
 *
 * Steps whose `when` and command read nothing from the steps just before
 * them go to the host together ({@link Executor.execBatch}: one round trip,
 * results streamed back), and each result is judged, captured and reported
 * (`onStep`) in order as it arrives — with exactly the context it would have
 * had run one by one, so batching changes no result. A batch ends before a
 * step that reads an earlier batch member's result or capture, and before a
 * step that changes the host (it waits for approval alone).
 */
export async function runHost(o: HostRunOptions): Promise<HostResult> {
  const redactor = o.redactor ?? defaultRedactor.scope();
  const ro = { ...o, redactor };
  const steps: StepResult[] = [...(o.done ?? [])];
  const doneIds = new Set(steps.map((s) => s.id));
  let unreachable = steps.find(isUnreachable);
  // A remedy runs after the checks, and only when the host's most likely cause names it (remediation.ts).
  const remedies = remedySteps(o.runbook);
  const todo = o.runbook.steps.filter((s) => !doneIds.has(s.id) && !remedies.has(s.id));
  const record = async (result: StepResult) => {
    if (!unreachable && isUnreachable(result)) unreachable = result;
    steps.push(result);
    await o.onStep?.(result);
  };

  for (let i = 0; i < todo.length; ) {
    const step = todo[i]!;
    if (unreachable) {
      await record(skipped(step, 'host unreachable'));
      i++;
      continue;
    }
    if (o.signal?.aborted) {
      await record(skipped(step, 'cancelled'));
      i++;
      continue;
    }
    const batch = o.executor.execBatch ? batchFrom(todo, i) : [step];
    if (batch.length > 1) {
      i += await runBatch(ro, batch, steps, record);
      continue;
    }
    await record(await runStep(ro, step, hostContext(o.target, o.host, o.params, steps)));
    i++;
  }
  const remediation = remedies.size
    ? await remediate({
        runbook: o.runbook,
        host: o.host,
        steps,
        context: (list) => hostContext(o.target, o.host, o.params, list),
        rank: (list) => rankHostFindings(o.runbook, hostContext(o.target, o.host, o.params, list), o.host.name),
        run: (step, ctx) => runStep(ro, step, ctx),
        record: async (r) => {
          const i = steps.findIndex((s) => s.id === r.id);
          if (i >= 0) steps[i] = r;
          else steps.push(r);
          await o.onStep?.(r);
        },
        ...(unreachable ? { stopped: 'host unreachable' } : o.signal?.aborted ? { stopped: 'cancelled' } : {}),
        signal: o.signal,
      })
    : undefined;
  return {
    host: o.host.name,
    reachable: !unreachable,
    ...(unreachable ? { error: { code: unreachable.errorCode!, message: unreachable.reason ?? '' } } : {}),
    // Again with everything the run learned: a value found in a later step may sit bare in an earlier one.
    steps: o.runbook.steps
      .map((s) => steps.find((r) => r.id === s.id))
      .filter((s): s is StepResult => !!s)
      .map((s) => redactor.redactDeep(s, { guess: false })),
    ...(remediation ? { remediation: redactor.redactDeep(remediation, { guess: false }) } : {}),
  };
}

/** Longest batch: bounds what one write holds. */
const MAX_BATCH = 32;

/**
 * The steps from `todo[start]` on that can go to the host together: none of
 * them changes the host, and none reads (in `when`, `run`, `args` or `env`)
 * the result of another one in the batch.
 */
export function batchFrom(todo: Step[], start: number): Step[] {
  const batch: Step[] = [];
  const ids = new Set<string>();
  for (let j = start; j < todo.length && batch.length < MAX_BATCH; j++) {
    const step = todo[j]!;
    if (step.changes || readsStep(step, ids)) break;
    batch.push(step);
    ids.add(step.id);
  }
  return batch;
}

/** Does the step's `when` or command read any of `ids` (a step's status, exit, output or captures)? */
function readsStep(step: Step, ids: Set<string>): boolean {
  if (!ids.size) return false;
  const exprs = [
    ...(step.when ? [step.when] : []),
    ...[step.run ?? '', ...step.args, ...Object.values(step.env)].flatMap((t) => templateExprs(t)),
  ];
  return exprs.some((e) => compileExpr(e).paths.some((p) => ids.has(p.split('.')[0]!)));
}

type Plan = { step: Step; run: true; command: string; index: number } | { step: Step; run: false };

/**
 * Runs one batch; returns how many of its steps it recorded (all of them,
 * unless the session broke: the rest go back to `runHost`'s loop).
 */
async function runBatch(o: HostRunOptions, batch: Step[], steps: StepResult[], record: (r: StepResult) => Promise<void>): Promise<number> {
  // `when` and the command read nothing from this batch, so the context before it decides them as it would one by one.
  const before = hostContext(o.target, o.host, o.params, steps);
  const commands: { command: string; opts: { timeoutMs: number } }[] = [];
  const plans: Plan[] = batch.map((step) => {
    if (step.when && !truthy(evaluateExpr(step.when, before))) return { step, run: false };
    try {
      const command = stepCommand(step, before);
      commands.push({ command, opts: { timeoutMs: step.timeout } });
      return { step, run: true, command, index: commands.length - 1 };
    } catch (e) {
      if (e instanceof MissingValueError) return { step, run: false };
      throw e;
    }
  });
  const stop = new AbortController();
  const signal = o.signal ? AbortSignal.any([o.signal, stop.signal]) : stop.signal;
  const slots = commands.map(() => deferred<ExecResult | typeof NOT_RUN>());
  let delivered = 0;
  const running = commands.length
    ? o.executor.execBatch!(o.host, commands, {
        signal,
        onResult: (k, r) => {
          delivered = k + 1;
          slots[k]!.resolve(r);
        },
      }).then(
        () => {},
        (e: unknown) => {
          slots[delivered]?.reject(e);
          for (const s of slots.slice(delivered + 1)) s.resolve(NOT_RUN);
        },
      )
    : Promise.resolve();
  let recorded = 0;
  try {
    for (const plan of plans) {
      const ctx = hostContext(o.target, o.host, o.params, steps);
      if (!plan.run) {
        // Exactly what runStep would say about a step it does not run, given everything before it.
        const result = steps.some(isUnreachable) ? skipped(plan.step, 'host unreachable') : o.signal?.aborted ? skipped(plan.step, 'cancelled') : await runStep(o, plan.step, ctx);
        await record(result);
        recorded++;
        continue;
      }
      let r: ExecResult | typeof NOT_RUN;
      try {
        r = await slots[plan.index]!.promise;
      } catch (e) {
        await record(execError(o, plan.step, ctx, e, 0));
        return recorded + 1;
      }
      if (r === NOT_RUN) return recorded;
      await record(finishStep(o, plan.step, ctx, r));
      recorded++;
    }
    return recorded;
  } finally {
    // Stopped early (onStep threw, the session broke): nothing of this batch keeps running on the host.
    stop.abort();
    await running;
  }
}

const NOT_RUN = Symbol('not run');

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function isUnreachable(s: StepResult): boolean {
  return s.status === 'error' && UNREACHABLE_CODES.has(s.errorCode ?? '');
}

async function runStep(o: HostRunOptions, step: Step, ctx: Record<string, unknown>): Promise<StepResult> {
  const started = Date.now();
  if (step.when && !truthy(evaluateExpr(step.when, ctx))) return skipped(step, skipReasonFor(step, ctx), ctx);
  let command: string;
  try {
    command = stepCommand(step, ctx);
  } catch (e) {
    if (e instanceof MissingValueError) return skipped(step, missingValueReason(e.expr, ctx), ctx);
    throw e;
  }
  let approvedBy: { approvedBy?: string } = {};
  if (step.changes) {
    // Only an explicit yes runs it: an answer object is not a yes by being there.
    const answer = toApproval(o.approve ? await o.approve(step) : false);
    if (answer.approved !== true) return skipped(step, answer.reason ?? 'changes the host and was not approved', ctx);
    if (answer.by) approvedBy = { approvedBy: answer.by };
  }
  let r: ExecResult;
  try {
    r = await o.executor.exec(o.host, command, { timeoutMs: step.timeout, signal: o.signal });
  } catch (e) {
    return { ...execError(o, step, ctx, e, started), ...approvedBy };
  }
  return { ...finishStep(o, step, ctx, r), ...approvedBy };
}

/** A step whose command could not be run (the host went away, the session broke). */
function execError(o: HostRunOptions, step: Step, ctx: Record<string, unknown>, e: unknown, started: number): StepResult {
  const code = isTriageError(e) ? e.code : 'EXEC_FAILED';
  const msg = o.redactor!.redactMessage(e instanceof Error ? e.message : String(e));
  return {
    id: step.id,
    title: o.redactor!.redactMessage(title(step, ctx)),
    status: 'error',
    exitCode: null,
    durationMs: started ? Date.now() - started : 0,
    output: '',
    reason: msg,
    errorCode: code,
  };
}

/** Judges what a step's command did: captures, output, status and summary, given the steps before it (`ctx`). */
function finishStep(o: HostRunOptions, step: Step, ctx: Record<string, unknown>, r: ExecResult): StepResult {
  if (r.aborted) return { ...skipped(step, 'cancelled'), durationMs: r.durationMs };

  const red = o.redactor!;
  const safe = step.safe;
  const captures = { ...extract(step.capture, r.stdout, r.stderr), ...(step.signatures ? (o.signatures ?? SignatureTable.builtin()).match(r.stdout) : {}) };
  learnCaptures(red, step, captures);
  const joined = joinOutput(r.stdout, r.stderr);
  // Redacting the output first teaches the run's scope its secrets, so captures and summary below lose them too.
  const output = step.secretOutput ? secretOutputNote(joined) : clip(red.redact(joined, { safe }), o.maxOutputChars ?? 4000, r.truncated);
  // Rules see the raw values; only what is shown is redacted.
  const view = { ...captures, status: 'pass', exit: r.exitCode, output: `${r.stdout}\n${r.stderr}`, ok: true, ran: true };
  const stepCtx = { ...ctx, [step.id]: view };
  const status: StepStatus = r.timedOut ? 'timeout' : judge(step, stepCtx, r.exitCode);
  const shown = step.secretOutput ? { ...view, ...hideCaptures(captures), output } : view;
  const summary = step.summary ? red.redact(renderText(step.summary, { ...stepCtx, [step.id]: { ...shown, status, ok: status === 'pass' } }).text, { safe }) : undefined;
  return {
    id: step.id,
    title: red.redactMessage(title(step, ctx)),
    status,
    exitCode: r.exitCode,
    durationMs: r.durationMs,
    output,
    ...(summary ? { summary } : {}),
    ...(r.timedOut ? { reason: `no answer within ${Math.round(step.timeout / 1000)} s; killed` } : {}),
    ...(r.truncated ? { truncated: true } : {}),
    captures: step.secretOutput ? hideCaptures(captures) : red.redactDeep(captures, { safe }),
  };
}

/** Captures under a secret name, and every capture of a `secretOutput` step, are secrets for the rest of the run. */
function learnCaptures(red: Redactor, step: Step, captures: Record<string, unknown>): void {
  for (const [name, v] of Object.entries(captures)) {
    const values = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
    // learn(), not register(): a plain word under a secret name (token_status: expired) must not vanish from the run.
    if (isSecretName(name) || step.secretOutput) for (const x of values) red.learn(x);
  }
}

/** A `secretOutput` step's captures as shown: text hidden, numbers and yes/no kept (counts, ports, "matched"). */
function hideCaptures(captures: Record<string, unknown>): Record<string, unknown> {
  const hide = (v: unknown): unknown => (typeof v === 'string' && v !== '' ? REDACTED : Array.isArray(v) ? v.map(hide) : v);
  return Object.fromEntries(Object.entries(captures).map(([k, v]) => [k, hide(v)]));
}

/** What a `secretOutput` step shows instead of its output. */
export function secretOutputNote(output: string): string {
  return `«secret output: ${Buffer.byteLength(output)} bytes»`;
}

function judge(step: Step, ctx: Record<string, unknown>, exitCode: number | null): StepStatus {
  const rules = step.status;
  if (rules.fail && truthy(evaluateExpr(rules.fail, ctx))) return 'fail';
  if (rules.warn && truthy(evaluateExpr(rules.warn, ctx))) return 'warn';
  if (rules.pass) return truthy(evaluateExpr(rules.pass, ctx)) ? 'pass' : 'fail';
  return exitCode === 0 ? 'pass' : 'fail';
}

function extract(spec: Record<string, Capture>, stdout: string, stderr: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, c] of Object.entries(spec)) {
    const text = c.from === 'stdout' ? stdout : c.from === 'stderr' ? stderr : `${stdout}\n${stderr}`;
    const re = new RegExp(c.regex, `gm${c.flags}`);
    const all = [...text.matchAll(re)].map((m) => m[c.group] ?? '');
    switch (c.type) {
      case 'bool':
        out[name] = all.length > 0;
        break;
      case 'count':
        out[name] = all.length;
        break;
      case 'list':
        out[name] = all;
        break;
      case 'numbers':
        out[name] = all.map(Number).filter(Number.isFinite);
        break;
      case 'number': {
        const n = all.length ? Number(all[0]) : Number.NaN;
        out[name] = Number.isFinite(n) ? n : null;
        break;
      }
      default:
        out[name] = all.length ? all[0] : null;
    }
  }
  return out;
}

function title(step: Step, ctx: Record<string, unknown>): string {
  return renderText(step.title, ctx).text || step.id;
}

function skipped(step: Step, reason: string, ctx?: Record<string, unknown>): StepResult {
  return { id: step.id, title: skippedTitle(step, ctx), status: 'skipped', exitCode: null, durationMs: 0, output: '', reason };
}

function joinOutput(stdout: string, stderr: string): string {
  const a = stdout.replace(/\s+$/, '');
  const b = stderr.replace(/\s+$/, '');
  return a && b ? `${a}\n${b}` : a || b;
}

function clip(s: string, max: number, truncatedRemotely: boolean): string {
  if (s.length <= max) return truncatedRemotely ? `${s}\n… [output truncated]` : s;
  return `${s.slice(0, max)}\n… [output truncated, ${s.length - max} more characters]`;
}

// ---------------------------------------------------------------- diagnosis

const SEVERITY_ORDER: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

/** Inputs for {@link diagnose}. */
export interface DiagnoseInput {
  runId: string;
  runbook: Runbook;
  target: TargetFacts;
  hostSpecs: HostSpec[];
  params: Record<string, ParamValue>;
  hosts: HostResult[];
  startedAt: string;
  durationMs: number;
  /** The run's redaction scope (its secret params and what its steps taught it). Default: the process-wide redactor. */
  redactor?: Redactor;
}

/** Ranks findings across steps and hosts and names the most likely cause. */
export function diagnose(input: DiagnoseInput): RunResult {
  const red = input.redactor ?? defaultRedactor;
  const ranked: { f: Finding; rank: number; hostIdx: number }[] = [];
  input.hosts.forEach((hr, hostIdx) => {
    const spec = input.hostSpecs.find((h) => h.name === hr.host) ?? { name: hr.host, address: '?' };
    if (!hr.reachable) {
      ranked.push({ f: unreachableFinding(hr), rank: 2000, hostIdx });
      return;
    }
    const ctx = hostContext(input.target, spec, input.params, hr.steps);
    for (const r of hostFindings(input.runbook, ctx, hr.host)) ranked.push({ f: r.f, rank: r.rank, hostIdx });
  });
  // Never "healthy" while a check failed, errored or timed out: a host whose
  // failures no rule explains gets an `inconclusive` finding listing them.
  input.hosts.forEach((hr, hostIdx) => {
    if (!hr.reachable || ranked.some((r) => r.hostIdx === hostIdx && r.f.severity !== 'info')) return;
    const finding = inconclusiveFinding(hr, input.runbook);
    if (finding) ranked.push({ f: finding, rank: 3000, hostIdx });
  });
  ranked.sort((a, b) => SEVERITY_ORDER[a.f.severity] - SEVERITY_ORDER[b.f.severity] || a.rank - b.rank || a.hostIdx - b.hostIdx);
  const findings = ranked.map((r) => r.f);
  const remediation = input.hosts.flatMap((h) => (h.remediation ? [h.remediation] : []));
  const top = findings.find((f) => f.severity !== 'info');
  const allDown = input.hosts.length > 0 && input.hosts.every((h) => !h.reachable);
  const status = allDown ? 'error' : top ? 'unhealthy' : 'healthy';
  let summary: string;
  if (top) {
    const where = [...new Set(findings.filter((f) => f.code === top.code).map((f) => f.host))];
    summary = `${top.title} (${where.join(', ')})`;
  } else {
    const ctx = hostContext(input.target, input.hostSpecs[0] ?? { name: '', address: '' }, input.params, input.hosts[0]?.steps ?? []);
    summary = renderText(input.runbook.healthy, ctx).text;
  }
  return {
    runId: input.runId,
    runbook: input.runbook.name,
    target: input.target.name,
    status,
    cause: top?.code ?? null,
    // Findings are built from redacted step results and runbook text: registered values and patterns, no guessing.
    summary: red.redactMessage(summary),
    findings: red.redactDeep(findings, { guess: false }),
    // Each host's fix moves to the run's `remediation`.
    hosts: input.hosts.map(({ remediation: _, ...h }) => h),
    startedAt: input.startedAt,
    durationMs: input.durationMs,
    ...(remediation.length ? { remediation } : {}),
  };
}

/** One host's findings in rule order (`rank`: cross-step rules first, then step findings), one per code. */
function hostFindings(runbook: Runbook, ctx: Record<string, unknown>, host: string): (RankedFinding & { rank: number })[] {
  const out: (RankedFinding & { rank: number })[] = [];
  const seen = new Set<string>();
  const add = (rule: FindingRule, rank: number, severity: Severity) => {
    if (seen.has(rule.code)) return;
    seen.add(rule.code);
    out.push({ f: renderFinding(rule, ctx, host, severity), rule, rank });
  };
  runbook.findings.forEach((rule, i) => {
    if (rule.when && truthy(evaluateExpr(rule.when, ctx))) add(rule, i, rule.severity);
  });
  runbook.steps.forEach((step, i) => {
    const status = (ctx[step.id] as { status?: StepStatus } | undefined)?.status;
    if (!step.finding || (status !== 'fail' && status !== 'warn')) return;
    if (step.finding.when && !truthy(evaluateExpr(step.finding.when, ctx))) return;
    add(step.finding, 1000 + i, status === 'warn' && step.finding.severity === 'critical' ? 'warning' : step.finding.severity);
  });
  return out;
}

/** One host's findings, most likely cause first (as {@link diagnose} ranks them), each with its rule. */
export function rankHostFindings(runbook: Runbook, ctx: Record<string, unknown>, host: string): RankedFinding[] {
  return hostFindings(runbook, ctx, host).sort((a, b) => SEVERITY_ORDER[a.f.severity] - SEVERITY_ORDER[b.f.severity] || a.rank - b.rank);
}

function renderFinding(rule: FindingRule, ctx: Record<string, unknown>, host: string, severity: Severity): Finding {
  const evidence = rule.evidence
    .map((e) => renderText(e, ctx))
    .filter((e) => !e.missing && e.text)
    .map((e) => e.text);
  return { code: rule.code, severity, host, title: renderText(rule.title, ctx).text, evidence, fix: renderText(rule.fix, ctx).text };
}

const FAILED: ReadonlySet<StepStatus> = new Set(['fail', 'error', 'timeout']);

/**
 * `inconclusive`: checks failed but no rule names a cause. The failing steps
 * are the evidence, followed by what was not checked (skipped steps and why).
 */
export function inconclusiveFinding(hr: HostResult, runbook: Runbook): Finding | undefined {
  const failed = hr.steps.filter((s) => FAILED.has(s.status));
  if (!failed.length) return undefined;
  const evidence = failed.map((s) => `${s.title}: ${failureWords(s)}`);
  // A fix that was not offered is not a check that was left out.
  const skipped = hr.steps.filter((s) => s.status === 'skipped' && !runbook.steps.find((x) => x.id === s.id)?.changes);
  if (skipped.length) evidence.push(`not checked: ${skipped.map((s) => `${s.title} (${s.reason ?? 'skipped'})`).join('; ')}`);
  return {
    code: INCONCLUSIVE,
    severity: 'warning',
    host: hr.host,
    title: `${failed.length} check${failed.length > 1 ? 's' : ''} failed on ${hr.host} (${failed.map((s) => s.title).join(', ')}) but no rule of the ${runbook.name} runbook explains ${failed.length > 1 ? 'them' : 'it'}`,
    evidence,
    fix: "read the failing steps' output (the run's thread, or triage status <run> --json), fix what it shows, then re-run",
  };
}

function failureWords(s: StepResult): string {
  if (s.status === 'timeout') return s.reason ?? 'timed out';
  if (s.status === 'error') return `error${s.errorCode ? ` ${s.errorCode}` : ''}${s.reason ? `: ${s.reason}` : ''}`;
  const first = s.summary ?? s.output.split(/\r?\n/).find((l) => l.trim()) ?? '';
  const line = first.length > 160 ? `${first.slice(0, 160)}…` : first;
  return `failed${s.exitCode !== null ? ` (exit ${s.exitCode})` : ''}${line ? `: ${line}` : ''}`;
}

function unreachableFinding(hr: HostResult): Finding {
  const message = hr.error?.message ?? 'host could not be reached';
  if (hr.error?.code === 'WORK_LOST') {
    return {
      code: ENGINE_CAUSES.workLost,
      severity: 'critical',
      host: hr.host,
      title: `the checks on ${hr.host} did not complete: their worker was lost`,
      evidence: [message],
      fix: 'check that `triage worker` runs for this host’s zone and is not crashing, then re-run',
    };
  }
  const code = hr.error?.code === 'SSH_HOSTKEY' ? ENGINE_CAUSES.hostKeyMismatch : ENGINE_CAUSES.hostUnreachable;
  if (code === ENGINE_CAUSES.hostKeyMismatch) {
    return {
      code,
      severity: 'critical',
      host: hr.host,
      title: `SECURITY: ${hr.host} presented an unexpected SSH host key — possible man-in-the-middle; nothing was run there`,
      evidence: [message],
      fix: `verify the host's key out of band (console, cloud provider) before updating hosts.${hr.host}.hostKey / knownHosts`,
    };
  }
  return {
    code,
    severity: 'critical',
    host: hr.host,
    title: `cannot reach ${hr.host} over SSH`,
    evidence: [message],
    fix: `check that ${hr.host} is up, sshd runs, and this worker's network (zone) can reach it`,
  };
}

/** Options for {@link runRunbook}. */
export interface RunbookRunOptions extends Omit<HostRunOptions, 'host' | 'done' | 'onStep'> {
  runId: string;
  hosts: HostSpec[];
  onStep?: (host: string, step: StepResult) => void | Promise<void>;
}

/** Runs the runbook on every host (in parallel) and diagnoses: the whole pipeline without a queue. */
export async function runRunbook(o: RunbookRunOptions): Promise<RunResult> {
  if (o.hosts.length === 0) throw new TriageError('TARGET_UNKNOWN', `target ${o.target.name} has no hosts`);
  const startedAt = new Date();
  const redactor = o.redactor ?? defaultRedactor.scope();
  const hosts = await Promise.all(
    o.hosts.map((host) => runHost({ ...o, host, redactor, onStep: o.onStep ? (s) => o.onStep!(host.name, s) : undefined })),
  );
  return diagnose({
    runId: o.runId,
    runbook: o.runbook,
    target: o.target,
    hostSpecs: o.hosts,
    params: o.params,
    hosts,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    redactor,
  });
}
