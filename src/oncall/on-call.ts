/**
 * On-call, assembled: incidents from finished runs, the on-call commands'
 * work, scheduled digests and handoffs. The chat core calls it for
 * `/ack /resolve /note /incidents /oncall /handoff /digest /schedules` and
 * for every run whose card ended; the schedule worker calls
 * {@link OnCall.runScheduled} for each fire. It posts through an
 * {@link OncallChat} (the core's outboxes), so it never touches a platform.
 *
 * Roles (enforced by the core's command table, see commands.ts): `/ack`,
 * `/note`, `/resolve`, `/handoff` and `/digest now` need a responder —
 * resolving only records a human judgement and changes no host, so it needs
 * no operator; listing (`/incidents`, `/oncall`, `/schedules`) is for viewers.
 * Only the person a handoff names (or the one it escalated to) may take it.
 *
 * Deliberately left out: running anything itself (digests submit their checks
 * through the normal queue and wait for the results), and platforms.
 */
import type { Redis } from 'ioredis';
import type { ChatMessage, MessageRef } from '../bot/adapter.ts';
import type { LoadedConfig, ScheduleConfig } from '../config.ts';
import { isTriageError } from '../errors.ts';
import type { RunQueue } from '../queue/producer.ts';
import { nextFire, scheduleSpecs, type ScheduleJob } from '../queue/schedules.ts';
import type { RunbookLibrary } from '../runbooks/loader.ts';
import { prepareRun } from '../runbooks/prepare.ts';
import { type CheckOutcome, composeDigest, DigestHistory, incidentLine } from './digest.ts';
import { composeHandoff, type Handoff, handoffMessage, HandoffStore, type ProblemRun, type WaitingApproval } from './handoff.ts';
import { type FinishedRun, type Incident, INCIDENT_ID_RE, IncidentStore, type RunOutcome } from './incidents.ts';
import { Rotation } from './rotation.ts';
import { clockTime, duration } from './time-text.ts';

/** Where on-call posts: the chat core's outboxes, by room prefix. */
export interface OncallChat {
  /** Posts a message; resolves to where it landed, or undefined when it could not be delivered. */
  post(room: string, msg: ChatMessage, opts?: { thread?: string }): Promise<MessageRef | undefined>;
  edit(ref: MessageRef, msg: ChatMessage): Promise<void>;
}

/** Who asked, where (a chat command or a click). */
export interface Asker {
  user: string;
  room: string;
  thread?: string;
  /** For clicks: the message the button was on. */
  message?: MessageRef;
  via: 'text' | 'button';
}

/** What a command came to: the reply to give (if any) and what to audit. */
export interface Answer {
  reply?: string | ChatMessage;
  outcome?: 'ok' | 'invalid';
  detail?: string;
}

/** Options for {@link OnCall}. */
export interface OnCallOptions {
  redis: Redis;
  prefix: string;
  queue: RunQueue;
  loaded: LoadedConfig;
  library: RunbookLibrary;
  chat: OncallChat;
  env?: NodeJS.ProcessEnv;
  /** The clock (ms). Default `Date.now`; tests move it to expire handoffs. */
  now?: () => number;
  /** How long a digest waits for each check. Default 120 000 ms. */
  digestTimeoutMs?: number;
  /** How often overdue handoffs are looked for. Default 10 000 ms; 0 = never (call {@link OnCall.tick}). */
  tickMs?: number;
  log?: (line: string) => void;
}

const DEFAULT_TAKE_WITHIN_MS = 15 * 60_000;
const DAY_MS = 86_400_000;

/** The on-call side of one deployment. */
export class OnCall {
  readonly incidents: IncidentStore;
  readonly rotation: Rotation;
  readonly handoffs: HandoffStore;
  readonly digests: DigestHistory;
  private readonly now: () => number;
  private readonly timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;

  constructor(private readonly o: OnCallOptions) {
    this.now = o.now ?? Date.now;
    this.incidents = new IncidentStore(o.redis, o.prefix, this.now);
    this.rotation = new Rotation(o.redis, o.prefix, o.loaded.config.oncall?.rotation ?? []);
    this.handoffs = new HandoffStore(o.redis, o.prefix);
    this.digests = new DigestHistory(o.redis, o.prefix);
    const every = o.tickMs ?? 10_000;
    if (every > 0) {
      this.timer = setInterval(() => void this.tick(), every);
      this.timer.unref();
    }
  }

