/**
 * The run card: the one message a run owns in chat, rendered from a
 * {@link RunCardView}. Pure — no I/O, no clocks — so every state of the card
 * can be tested by value.
 *
 * While the run is going the card shows each host's steps as they finish
 * (✓ pass, ✗ fail/error, ! warn, ⏱ timeout, – skipped, then "running…") and
 * any step waiting for approval. The final card shows the status, the cause
 * code in plain text with the one-line summary, the evidence, the fix and the
 * run id, so a channel search for `service-down` finds it. When the cause
 * offered a fix (the result's `remediation`), a line says whether it ran, who
 * approved it and whether it worked, with what the re-check saw when it did
 * not. A host whose SSH
 * host key did not match is a SECURITY WARNING (possible man-in-the-middle),
 * never a plain failure.
 *
 * Every message is kept under the transport's `maxTextLength`: less important
 * lines (other findings, host lines, evidence) are dropped first, with a note.
 *
 * Deliberately left out: markup (adapters escape and format), per-step output
 * on the card (that goes to the thread, see {@link renderHostDetails}), and time
 * of day (chat shows when a message was edited).
 */
import type { RunState } from '../queue/jobs.ts';
import { escapeText } from '../escape.ts';
import { redact } from '../redact.ts';
import type { Finding, Remediation, RunResult, StepResult, StepStatus } from '../runbooks/result.ts';
import type { ChatButton, ChatFile, ChatMessage } from './adapter.ts';

/** One host's progress so far. */
export interface HostProgress {
  host: string;
  /** Finished steps, in the order they finished. */
  steps: StepResult[];
}

/** A host-changing step waiting for an operator. */
export interface PendingApproval {
  host: string;
  stepId: string;
  title: string;
}

/** Everything the card shows; the live card keeps one up to date. */
export interface RunCardView {
  runId: string;
  runbook: string;
  target: string;
  /** Set when the run was limited to one host. */
  host?: string;
  /** Who asked, as shown (a display name or an identity). */
  requestedBy: string;
  state: RunState;
  /** True once the run has ended and nothing more will change. */
  final: boolean;
  /** Why the run is in its state (e.g. `cancelled by tg:1`). */
  reason?: string;
  /** Every host of the run, in the run's order. */
  hosts: HostProgress[];
  /** Steps per host, when known (for "3/8"). */
  totalSteps?: number;
  approvals: PendingApproval[];
  /** The final result, once there is one. */
  result?: RunResult;
  /** Some update could not be delivered. */
  deliveryProblem?: boolean;
  /** One more line to show, e.g. that the card lost track of the run. */
  note?: string;
}

/** Options for the renderers. */
export interface RenderOptions {
  /** Most characters the message may have. Default 3000 (a Slack section). */
  maxTextLength?: number;
}

/** Step status → the mark shown before it. */
export const STEP_MARKS: Record<StepStatus, string> = { pass: '✓', fail: '✗', warn: '!', timeout: '⏱', skipped: '–', error: '✗' };
/** The marker for a step in progress (no spinner: edits are rate-limited). */
export const RUNNING_MARK = 'running…';
/** The line the card ends with; tests and searches find runs by it. */
export const FOOTER_PREFIX = 'run ';

const HOST_KEY_CAUSE = 'host-key-mismatch';
const HOST_KEY_ERROR = 'SSH_HOSTKEY';
const DEFAULT_MAX = 3000;
/** Room for what the adapter adds around our text (bold title, bullets). */
const MARGIN = 64;
const MAX_LINE = 400;

/** Renders the run card for its current state. */
export function renderRunCard(view: RunCardView, o: RenderOptions = {}): ChatMessage {
  const max = o.maxTextLength ?? DEFAULT_MAX;
  return view.final ? renderFinal(view, max) : renderProgress(view, max);
}

function headline(v: RunCardView): string {
  return `${v.runbook} on ${v.target}${v.host ? ` (${v.host})` : ''}`;
}

function footer(v: RunCardView, extra: string[] = []): string {
  return [`${FOOTER_PREFIX}${v.runId}`, ...extra, `asked by ${v.requestedBy}`].join(' · ');
}

