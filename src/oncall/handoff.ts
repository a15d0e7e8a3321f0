/**
 * On-call handoffs. A handoff is a message ("🔁 On-call handoff: A → B") with
 * an "I have it" button for the incoming person, and a thread with what they
 * need: open incidents (cause, age, ack state, last notes), the shift's runs
 * that found problems, failing scheduled checks, pending approvals and the
 * notes added with `/note` during the shift.
 *
 * The click is recorded and the message updated. If nobody takes it within
 * `takeWithin`, the bot says so in the thread and mentions the next person
 * in the rotation, who may then take it too.
 *
 * {@link composeHandoff} is pure; {@link HandoffStore} keeps handoffs in
 * Redis (`P:handoff:<id>`, `P:handoffs:pending` by deadline) so a restart
 * neither loses one nor escalates it twice.
 *
 * Deliberately left out: posting (on-call.ts) and reminders beyond the one
 * escalation.
 */
import type { Redis } from 'ioredis';
import type { ChatButton, ChatMessage } from '../bot/adapter.ts';
import { incidentLine } from './digest.ts';
import type { Incident, ShiftNote, TimelineEntry } from './incidents.ts';
import { clockTime, duration } from './time-text.ts';

/** Handoff ids look like `h3`. */
export const HANDOFF_ID_RE = /^h[0-9]{1,9}$/;

/** One handoff, as stored. */
export interface Handoff {
  id: string;
  /** Who hands over (the person on call when it started), if known. */
  from?: string;
  /** Who should take it. */
  to: string;
  /** Who started it: a person, or `schedule:handoff`. */
  by: string;
  room: string;
  /** The handoff message, once posted. */
  messageId?: string;
  createdMs: number;
  deadlineMs: number;
  takenBy?: string;
  takenMs?: number;
  escalatedMs?: number;
  /** The next person, mentioned when it was not taken in time. */
  escalatedTo?: string;
}

/** Something from a run worth handing over. */
export interface ProblemRun {
  runId: string;
  runbook: string;
  target: string;
  cause: string;
  atMs: number;
}

/** A host-changing step waiting for an operator. */
export interface WaitingApproval {
  runId: string;
  host: string;
  stepId: string;
  title: string;
}

/** A scheduled check that is not ok in its schedule's last digest. */
export interface FailingCheck {
  schedule: string;
  target: string;
  what: string;
  sinceMs: number;
}

/** What the thread shows. */
export interface HandoffState {
  open: Incident[];
  /** Each open incident's notes, oldest first. */
  timelines: Record<string, TimelineEntry[]>;
  problemRuns: ProblemRun[];
  failingChecks: FailingCheck[];
  approvals: WaitingApproval[];
  notes: ShiftNote[];
  shiftSinceMs: number;
  nowMs: number;
}

/** The command the "I have it" button sends. */
export const takeCommand = (id: string): string => `/handoff take ${id}`;

/** The handoff message: waiting to be taken (with the button), or taken. */
export function handoffMessage(h: Handoff, nowMs: number): ChatMessage {
  const title = `🔁 On-call handoff: ${h.from ?? 'nobody'} → ${h.to}`;
  if (h.takenBy) {
    return { title, lines: [`✅ taken by ${h.takenBy} at ${clockTime(h.takenMs ?? nowMs)}`, `handoff ${h.id}`], summary: `${title} — taken by ${h.takenBy}` };
  }
  const who = h.escalatedTo ? `${h.to} or ${h.escalatedTo}` : h.to;
  const buttons: ChatButton[] = [{ label: 'I have it', command: takeCommand(h.id), style: 'primary' }];
  return {
    title,
    lines: [`${who}: press "I have it" to take the shift (within ${duration(h.deadlineMs - h.createdMs)}).`, 'What you need is in the thread.', `handoff ${h.id}`],
    buttons,
    mentions: [h.to, ...(h.escalatedTo ? [h.escalatedTo] : [])],
    summary: `${title} — waiting for ${who}`,
  };
}