  /** Stops the handoff timer. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  // -------------------------------------------------------------------------
  // Runs

  /**
   * Counts a finished run into incidents and says so in chat: a new incident
   * in `where` (the run card's thread), a repeat in both threads, a recovery
   * in the incident's own thread.
   */
  async runFinished(run: FinishedRun, where?: { room: string; thread: string }): Promise<RunOutcome> {
    const r = await this.incidents.recordRun(run);
    if (r.kind === 'opened' || r.kind === 'repeat') {
      const inc = r.incident;
      const ownThread = inc.room && inc.thread ? { room: inc.room, thread: inc.thread } : undefined;
      if (where) await this.incidents.linkThread(inc.id, where.room, where.thread);
      if (r.kind === 'opened') {
        if (where) this.say(where, `🚨 incident ${inc.id} opened: ${inc.cause} on ${inc.target}. /ack ${inc.id} · /resolve ${inc.id} [note] · /note <text> in this thread`);
      } else {
        if (where) this.say(where, `↩ same incident ${inc.id}: ${inc.cause} on ${inc.target}, seen ${inc.count}× since ${clockTime(Date.parse(inc.firstSeen))}`);
        if (ownThread && !(where && ownThread.room === where.room && ownThread.thread === where.thread)) {
          this.say(ownThread, `❌ seen again: run ${run.runId} (${inc.count}×, last ${clockTime(Date.parse(inc.lastSeen))})`);
        }
      }
    }
    if (r.kind === 'recovered') {
      for (const inc of r.incidents) {
        if (inc.room && inc.thread) {
          this.say(
            { room: inc.room, thread: inc.thread },
            `✅ ${inc.target} looks healthy again (run ${run.runId}) — recovered? Resolving stays a human decision: /resolve ${inc.id}`,
          );
        }
      }
    }
    return r;
  }

  // -------------------------------------------------------------------------
  // Commands

  /** `/ack [incident|run]`. */
  async ack(a: Asker, ref?: string): Promise<Answer> {
    const found = await this.find(a, ref);
    if (typeof found === 'string') return refuse(found);
    const r = await this.incidents.ack(found.id, a.user);
    if (r === 'not-open') return refuse(`${found.id} is already resolved`);
    if (r === 'already') return refuse(`${found.id} was already acked by ${found.ackedBy ?? 'someone'}`);
    this.inThread(found, `👀 ${found.id} acked by ${a.user}`);
    return { ...this.echo(a, found, `✓ ${found.id} acked (${found.cause} on ${found.target})`), detail: `acked ${found.id}` };
  }

  /** `/resolve [incident|run] [note]`. */
  async resolve(a: Asker, ref?: string, note?: string): Promise<Answer> {
    const found = await this.find(a, ref);
    if (typeof found === 'string') return refuse(found);
    const r = await this.incidents.resolve(found.id, a.user, note);
    if (r === 'not-open') return refuse(`${found.id} is already resolved`);
    this.inThread(found, `✔ ${found.id} resolved by ${a.user}${note ? `: ${note}` : ''}`);
    return { ...this.echo(a, found, `✔ ${found.id} resolved (${found.cause} on ${found.target})`), detail: `resolved ${found.id}` };
  }

  /** `/note [incident] <text>`: to the incident named, or of this thread; else a note for the shift. */
  async note(a: Asker, ref: string | undefined, text: string): Promise<Answer> {
    let inc: Incident | null = null;
    if (ref) {
      const found = await this.find(a, ref);
      if (typeof found === 'string') return refuse(found);
      inc = found;
    } else if (a.thread) {
      const id = await this.incidents.ofThread(a.room, a.thread);
      inc = id ? await this.incidents.get(id) : null;
    }
    await this.incidents.note(inc?.id, a.user, text);
    if (!inc) return { reply: '📝 noted for the shift (no incident in this thread; it goes into the next handoff)', detail: 'shift note' };
    this.inThread(inc, `📝 note by ${a.user}: ${text}`);
    return { ...this.echo(a, inc, `📝 noted on ${inc.id}`), detail: `note on ${inc.id}` };
  }