function renderProgress(v: RunCardView, max: number): ChatMessage {
  const cancelling = v.state === 'cancelled' || v.state === 'failed';
  const phase = cancelling ? 'cancelling…' : v.state === 'queued' ? 'queued' : v.state === 'waiting-approval' ? 'waiting for approval' : RUNNING_MARK;
  const title = `🔎 ${headline(v)} — ${phase}`;
  const security = securityLines(v.hosts.filter((h) => h.steps.some(isHostKeyStep)).map((h) => h.host));
  const hostLines = v.hosts.map((h) => progressLine(h, v.totalSteps, v.state === 'running' || v.state === 'waiting-approval'));
  const approvalLines = v.approvals.map(
    (a) => `⏸ ${a.host}:${a.stepId} "${a.title}" changes the host and waits for an operator: /approve ${v.runId} ${a.host}:${a.stepId}`,
  );
  const lines = fitLines(
    title,
    [
      { lines: security, priority: Infinity },
      { lines: approvalLines, priority: Infinity },
      { lines: hostLines, priority: 1, more: (n) => `… ${n} more hosts` },
      { lines: notes(v), priority: Infinity },
      { lines: [footer(v, [phase])], priority: Infinity },
    ],
    max,
  );
  const buttons: ChatButton[] = [];
  for (const a of v.approvals.slice(0, 3)) pushButton(buttons, `Approve ${a.host}:${a.stepId}`, `/approve ${v.runId} ${a.host}:${a.stepId}`, 'primary');
  if (!cancelling) pushButton(buttons, 'Cancel', `/cancel ${v.runId}`, 'danger');
  return { title, lines, ...(buttons.length ? { buttons } : {}), summary: `${headline(v)} — ${phase} (${v.runId})` };
}

function progressLine(h: HostProgress, total: number | undefined, active: boolean): string {
  if (h.steps.some(isHostKeyStep)) return `${h.host}: ⚠ SECURITY WARNING — host key mismatch, nothing run`;
  const done = total !== undefined && h.steps.length >= total;
  const parts = h.steps.map((s) => `${STEP_MARKS[s.status]} ${s.title}`);
  if (!done && active) parts.push(total ? `${RUNNING_MARK} (${h.steps.length + 1}/${total})` : RUNNING_MARK);
  if (!parts.length) parts.push('waiting');
  return clipLine(`${h.host}: ${parts.join(' · ')}`);
}

function renderFinal(v: RunCardView, max: number): ChatMessage {
  const r = v.result;
  const mismatched = hostKeyHosts(v);
  const status = finalStatus(v);
  const cause = r?.cause ?? null;
  const mark = mismatched.length ? '⚠ SECURITY WARNING —' : status === 'healthy' ? '✅' : status === 'unhealthy' ? '❌' : status === 'cancelled' ? '⏹' : '⚠';
  const title = `${mark} ${headline(v)}: ${cause ?? status}`;

  const top = r ? topFinding(r) : undefined;
  const summary = r?.summary ? clean(r.summary) : v.reason ? clean(v.reason) : '';
  const head: string[] = [];
  if (cause) head.push(clipLine(`cause: ${cause} — ${summary}`));
  else head.push(clipLine(`${status}${summary ? ` — ${summary}` : ''}`));
  const evidence = (top?.evidence ?? []).map((e) => clipLine(`• ${clean(e)}`));
  const fix = top && status !== 'healthy' ? [clipLine(`fix: ${clean(top.fix)}`)] : [];
  const remedy = remediationLines(r?.remediation ?? []);
  const others = (r?.findings ?? []).filter((f) => f !== top).map((f) => clipLine(`also: ${f.code} on ${f.host} — ${clean(f.title)}`));
  const hostLines = v.hosts.map((h) => finalHostLine(h, r));
  const extra = [status, ...(r ? [seconds(r.durationMs)] : [])];

  const lines = fitLines(
    title,
    [
      { lines: securityLines(mismatched), priority: Infinity },
      { lines: head, priority: Infinity },
      { lines: evidence, priority: 3, more: (n) => `• … ${n} more (see the thread)` },
      { lines: fix, priority: Infinity },
      { lines: remedy.head, priority: Infinity },
      { lines: remedy.evidence, priority: 3, more: (n) => `  • … ${n} more (see the thread)` },
      { lines: others.slice(0, 5), priority: 1, more: (n) => `also: ${n} more findings` },
      { lines: hostLines, priority: 2, more: (n) => `… ${n} more hosts (see the thread)` },
      { lines: notes(v), priority: Infinity },
      { lines: [footer(v, extra)], priority: Infinity },
    ],
    max,
  );
  const buttons: ChatButton[] = [];
  pushButton(buttons, 'Re-run', `/diagnose ${v.runbook} ${v.target}${v.host ? ` ${v.host}` : ''}`);
  // An unhealthy run opens or updates an incident (src/oncall); the buttons name the run, the core finds its incident.
  if (status === 'unhealthy' && cause) {
    pushButton(buttons, 'Ack', `/ack ${v.runId}`);
    pushButton(buttons, 'Resolve', `/resolve ${v.runId}`);
  }
  return {
    title,
    lines,
    ...(buttons.length ? { buttons } : {}),
    summary: clipLine(`${headline(v)}: ${cause ?? status}${summary ? ` — ${summary}` : ''} (${v.runId})`, 200),
  };
}