/** The thread: one message per section, in the order the incoming person reads them. */
export function composeHandoff(s: HandoffState): ChatMessage[] {
  const since = s.shiftSinceMs ? `since ${clockTime(s.shiftSinceMs)}` : 'in the last 24 h';
  const section = (title: string, lines: string[]): ChatMessage => ({ title, lines: lines.length ? lines : ['none'] });
  const incidents = s.open.flatMap((i) => {
    const notes = (s.timelines[i.id] ?? []).filter((e) => e.kind === 'note').slice(-2);
    return [incidentLine(i, s.nowMs), ...notes.map((n) => `   note by ${n.by} at ${clockTime(Date.parse(n.at))}: ${n.text}`)];
  });
  return [
    section(`Open incidents (${s.open.length})`, incidents),
    section(
      `Runs ${since} that found problems (${s.problemRuns.length})`,
      s.problemRuns.map((r) => `${r.runId} ${r.runbook} on ${r.target}: ${r.cause} · ${duration(s.nowMs - r.atMs)} ago`),
    ),
    section(
      `Failing scheduled checks (${s.failingChecks.length})`,
      s.failingChecks.map((c) => `${c.schedule}: ${c.target} ${c.what} since ${clockTime(c.sinceMs)}`),
    ),
    section(
      `Pending approvals (${s.approvals.length})`,
      s.approvals.map((a) => `${a.runId} ${a.host}:${a.stepId} "${a.title}" — /approve ${a.runId} ${a.host}:${a.stepId}`),
    ),
    section(
      `Notes ${since} (${s.notes.length})`,
      s.notes.map((n) => `${clockTime(Date.parse(n.at))} ${n.by}${n.incident ? ` (${n.incident})` : ''}: ${n.text}`),
    ),
  ];
}

/** Handoffs in Redis. */
export class HandoffStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:handoff:${id}`;
  }

  private get pendingKey(): string {
    return `${this.prefix}:handoffs:pending`;
  }

  /** Creates a handoff waiting to be taken. */
  async create(h: Omit<Handoff, 'id'>): Promise<Handoff> {
    const id = `h${await this.redis.incr(`${this.prefix}:handoff:seq`)}`;
    const full: Handoff = { ...h, id };
    await this.redis.multi().set(this.key(id), JSON.stringify(full)).zadd(this.pendingKey, h.deadlineMs, id).exec();
    return full;
  }

  async get(id: string): Promise<Handoff | null> {
    const raw = await this.redis.get(this.key(id));
    return raw ? (JSON.parse(raw) as Handoff) : null;
  }

  async update(h: Handoff): Promise<void> {
    await this.redis.set(this.key(h.id), JSON.stringify(h));
  }

  /**
   * Claims the take for `by`: true for the one caller that took it (a second
   * click, or a second bot, gets false).
   */
  async claimTake(id: string, by: string, atMs: number): Promise<boolean> {
    const ok = await this.redis.set(`${this.key(id)}:taken`, JSON.stringify({ by, atMs }), 'NX');
    if (ok !== 'OK') return false;
    await this.redis.zrem(this.pendingKey, id);
    return true;
  }

  /** Claims the one escalation of a handoff not taken in time. */
  async claimEscalation(id: string): Promise<boolean> {
    const ok = await this.redis.set(`${this.key(id)}:escalated`, '1', 'NX');
    return ok === 'OK';
  }

  /** Handoffs still waiting whose deadline has passed. */
  async overdue(nowMs: number): Promise<Handoff[]> {
    const ids = await this.redis.zrangebyscore(this.pendingKey, '-inf', nowMs);
    const all = await Promise.all(ids.map((id) => this.get(id)));
    return all.filter((h): h is Handoff => h !== null && !h.takenBy && !h.escalatedMs);
  }
}