  /** `/incidents [incident]`: the open ones and the latest resolved, or one incident's timeline. */
  async list(ref?: string): Promise<Answer> {
    const now = this.now();
    if (ref) {
      const inc = await this.byRef(ref);
      if (!inc) return refuse(`no incident ${ref} — /incidents lists them`);
      const tl = await this.incidents.timeline(inc.id);
      const lines = [
        `${inc.state === 'open' ? incidentLine(inc, now) : `✔ ${inc.id} ${inc.target}: ${inc.cause} · resolved by ${inc.resolvedBy}`}`,
        `first seen ${clockTime(Date.parse(inc.firstSeen))} · last ${clockTime(Date.parse(inc.lastSeen))} · last run ${inc.lastRun}`,
        ...tl.map(timelineLine),
      ];
      return { reply: { title: `Incident ${inc.id}: ${inc.cause} on ${inc.target}`, lines } };
    }
    const open = await this.incidents.open();
    const resolved = (await this.incidents.recent(20)).filter((i) => i.state === 'resolved').slice(0, 5);
    const lines = open.length ? open.map((i) => incidentLine(i, now)) : ['no open incidents'];
    if (resolved.length) lines.push('Recently resolved:', ...resolved.map((i) => `✔ ${i.id} ${i.target}: ${i.cause} · resolved by ${i.resolvedBy} ${duration(now - Date.parse(i.resolvedAt ?? i.lastSeen))} ago`));
    lines.push('/incidents <id> shows one timeline');
    return { reply: { title: `Incidents (${open.length} open)`, lines } };
  }

  /** `/oncall`: who is on call now and next. */
  async whoIsOnCall(): Promise<Answer> {
    if (!this.rotation.people.length) return refuse('no on-call rotation is configured (oncall.rotation in the config)');
    const shift = await this.rotation.current();
    const next = this.rotation.after(shift?.person);
    const pending = await this.handoffs.overdue(Number.POSITIVE_INFINITY);
    const lines = [
      `on call now: ${shift?.person}${shift?.sinceMs ? ` (since ${clockTime(shift.sinceMs)})` : ''}`,
      `next: ${next}`,
      ...pending.map((h) => `handoff ${h.id} to ${h.to} is waiting to be taken`),
    ];
    return { reply: { title: 'On call', lines } };
  }

  /** `/handoff [to]`: starts a handoff in the asking room. */
  async handoff(a: Asker, to?: string): Promise<Answer> {
    const shift = await this.rotation.current();
    const incoming = to ? this.personOf(to, a.user) : this.rotation.after(shift?.person ?? a.user);
    if (!incoming) return refuse('who takes over? /handoff <tg:id|slack:id>, or configure oncall.rotation');
    const h = await this.startHandoff({ by: a.user, room: a.room, to: incoming, from: shift?.person ?? a.user });
    return h ? { detail: `handoff ${h.id} to ${h.to}` } : refuse('the handoff message could not be posted');
  }

  /** The "I have it" button: `/handoff take <id>`. */
  async take(a: Asker, id: string): Promise<Answer> {
    const h = await this.handoffs.get(id);
    if (!h) return refuse(`no handoff ${id}`);
    if (h.takenBy) return refuse(`${id} was already taken by ${h.takenBy}`);
    if (a.user !== h.to && a.user !== h.escalatedTo) return refuse(`handoff ${id} is for ${h.to}${h.escalatedTo ? ` or ${h.escalatedTo}` : ''}`);
    const at = this.now();
    if (!(await this.handoffs.claimTake(id, a.user, at))) return refuse(`${id} was already taken`);
    const taken: Handoff = { ...h, takenBy: a.user, takenMs: at };
    await this.handoffs.update(taken);
    await this.rotation.take(a.user, at);
    if (h.messageId) {
      const ref: MessageRef = { room: h.room, id: h.messageId };
      void this.o.chat.edit(ref, handoffMessage(taken, at));
      this.say({ room: h.room, thread: h.messageId }, `✅ ${a.user} has it (${clockTime(at)})`);
    }
    return { detail: `took ${id}` };
  }