/** The "did it work" lines: per host, what the offered fix did, and what the re-check showed when it did not work. */
function remediationLines(list: Remediation[]): { head: string[]; evidence: string[] } {
  const head: string[] = [];
  const evidence: string[] = [];
  for (const m of list) {
    const who = m.approvedBy ? ` (approved by ${m.approvedBy})` : '';
    const checks = m.recheck.map((c) => `${STEP_MARKS[c.after]} ${c.title}`).join(' · ');
    const what = `${m.title} (${m.step}) on ${m.host}`;
    if (m.outcome === 'worked') head.push(clipLine(clean(`✅ fix worked: ${what}${who} — re-check: ${checks}`)));
    else if (m.outcome === 'did-not-work') {
      head.push(clipLine(clean(`❌ fix did not work: ${what}${who} — re-check: ${checks}${m.reason ? `; ${m.reason}` : ''}`)));
      evidence.push(...m.evidence.map((e) => clipLine(`  • ${clean(e)}`)));
    } else if (m.outcome === 'needs-approval') head.push(clipLine(clean(`⏸ fix offered, not run: ${what} — ${m.reason ?? 'needs approval'}`)));
    else head.push(clipLine(clean(`⚠ fix ${m.outcome}: ${what}${who}${m.reason ? ` — ${m.reason}` : ''}`)));
  }
  return { head, evidence };
}

function finalStatus(v: RunCardView): 'healthy' | 'unhealthy' | 'error' | 'cancelled' | 'failed' {
  if (v.state === 'cancelled') return 'cancelled';
  if (v.state === 'failed' && v.result?.status !== 'unhealthy') return 'failed';
  return v.result?.status ?? 'error';
}

function finalHostLine(h: HostProgress, r: RunResult | undefined): string {
  const hr = r?.hosts.find((x) => x.host === h.host);
  if (hr?.error?.code === HOST_KEY_ERROR || h.steps.some(isHostKeyStep)) return `${h.host}: ⚠ SECURITY WARNING — host key mismatch, nothing run`;
  const steps = hr?.steps.length ? hr.steps : h.steps;
  if (hr && !hr.reachable) return clipLine(`${h.host}: ✗ unreachable${hr.error ? ` — ${clean(hr.error.message)}` : ''}`);
  const counts = new Map<string, number>();
  for (const s of steps) counts.set(STEP_MARKS[s.status], (counts.get(STEP_MARKS[s.status]) ?? 0) + 1);
  const parts = ['✓', '✗', '!', '⏱', '–'].filter((m) => counts.has(m)).map((m) => `${counts.get(m)} ${m}`);
  return `${h.host}: ${parts.join(' · ') || 'no steps ran'}`;
}

function hostKeyHosts(v: RunCardView): string[] {
  const out = new Set<string>();
  for (const h of v.hosts) if (h.steps.some(isHostKeyStep)) out.add(h.host);
  for (const h of v.result?.hosts ?? []) if (h.error?.code === HOST_KEY_ERROR) out.add(h.host);
  for (const f of v.result?.findings ?? []) if (f.code === HOST_KEY_CAUSE) out.add(f.host);
  return [...out];
}

function isHostKeyStep(s: StepResult): boolean {
  return s.errorCode === HOST_KEY_ERROR;
}

function securityLines(hosts: string[]): string[] {
  if (!hosts.length) return [];
  const list = hosts.length > 5 ? `${hosts.slice(0, 5).join(', ')} and ${hosts.length - 5} more` : hosts.join(', ');
  return [
    `⚠ SECURITY WARNING: ${list} presented an SSH host key that does not match the pinned one — possible man-in-the-middle. Nothing was run there.`,
    'Check the key out of band (console, cloud provider) before trusting or re-pinning it.',
  ];
}

function notes(v: RunCardView): string[] {
  return [...(v.note ? [clipLine(clean(v.note))] : []), ...(v.deliveryProblem ? ['⚠ could not deliver some updates'] : [])];
}

