/**
 * The check digest: one message per scheduled run of a runbook over its
 * targets. A line per target that is not ok (cause code, since when), the ok
 * ones summed up ("18 ok"), what changed since the previous digest of the
 * same schedule (new failures first, then recoveries), and the open
 * incidents with their age. A target whose check did not answer in time is
 * named as such — the digest is posted anyway.
 *
 * {@link composeDigest} is pure (the caller passes "now"), so every case is
 * tested by value; {@link DigestHistory} keeps each schedule's last snapshot
 * in Redis (`P:digest:<name>:last`) for the "what changed" part.
 *
 * Deliberately left out: running the checks (on-call.ts submits them through
 * the normal queue) and where the message goes (the schedule's `post`).
 */
import type { Redis } from 'ioredis';
import type { ChatMessage } from '../bot/adapter.ts';
import type { Incident } from './incidents.ts';
import { clockTime, duration } from './time-text.ts';

/** What one target's check came to. */
export interface CheckOutcome {
  target: string;
  /** `ok` healthy; `failing` unhealthy (with cause); `error` could not check (cause = what went wrong); `no-answer` timed out. */
  state: 'ok' | 'failing' | 'error' | 'no-answer';
  cause?: string;
  summary?: string;
  runId?: string;
}

/** One target in a snapshot. */
export interface SnapshotEntry {
  state: CheckOutcome['state'];
  cause?: string;
  /** Since when the target has been in this state with this cause (ms). */
  sinceMs: number;
}

/** What a digest saw, kept for the next one. */
export interface DigestSnapshot {
  atMs: number;
  targets: Record<string, SnapshotEntry>;
}

/** Input of {@link composeDigest}. */
export interface DigestInput {
  /** The schedule's name. */
  name: string;
  runbook: string;
  outcomes: CheckOutcome[];
  previous?: DigestSnapshot | null;
  open: Incident[];
  nowMs: number;
  /** When this digest's checks started: a failure first seen since then is "new". Default `nowMs`. */
  startedMs?: number;
  /** How long a check had to answer (for the "did not answer" line). */
  timeoutMs: number;
}

const MARK: Record<CheckOutcome['state'], string> = { ok: '✅', failing: '❌', error: '⚠', 'no-answer': '⏱' };

const what = (e: { state: CheckOutcome['state']; cause?: string }): string =>
  e.state === 'no-answer' ? 'did not answer' : e.state === 'ok' ? 'ok' : (e.cause ?? e.state);

/** Builds the digest message and the snapshot to keep for next time. */
export function composeDigest(d: DigestInput): { message: ChatMessage; snapshot: DigestSnapshot } {
  const snapshot: DigestSnapshot = { atMs: d.nowMs, targets: {} };
  const prev = d.previous?.targets ?? {};
  for (const o of d.outcomes) {
    const before = prev[o.target];
    const same = before && before.state === o.state && before.cause === o.cause;
    const incident = o.state === 'failing' ? d.open.find((i) => i.target === o.target && i.cause === o.cause) : undefined;
    const sinceMs = same ? before.sinceMs : incident ? Date.parse(incident.firstSeen) : d.nowMs;
    snapshot.targets[o.target] = { state: o.state, ...(o.cause ? { cause: o.cause } : {}), sinceMs };
  }

  const bad = d.outcomes.filter((o) => o.state !== 'ok');
  const ok = d.outcomes.filter((o) => o.state === 'ok');
  const lines: string[] = [];
  for (const o of bad) {
    const since = snapshot.targets[o.target]!.sinceMs;
    if (o.state === 'no-answer') {
      lines.push(`${MARK[o.state]} ${o.target}: did not answer within ${duration(d.timeoutMs)}${o.runId ? ` (${o.runId})` : ''}`);
      continue;
    }
    const sinceText = since < (d.startedMs ?? d.nowMs) ? ` since ${clockTime(since)} (${duration(d.nowMs - since)})` : ' (new)';
    lines.push(`${MARK[o.state]} ${o.target}: ${o.cause ?? o.state}${sinceText}${o.summary ? ` — ${oneLine(o.summary, 160)}` : ''}`);
  }
  if (ok.length) lines.push(`${MARK.ok} ${ok.length} ok`);
  if (!d.outcomes.length) lines.push('no targets to check');

  if (d.previous) {
    const fresh: string[] = [];
    const recovered: string[] = [];
    for (const o of d.outcomes) {
      const before = prev[o.target];
      if (o.state !== 'ok' && (!before || before.state === 'ok' || before.cause !== o.cause || before.state !== o.state)) {
        fresh.push(`🆕 ${o.target}: ${what(o)}${before && before.state !== 'ok' ? ` (was ${what(before)})` : ''}`);
      }
      if (o.state === 'ok' && before && before.state !== 'ok') recovered.push(`✅ ${o.target} recovered (was ${what(before)})`);
    }
    lines.push(`Since the previous digest (${clockTime(d.previous.atMs)}):`);
    if (!fresh.length && !recovered.length) lines.push('no change');
    lines.push(...fresh, ...recovered);
  } else {
    lines.push('First digest of this schedule: nothing to compare with yet.');
  }

  if (d.open.length) {
    lines.push(`Open incidents (${d.open.length}):`);
    for (const i of d.open) lines.push(incidentLine(i, d.nowMs));
  } else {
    lines.push('No open incidents.');
  }

  const head = bad.length ? `${bad.length} need${bad.length === 1 ? 's' : ''} attention · ${ok.length} ok` : `all ${ok.length} ok`;
  const title = `📋 ${d.name} digest (${d.runbook}) — ${head}`;
  return { message: { title, lines, summary: title }, snapshot };
}

/** `🚨 i3 shop: service-down · open 3 h · acked by tg:1` — one open incident. */
export function incidentLine(i: Incident, nowMs: number): string {
  const bits = [`🚨 ${i.id} ${i.target}: ${i.cause}`, `open ${duration(nowMs - Date.parse(i.firstSeen))}`, `seen ${i.count}×`];
  bits.push(i.ackedBy ? `acked by ${i.ackedBy}` : 'not acked');
  if (i.recoveredAt) bits.push('recovered?');
  return bits.join(' · ');
}

function oneLine(s: string, max: number): string {
  const t = s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** Each schedule's last snapshot, in Redis. */
export class DigestHistory {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(name: string): string {
    return `${this.prefix}:digest:${name}:last`;
  }

  async last(name: string): Promise<DigestSnapshot | null> {
    const raw = await this.redis.get(this.key(name));
    return raw ? (JSON.parse(raw) as DigestSnapshot) : null;
  }

  async save(name: string, s: DigestSnapshot): Promise<void> {
    await this.redis.set(this.key(name), JSON.stringify(s));
  }

  /** Every schedule's last snapshot (for the handoff's "failing scheduled checks"). */
  async all(names: string[]): Promise<{ name: string; snapshot: DigestSnapshot }[]> {
    const out: { name: string; snapshot: DigestSnapshot }[] = [];
    for (const name of names) {
      const s = await this.last(name);
      if (s) out.push({ name, snapshot: s });
    }
    return out;
  }
}