  /** `/digest now [name]` (runs the checks and posts here) or `/digest [name]` (when each last ran). */
  async digest(a: Asker, now: boolean, name?: string): Promise<Answer> {
    const all = this.o.loaded.config.schedules ?? [];
    if (!all.length) return refuse('no schedules are configured (schedules: in the config)');
    const chosen = name ? all.filter((s) => s.name === name) : all;
    if (!chosen.length) return refuse(`no schedule "${name}" — /schedules lists them`);
    if (!now) {
      const lines: string[] = [];
      for (const s of chosen) {
        const last = await this.digests.last(s.name);
        const bad = last ? Object.values(last.targets).filter((t) => t.state !== 'ok').length : 0;
        lines.push(last ? `${s.name}: last digest ${clockTime(last.atMs)} — ${bad} not ok of ${Object.keys(last.targets).length}` : `${s.name}: no digest yet`);
      }
      lines.push('/digest now [name] runs the checks and posts the digest here');
      return { reply: { title: 'Digests', lines } };
    }
    for (const s of chosen) await this.runDigest(s, a.room, a.user);
    return { detail: `digest ${chosen.map((s) => s.name).join(', ')}` };
  }

  /** `/schedules`: every schedule and when it fires next. */
  schedules(): Answer {
    const now = this.now();
    const lines = scheduleSpecs(this.o.loaded.config).map((s) => {
      const next = nextFire(s.pattern, s.tz, now);
      const what = s.job.kind === 'digest' ? `${s.job.name}: ${this.schedule(s.job.name)?.runbook} digest` : 'handoff';
      return `${what} · "${s.pattern}" ${s.tz} · next ${clockTime(next.getTime())} (in ${duration(next.getTime() - now)})`;
    });
    return { reply: { title: 'Schedules', lines: lines.length ? lines : ['no schedules are configured'] } };
  }

  // -------------------------------------------------------------------------
  // Schedules

  /** One schedule fire (from the schedule worker). */
  async runScheduled(job: ScheduleJob): Promise<void> {
    if (job.kind === 'digest') {
      const s = this.schedule(job.name);
      if (!s) return this.o.log?.(`schedules: no schedule "${job.name}" in this config; skipped`);
      await this.runDigest(s, s.post, `schedule:${s.name}`);
      return;
    }
    const h = this.o.loaded.config.oncall?.handoff;
    if (!h) return;
    const shift = await this.rotation.current();
    const to = this.rotation.after(shift?.person);
    if (!to) return;
    await this.startHandoff({ by: 'schedule:handoff', room: h.post, to, ...(shift ? { from: shift.person } : {}) });
  }

  /** Runs one digest: checks through the queue, one message, incidents counted, snapshot kept. */
  async runDigest(s: ScheduleConfig, room: string, by: string): Promise<MessageRef | undefined> {
    const targets = s.targets === 'all' ? Object.keys(this.o.loaded.config.targets) : s.targets;
    const timeoutMs = this.o.digestTimeoutMs ?? 120_000;
    const startedMs = this.now();
    const finished: FinishedRun[] = [];
    const outcomes = await Promise.all(targets.map((t) => this.check(s.runbook, t, by, room, timeoutMs, finished)));
    const records: RunOutcome[] = [];
    for (const run of finished) records.push(await this.runFinished(run));
    const previous = await this.digests.last(s.name);
    const open = await this.incidents.open();
    const { message, snapshot } = composeDigest({ name: s.name, runbook: s.runbook, outcomes, previous, open, nowMs: this.now(), startedMs, timeoutMs });
    const ref = await this.o.chat.post(room, message);
    await this.digests.save(s.name, snapshot);
    if (ref) {
      const thread = ref.thread ?? ref.id;
      for (const r of records) {
        if (r.kind !== 'opened') continue;
        await this.incidents.linkThread(r.incident.id, room, thread);
        this.say({ room, thread }, `🚨 incident ${r.incident.id} opened: ${r.incident.cause} on ${r.incident.target}. /ack ${r.incident.id} · /resolve ${r.incident.id} [note]`);
      }
    }
    return ref;
  }

  /** Escalates handoffs nobody took in time (once each). Safe to call often, from several bots. */
  tick(): Promise<void> {
    this.ticking ??= (async () => {
      try {
        for (const h of await this.handoffs.overdue(this.now())) {
          if (!(await this.handoffs.claimEscalation(h.id))) continue;
          const next = this.rotation.after(h.to);
          const escalated: Handoff = { ...h, escalatedMs: this.now(), ...(next && next !== h.to ? { escalatedTo: next } : {}) };
          await this.handoffs.update(escalated);
          if (!h.messageId) continue;
          const thread = { room: h.room, thread: h.messageId };
          const who = escalated.escalatedTo;
          void this.o.chat.post(
            h.room,
            {
              lines: [`⏰ nobody took handoff ${h.id} within ${duration(h.deadlineMs - h.createdMs)} (${h.to} did not answer).${who ? ` ${who}, can you take it?` : ''}`],
              ...(who ? { mentions: [who] } : {}),
            },
            { thread: thread.thread },
          );
          void this.o.chat.edit({ room: h.room, id: h.messageId }, handoffMessage(escalated, this.now()));
        }
      } catch (e) {
        this.o.log?.(`handoffs: ${(e as Error).message}`);
      } finally {
        this.ticking = undefined;
      }
    })();
    return this.ticking;
  }