/** Platform limits on a button's command (Telegram's 64 bytes) are the renderer's business, not the card's. */
function pushButton(out: ChatButton[], label: string, command: string, style?: ChatButton['style']): void {
  out.push({ label, command, ...(style ? { style } : {}) });
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Redacted, on one line. */
function clean(s: string): string {
  return redact(s).replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

function clipLine(s: string, max = MAX_LINE): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Characters a line takes once an adapter has escaped it (`<` → `&lt;`). */
function measure(s: string): number {
  let n = s.length + 1;
  for (const c of s) if (c === '<' || c === '>' || c === '&') n += 4;
  return n;
}

interface Section {
  lines: string[];
  /** Lower is dropped first; `Infinity` is never dropped. */
  priority: number;
  /** The note that replaces `n` dropped lines. */
  more?: (n: number) => string;
}

/** Joins sections, dropping lines from the least important ones until the whole fits in `max`. */
function fitLines(title: string, sections: Section[], max: number): string[] {
  const budget = Math.max(200, max - MARGIN);
  // Everything shown passes through redact; before measuring, since «redacted» may be longer than what it hides.
  const kept = sections.map((s) => ({ ...s, lines: s.lines.map(redact), keep: s.lines.length, note: 0 }));
  const render = () => kept.flatMap((s) => [...s.lines.slice(0, s.keep), ...(s.keep < s.lines.length && s.more ? [s.more(s.lines.length - s.keep)] : [])]);
  let size = measure(title) + kept.reduce((n, s) => n + s.lines.reduce((m, l) => m + measure(l), 0), 0);
  const order = kept.filter((s) => s.priority !== Infinity).sort((a, b) => a.priority - b.priority);
  for (const s of order) {
    while (size > budget && s.keep > 0) {
      s.keep--;
      size -= measure(s.lines[s.keep]!) + s.note;
      s.note = s.more ? measure(s.more(s.lines.length - s.keep)) : 0;
      size += s.note;
    }
  }
  const lines = render();
  if (size <= budget) return lines;
  // Only must-keep lines are left and still too long: share the budget between them.
  const each = Math.max(20, Math.floor((budget - measure(title)) / Math.max(1, lines.length)) - 8);
  return lines.map((l) => clipLine(l, each));
}

/**
 * Any message cut to fit `maxTextLength`: lines are dropped from the end
 * (with "… N more") and over-long lines clipped. For replies such as
 * `/runbooks` whose length depends on the config.
 */
export function fitMessage(msg: ChatMessage, o: RenderOptions = {}): ChatMessage {
  const max = o.maxTextLength ?? DEFAULT_MAX;
  const lines = fitLines(msg.title ?? '', [{ lines: msg.lines.map((l) => clipLine(l)), priority: 1, more: (n) => `… ${n} more` }], max - (msg.code ? measure(msg.code) : 0));
  return { ...msg, lines };
}

// ---------------------------------------------------------------------------
// Host details, for the card's thread

/** Options for {@link renderHostDetails}. */
export interface HostDetailsOptions extends RenderOptions {
  /** Names the attached file. */
  runId?: string;
}

/**
 * One host's steps for the thread: a line per step, then the (redacted)
 * output of every step that failed, warned, errored or timed out. When that
 * would not fit in `maxTextLength`, the message keeps the step lines and the
 * full output of every step goes into an attached file.
 */
export function renderHostDetails(host: string, steps: StepResult[], o: HostDetailsOptions = {}): { message: ChatMessage; file?: ChatFile } {
  const max = o.maxTextLength ?? DEFAULT_MAX;
  const mismatch = steps.some(isHostKeyStep);
  const counts = (['pass', 'fail', 'warn', 'error', 'timeout', 'skipped'] as StepStatus[])
    .map((st) => [st, steps.filter((s) => s.status === st).length] as const)
    .filter(([, n]) => n > 0)
    .map(([st, n]) => `${n} ${st === 'pass' ? 'passed' : st === 'fail' ? 'failed' : st}`);
  const title = mismatch ? `${host} — ⚠ SECURITY WARNING: host key mismatch (possible man-in-the-middle)` : `${host} — ${counts.join(', ') || 'no steps'}`;
  const stepLines = steps.map(stepLine);
  const noteworthy = steps.filter((s) => ['fail', 'warn', 'error', 'timeout'].includes(s.status) && (s.output || s.reason));
  const code = noteworthy.map((s) => outputBlock(s)).join('\n\n');

  const whole: ChatMessage = { title, lines: stepLines, ...(code ? { code } : {}), summary: title };
  const total = measure(title) + stepLines.reduce((n, l) => n + measure(l), 0) + (code ? measure(code) : 0);
  if (total <= max - MARGIN) return { message: whole };

  const filename = `${o.runId ? `${o.runId}-` : ''}${host.replace(/[^A-Za-z0-9._-]/g, '_')}.txt`;
  const content = [title, '', ...stepLines, '', ...steps.filter((s) => s.output || s.reason).map((s) => outputBlock(s))].join('\n');
  const lines = fitLines(title, [{ lines: stepLines, priority: 1, more: (n) => `… ${n} more steps (in the file)` }, { lines: [`full output attached: ${filename}`], priority: Infinity }], max);
  // The file is read in the chat client too: control characters from the host show as escapes, newlines stay.
  return { message: { title, lines, summary: title }, file: { filename, content: escapeText(`${content}\n`), title: `${host}: full output` } };
}

/** A host every one of whose steps passed (or was skipped): its details say nothing a list line does not. */
export function isQuietHost(steps: StepResult[]): boolean {
  return steps.some((s) => s.status === 'pass') && steps.every((s) => s.status === 'pass' || (s.status === 'skipped' && !s.errorCode)) && !steps.some(isHostKeyStep);
}

/**
 * Hosts that passed every step, as few thread messages as fit: one line per
 * host (`web3 — 6 passed · 0.4s`) under one title, instead of a message per
 * host (100 healthy hosts were 100 thread posts at one per second).
 */
export function renderQuietHosts(hosts: { host: string; steps: StepResult[] }[], o: RenderOptions = {}): ChatMessage[] {
  const max = o.maxTextLength ?? DEFAULT_MAX;
  const title = `✓ ${hosts.length} hosts passed every step`;
  const out: ChatMessage[] = [];
  let lines: string[] = [];
  let size = measure(title);
  for (const h of hosts) {
    const passed = h.steps.filter((s) => s.status === 'pass').length;
    const skipped = h.steps.length - passed;
    const total = h.steps.reduce((n, s) => n + s.durationMs, 0);
    const line = clipLine(redact(`${h.host} — ${passed} passed${skipped ? `, ${skipped} skipped` : ''} · ${seconds(total)}`), 300);
    if (lines.length && size + measure(line) > max - MARGIN) {
      out.push({ title, lines, summary: title });
      lines = [];
      size = measure(title);
    }
    lines.push(line);
    size += measure(line);
  }
  if (lines.length) out.push({ title, lines, summary: title });
  return out;
}

function stepLine(s: StepResult): string {
  const bits = [`${STEP_MARKS[s.status]} ${s.title}`];
  if (s.status === 'skipped') bits.push(`skipped${s.reason ? `: ${clean(s.reason)}` : ''}`);
  else if (s.status === 'error') bits.push(`error${s.errorCode ? ` ${s.errorCode}` : ''}${s.reason ? `: ${clean(s.reason)}` : ''}`);
  else if (s.status === 'timeout') bits.push(s.reason ? clean(s.reason) : 'timed out');
  else if (s.exitCode !== null && s.exitCode !== 0) bits.push(`exit ${s.exitCode}`);
  if (s.status !== 'skipped') bits.push(seconds(s.durationMs));
  return clipLine(redact(bits.join(' · ')), 300);
}

function outputBlock(s: StepResult): string {
  const body = redact([s.reason && s.status !== 'skipped' ? `(${s.reason})` : '', s.output].filter(Boolean).join('\n')).trimEnd();
  return `── ${s.id} (${s.status})${s.truncated ? ' [truncated]' : ''} ──\n${body}`;
}

const FINAL_WORDS = new Set(['healthy', 'unhealthy', 'error', 'cancelled', 'failed']);

/**
 * Reads a rendered card's footer: which run it belongs to and whether it is
 * final. `undefined` for messages that are not run cards.
 */
export function readCard(msg: ChatMessage): { runId: string; final: boolean } | undefined {
  const last = msg.lines[msg.lines.length - 1] ?? '';
  const m = /^run (r_[a-z0-9]{4,40}) · ([^·]+?) · /.exec(last);
  return m ? { runId: m[1]!, final: FINAL_WORDS.has(m[2]!) } : undefined;
}

/** The top finding of a result: the one that names the cause, else the first. */
export function topFinding(r: RunResult): Finding | undefined {
  return r.findings.find((f) => f.code === r.cause) ?? r.findings[0];
}