  // -------------------------------------------------------------------------
  // Plumbing

  private schedule(name: string): ScheduleConfig | undefined {
    return this.o.loaded.config.schedules?.find((s) => s.name === name);
  }

  private async check(runbook: string, target: string, by: string, room: string, timeoutMs: number, finished: FinishedRun[]): Promise<CheckOutcome> {
    let runId: string;
    try {
      const plan = prepareRun(this.o.loaded, this.o.library, { runbook, target }, this.o.env, { credentials: false });
      // A digest's check asks nobody: a fix its cause offers is reported as needing approval, never waited on.
      ({ runId } = await this.o.queue.submit(plan, { requestedBy: by, replyTo: room, approvals: 'given' }));
    } catch (e) {
      return { target, state: 'error', cause: isTriageError(e) ? e.code : 'INTERNAL', summary: (e as Error).message };
    }
    try {
      const final = await this.o.queue.wait(runId, { timeoutMs });
      const r = final.result;
      finished.push({ runId, runbook, target, requestedBy: by, result: r });
      if (r.status === 'healthy') return { target, state: 'ok', runId };
      return { target, state: r.status === 'unhealthy' ? 'failing' : 'error', cause: r.cause ?? r.status, summary: r.summary, runId };
    } catch (e) {
      if (isTriageError(e) && e.code === 'RUN_FAILED' && /did not finish in time/.test(e.message)) {
        await this.o.queue.cancel(runId, `${by} (no answer within ${duration(timeoutMs)})`).catch(() => {});
        return { target, state: 'no-answer', runId };
      }
      return { target, state: 'error', cause: isTriageError(e) ? e.code : 'INTERNAL', summary: (e as Error).message, runId };
    }
  }

  private async startHandoff(o: { by: string; room: string; to: string; from?: string }): Promise<Handoff | undefined> {
    const now = this.now();
    const takeWithin = this.o.loaded.config.oncall?.handoff?.takeWithin ?? DEFAULT_TAKE_WITHIN_MS;
    const h = await this.handoffs.create({ ...o, createdMs: now, deadlineMs: now + takeWithin });
    const ref = await this.o.chat.post(o.room, handoffMessage(h, now));
    if (!ref) return undefined;
    const posted: Handoff = { ...h, messageId: ref.id };
    await this.handoffs.update(posted);
    const thread = ref.thread ?? ref.id;
    for (const msg of composeHandoff(await this.handoffState(now))) void this.o.chat.post(o.room, msg, { thread });
    return posted;
  }

  /** Everything the handoff thread shows, read now. */
  private async handoffState(now: number) {
    const shift = await this.rotation.current();
    const since = shift?.sinceMs || now - DAY_MS;
    const open = await this.incidents.open();
    const timelines: Record<string, Awaited<ReturnType<IncidentStore['timeline']>>> = {};
    for (const i of open) timelines[i.id] = await this.incidents.timeline(i.id);
    const runs = await this.o.queue.recent(200);
    const problemRuns: ProblemRun[] = runs
      .filter((r) => Date.parse(r.createdAt) >= since && r.result?.status === 'unhealthy')
      .map((r) => ({ runId: r.runId, runbook: r.runbook, target: r.target, cause: r.result?.cause ?? 'unhealthy', atMs: Date.parse(r.createdAt) }));
    const approvals: WaitingApproval[] = [];
    for (const r of runs.filter((x) => x.state === 'waiting-approval' || x.state === 'running')) approvals.push(...(await this.pendingApprovals(r.runId)));
    const failingChecks = (await this.digests.all((this.o.loaded.config.schedules ?? []).map((s) => s.name))).flatMap(({ name, snapshot }) =>
      Object.entries(snapshot.targets)
        .filter(([, t]) => t.state !== 'ok')
        .map(([target, t]) => ({ schedule: name, target, what: t.state === 'no-answer' ? 'did not answer' : (t.cause ?? t.state), sinceMs: t.sinceMs })),
    );
    const notes = await this.incidents.notesSince(since);
    return { open, timelines, problemRuns, failingChecks, approvals, notes, shiftSinceMs: shift?.sinceMs ?? 0, nowMs: now };
  }

  private async pendingApprovals(runId: string): Promise<WaitingApproval[]> {
    const pending = new Map<string, WaitingApproval>();
    let after = '0';
    for (let i = 0; i < 100; i++) {
      const batch = await this.o.queue.store.events(runId, after);
      if (!batch.length) break;
      for (const e of batch) {
        after = e.id;
        if (e.type === 'approval') pending.set(`${e.host}\u0000${e.stepId}`, { runId, host: e.host, stepId: e.stepId, title: e.title });
        if (e.type === 'step') pending.delete(`${e.host}\u0000${e.step.id}`);
        if (e.type === 'final') pending.clear();
      }
    }
    return [...pending.values()];
  }

  /** The incident a command means: by id or run id, else the one of this thread or button, else the only open one. */
  private async find(a: Asker, ref?: string): Promise<Incident | string> {
    if (ref) return (await this.byRef(ref)) ?? `no incident for ${ref} — /incidents lists the open ones`;
    const threads = [a.thread, a.message ? (a.message.thread ?? a.message.id) : undefined].filter((t): t is string => !!t);
    for (const t of threads) {
      const id = await this.incidents.ofThread(a.room, t);
      const inc = id ? await this.incidents.get(id) : null;
      if (inc) return inc;
    }
    const open = await this.incidents.open();
    if (open.length === 1) return open[0]!;
    return open.length ? `which incident? ${open.map((i) => i.id).join(', ')} are open — name one, e.g. /ack ${open[0]!.id}` : 'there is no open incident';
  }

  private async byRef(ref: string): Promise<Incident | null> {
    if (INCIDENT_ID_RE.test(ref)) return this.incidents.get(ref);
    let id = await this.incidents.ofRun(ref);
    if (!id) {
      // The card's button can be clicked before the run was counted: count it now (recording is idempotent).
      const rec = await this.o.queue.store.get(ref);
      if (rec?.result) await this.runFinished({ runId: rec.runId, runbook: rec.runbook, target: rec.target, requestedBy: rec.requestedBy, result: rec.result });
      id = await this.incidents.ofRun(ref);
    }
    return id ? this.incidents.get(id) : null;
  }

  /** A person as written (`tg:1`, `slack:U1`, `@name`): identities as they are, names looked up in the rotation. */
  private personOf(to: string, asker: string): string | undefined {
    if (/^(tg|slack):/.test(to)) return to;
    const platform = asker.split(':')[0];
    return this.rotation.people.find((p) => p.startsWith(`${platform}:`) && p.slice(platform!.length + 1) === to.replace(/^@/, '')) ?? to;
  }

  /** A reply for the asker unless they are already looking at the incident's thread (or clicked its button). */
  private echo(a: Asker, inc: Incident, text: string): Answer {
    if (a.via === 'button') return {};
    if (a.thread && inc.room === a.room && inc.thread === a.thread) return {};
    return { reply: text };
  }

  private inThread(inc: Incident, text: string): void {
    if (inc.room && inc.thread) this.say({ room: inc.room, thread: inc.thread }, text);
  }

  private say(where: { room: string; thread: string }, text: string): void {
    void this.o.chat.post(where.room, { lines: [text] }, { thread: where.thread });
  }
}

function refuse(text: string): Answer {
  return { reply: `✗ ${text}`, outcome: 'invalid', detail: text };
}

function timelineLine(e: { at: string; kind: string; by?: string; runId?: string; text?: string }): string {
  const t = clockTime(Date.parse(e.at));
  switch (e.kind) {
    case 'run':
      return `${t} ❌ run ${e.runId}${e.by ? ` (asked by ${e.by})` : ''}: ${e.text ?? ''}`;
    case 'recovered':
      return `${t} ✅ recovered? run ${e.runId} was healthy`;
    case 'ack':
      return `${t} 👀 acked by ${e.by}`;
    case 'note':
      return `${t} 📝 ${e.by}: ${e.text ?? ''}`;
    default:
      return `${t} ✔ resolved by ${e.by}${e.text ? `: ${e.text}` : ''}`;
  }
}

