/**
 * The chat core: every command from every adapter goes through
 * {@link ChatCore.handle} — dedupe by delivery id, access check, parse,
 * role check, then the command's handler — and every one is audited.
 * Replies are short, go through the room's outbox and never carry a stack
 * trace or a secret; runs get a live card.
 *
 * On-call commands (`/ack /resolve /note /incidents /oncall /handoff
 * /digest /schedules`) are handed to the deployment's {@link OnCall}
 * (src/oncall), which also hears of every run whose card ended, so an
 * unhealthy run opens or updates its incident. Without one they answer
 * "not set up".
 *
 * Deliberately left out: transports (adapters attach themselves), the queue
 * worker and executors (the CLI wires those in).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LoadedConfig, Role } from '../config.ts';
import { isTriageError, type TriageError, TriageErrors } from '../errors.ts';
import type { RunEvent } from '../queue/jobs.ts';
import type { RunQueue } from '../queue/producer.ts';
import { RedisWatch, within } from '../queue/redis-watch.ts';
import type { RunRecord } from '../queue/store.ts';
import { escapeText } from '../escape.ts';
import { redact } from '../redact.ts';
import type { RunbookLibrary } from '../runbooks/loader.ts';
import { prepareRun } from '../runbooks/prepare.ts';
import { clip } from '../text.ts';
import { AccessPolicy } from './access.ts';
import type { ChatMessage, ChatTransport, IncomingCommand, Platform } from './adapter.ts';
import type { AuditLog, AuditOutcome } from './audit.ts';
import { COMMAND_NAMES, COMMANDS, type CommandName, isCommandError, type ParsedCommand, parseCommand } from './commands.ts';
import { LiveCard, type LiveCardOptions } from './live-card.ts';
import { Outbox, type OutboxOptions, type OutboxPacing } from './outbox.ts';
import type { Asker, Answer, OnCall, OncallChat } from '../oncall/on-call.ts';
import { fitMessage } from './run-card.ts';

/** Options for {@link ChatCore}. */
export interface ChatCoreOptions {
  queue: RunQueue;
  loaded: LoadedConfig;
  library: RunbookLibrary;
  audit: AuditLog;
  /** For delivery dedupe (`<prefix>:seen:<platform>:<deliveryId>`, kept 24 h). */
  redis: Redis;
  prefix: string;
  /** Per-platform pacing; default `DEFAULT_PACING` (outbox.ts). Tests use small values. */
  pacing?: Partial<Record<Platform, Partial<OutboxPacing>>>;
  /** For `env:` secrets while preparing runs. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Role of `console:` users (see access.ts). Default `operator`; `null` refuses them. */
  consoleRole?: Role | null;
  /** Retry settings for every outbox (tries, backoff). */
  delivery?: Pick<OutboxOptions, 'attempts' | 'backoffMs' | 'maxRateLimitWaits'>;
  /** Live card timings. */
  liveCard?: Pick<LiveCardOptions, 'endGraceMs' | 'reconnectDelayMs' | 'maxReconnects'>;
  /** Where problems are logged (lines are redacted first). Default stderr. */
  log?: (line: string) => void;
  /**
   * While Redis is unreachable, how long a command that needs the queue waits
   * for it to come back (after replying "the queue is unavailable, retrying")
   * before giving up. Default 30 000 ms.
   */
  queueRetryMs?: number;
  /** Builds the deployment's on-call side, given a way to post through this core. Absent: on-call commands answer "not set up". */
  oncall?: (chat: OncallChat) => OnCall;
}

/** What a handler did, for the audit trail. */
interface Outcome {
  outcome?: AuditOutcome;
  runId?: string;
  detail?: string;
}

/** What a handler gets besides its parsed command. */
interface Context {
  cmd: IncomingCommand;
  role: Role;
  /** A short reply in the command's room and thread. */
  reply(text: string | ChatMessage): void;
}

type Handler<N extends CommandName> = (ctx: Context, p: Extract<ParsedCommand, { name: N }>) => Promise<Outcome>;
type Router = { [N in CommandName]: Handler<N> };

const ONCALL_NOT_SET_UP = 'on-call features are not set up yet';
const DEDUPE_TTL_S = 86_400;
/** Commands answered from config alone: served even while Redis is down. */
const WITHOUT_QUEUE = new Set<CommandName>(['help', 'runbooks', 'targets', 'schedules']);
const QUEUE_UNAVAILABLE = 'the queue is unavailable, retrying';
const PREFIX: Record<Platform, string> = { telegram: 'tg:', slack: 'slack:', console: 'console:' };

/** Routes chat commands to runs, replies and live cards. */
export class ChatCore {
  private readonly access: AccessPolicy;
  private readonly transports = new Map<Platform, ChatTransport>();
  private readonly outboxes = new Map<Platform, Outbox>();
  private readonly cards = new Set<LiveCard>();
  private readonly log: (line: string) => void;
  private readonly router: Router;
  private closed = false;
  private readonly redisWatch: RedisWatch;
  /** The on-call side, when the deployment has one. */
  readonly oncall?: OnCall;

  constructor(private readonly o: ChatCoreOptions) {
    this.access = new AccessPolicy(o.loaded, { consoleRole: o.consoleRole });
    this.redisWatch = new RedisWatch(o.redis);
    const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    this.log = (line) => log(escapeText(redact(line)));
    this.oncall = o.oncall?.(this.chatForOncall());
    const oncall =
      <N extends CommandName>(fn: (oc: OnCall, a: Asker, p: Extract<ParsedCommand, { name: N }>) => Promise<Answer> | Answer): Handler<N> =>
      async (ctx, p) => {
        if (!this.oncall) {
          ctx.reply(ONCALL_NOT_SET_UP);
          return { detail: 'on-call not set up' };
        }
        const { cmd } = ctx;
        const a: Asker = { user: cmd.user, room: cmd.room, via: cmd.via, ...(cmd.thread ? { thread: cmd.thread } : {}), ...(cmd.message ? { message: cmd.message } : {}) };
        const answer = await fn(this.oncall, a, p);
        if (answer.reply) ctx.reply(answer.reply);
        return { ...(answer.outcome ? { outcome: answer.outcome } : {}), ...(answer.detail ? { detail: answer.detail } : {}) };
      };
    // The one place a command meets its handler.
    this.router = {
      diagnose: (c, p) => this.diagnose(c, p),
      runbooks: (c) => this.runbooks(c),
      targets: (c) => this.targets(c),
      status: (c, p) => this.status(c, p),
      cancel: (c, p) => this.cancel(c, p),
      approve: (c, p) => this.approve(c, p),
      help: (c) => this.help(c),
      ack: oncall<'ack'>((oc, a, p) => oc.ack(a, p.ref)),
      resolve: oncall<'resolve'>((oc, a, p) => oc.resolve(a, p.ref, p.note)),
      note: oncall<'note'>((oc, a, p) => oc.note(a, p.ref, p.text)),
      incidents: oncall<'incidents'>((oc, _a, p) => oc.list(p.ref)),
      oncall: oncall<'oncall'>((oc) => oc.whoIsOnCall()),
      handoff: oncall<'handoff'>((oc, a, p) => (p.take ? oc.take(a, p.take) : oc.handoff(a, p.to))),
      digest: oncall<'digest'>((oc, a, p) => oc.digest(a, p.now, p.schedule)),
      schedules: oncall<'schedules'>((oc) => oc.schedules()),
    };
  }

  /** Lets the core post through `t` for commands from `t.platform` (one transport per platform). */
  attach(t: ChatTransport): void {
    this.transports.set(t.platform, t);
    this.outboxes.get(t.platform)?.close(0).catch(() => {});
    this.outboxes.set(
      t.platform,
      new Outbox({
        transport: t,
        ...(this.o.pacing?.[t.platform] ? { pacing: this.o.pacing[t.platform] } : {}),
        ...this.o.delivery,
        onGiveUp: (op, err) => this.log(`chat: gave up ${op.kind} in ${op.room}: ${errorText(err)}`),
      }),
    );
  }

  /** Handles one command. Never throws: every problem becomes a short reply and an audit entry. */
  async handle(cmd: IncomingCommand): Promise<void> {
    let result: Outcome & { outcome: AuditOutcome } = { outcome: 'error' };
    const reply = (text: string | ChatMessage) => this.reply(cmd, text);
    try {
      if (this.closed) {
        result = { outcome: 'error', detail: 'shutting down' };
        return;
      }
      // Without Redis there is no dedupe: a repeated /help is harmless; queue commands are deduped once it is back.
      const redisUp = this.redisWatch.up;
      if (redisUp && !(await this.firstDelivery(cmd))) {
        result = { outcome: 'duplicate', detail: `delivery ${clip(cmd.deliveryId, 60)} seen before` };
        return;
      }
      const admitted = this.access.admit(cmd);
      if (!admitted.ok) {
        this.replyPrivately(cmd, admitted.message);
        result = { outcome: 'denied', detail: `ACCESS_DENIED: ${admitted.reason}` };
        return;
      }
      const parsed = parseCommand(cmd.text);
      if (isCommandError(parsed)) {
        this.replyPrivately(cmd, parsed.error);
        result = { outcome: 'invalid', detail: `COMMAND_INVALID: ${parsed.error}` };
        return;
      }
      const allowed = this.access.check(cmd, COMMANDS[parsed.name].role, `/${parsed.name}`);
      if (!allowed.ok) {
        this.replyPrivately(cmd, allowed.message);
        result = { outcome: 'denied', detail: `ACCESS_DENIED: ${allowed.reason}, /${parsed.name} needs ${COMMANDS[parsed.name].role}` };
        return;
      }
      if (!redisUp && !WITHOUT_QUEUE.has(parsed.name)) {
        reply(QUEUE_UNAVAILABLE);
        if (!(await this.redisWatch.untilUp(this.o.queueRetryMs ?? 30_000))) {
          reply('✗ the queue is still unavailable; nothing was started — try again in a minute');
          result = { outcome: 'error', detail: 'REDIS_UNAVAILABLE: queue unavailable' };
          return;
        }
        if (!(await this.firstDelivery(cmd))) {
          result = { outcome: 'duplicate', detail: `delivery ${clip(cmd.deliveryId, 60)} seen before` };
          return;
        }
      }
      const handler = this.router[parsed.name] as Handler<CommandName>;
      const r = await handler({ cmd, role: allowed.role, reply }, parsed as never);
      result = { ...r, outcome: r.outcome ?? 'ok' };
    } catch (e) {
      result = this.failed(cmd, e);
    } finally {
      // The entry is written when Redis is back; the command does not wait for that.
      const audited = this.o.audit
        .record({ platform: cmd.platform, user: cmd.user, room: cmd.room, text: cmd.text, ...result })
        .catch((e) => this.log(`audit: could not record a command: ${errorText(e)}`));
      if (this.redisWatch.up) await within(audited, 2000, undefined);
    }
  }

  /** Waits until every queued chat operation is delivered (or given up); false on timeout. */
  async flush(timeoutMs = 10_000): Promise<boolean> {
    const r = await Promise.all([...this.outboxes.values()].map((ob) => ob.flush(timeoutMs)));
    return r.every(Boolean);
  }

  /** Stops following runs and delivers what is queued (bounded). */
  async close(timeoutMs = 5000): Promise<void> {
    this.closed = true;
    this.oncall?.close();
    for (const c of this.cards) c.stop();
    await Promise.race([Promise.all([...this.cards].map((c) => c.done)), sleep(timeoutMs)]);
    await Promise.all([...this.outboxes.values()].map((ob) => ob.close(timeoutMs)));
  }

  // -------------------------------------------------------------------------
  // Handlers

  private async diagnose(ctx: Context, p: Extract<ParsedCommand, { name: 'diagnose' }>): Promise<Outcome> {
    const { cmd } = ctx;
    let plan: ReturnType<typeof prepareRun>;
    try {
      plan = prepareRun(this.o.loaded, this.o.library, { runbook: p.runbook, target: p.target, ...(p.host ? { host: p.host } : {}) }, this.o.env, {
        credentials: false,
      });
    } catch (e) {
      if (!isTriageError(e) || e.kind !== 'input') throw e;
      const first = firstError(e);
      ctx.reply(`✗ ${userLine(first)}`);
      return { outcome: 'invalid', detail: `${first.code}: ${first.message}` };
    }
    const { runId, duplicate } = await this.o.queue.submit(plan, {
      requestedBy: cmd.user,
      replyTo: cmd.room,
      ...(cmd.deliveryId ? { idempotencyKey: `${cmd.platform}:${cmd.deliveryId}` } : {}),
      ...(p.host ? { host: p.host } : {}),
    });
    if (duplicate) return { outcome: 'duplicate', runId, detail: 'run already started for this delivery' };
    await this.follow(cmd, runId, { requestedBy: cmd.userName || cmd.user, totalSteps: plan.runbook.steps.length, details: 'all' });
    return { runId, detail: `${plan.runbook.name} ${plan.target.name}${p.host ? ` ${p.host}` : ''}` };
  }

  private async runbooks(ctx: Context): Promise<Outcome> {
    const lines = this.o.library.list().map(({ runbook: r }) => clip(`${r.name}${r.aliases.length ? ` (${r.aliases.join(', ')})` : ''} — ${r.description}`, 160));
    ctx.reply({ title: 'Runbooks', lines: lines.length ? lines : ['no runbooks'] });
    return {};
  }

  private async targets(ctx: Context): Promise<Outcome> {
    const lines = Object.entries(this.o.loaded.config.targets).map(([name, t]) => clip(`${name} — hosts: ${t.hosts.join(', ')}`, 160));
    ctx.reply({ title: 'Targets', lines: lines.length ? lines : ['no targets are configured'] });
    return {};
  }

  private async status(ctx: Context, p: Extract<ParsedCommand, { name: 'status' }>): Promise<Outcome> {
    if (!p.runId) {
      const runs = await this.o.queue.recent(5);
      ctx.reply({ title: 'Recent runs', lines: runs.length ? runs.map(statusLine) : ['no runs yet'] });
      return {};
    }
    const rec = await this.o.queue.status(p.runId);
    await this.follow(ctx.cmd, rec.runId, { totalSteps: this.stepCount(rec.runbook), details: 'new' });
    return { runId: rec.runId };
  }

  private async cancel(ctx: Context, p: Extract<ParsedCommand, { name: 'cancel' }>): Promise<Outcome> {
    const changed = await this.o.queue.cancel(p.runId, ctx.cmd.user);
    if (!changed) {
      const rec = await this.o.queue.status(p.runId);
      ctx.reply(`${p.runId} already ended (${rec.state})`);
      return { runId: p.runId, outcome: 'invalid', detail: `already ${rec.state}` };
    }
    // A button click shows its effect on the card itself.
    if (ctx.cmd.via === 'text') ctx.reply(`⏹ cancelling ${p.runId}`);
    return { runId: p.runId };
  }

  private async approve(ctx: Context, p: Extract<ParsedCommand, { name: 'approve' }>): Promise<Outcome> {
    const rec = await this.o.queue.status(p.runId);
    const refuse = (text: string): Outcome => {
      ctx.reply(text);
      return { runId: p.runId, outcome: 'invalid', detail: text };
    };
    if (['done', 'cancelled', 'failed'].includes(rec.state)) return refuse(`${p.runId} already ended (${rec.state})`);
    const host = p.host ?? (rec.hosts.length === 1 ? rec.hosts[0] : undefined);
    if (!host) return refuse(`${p.runId} runs on ${rec.hosts.length} hosts; say which: /approve ${p.runId} <host>:${p.step}`);
    // Only a step that is asking right now can be approved: an approval must never wait around for a later request.
    if (!(await this.waitingForApproval(rec, host, p.step))) return refuse(`nothing in ${p.runId} waits for approval as ${host}:${p.step}`);
    await this.o.queue.approve(p.runId, host, p.step, ctx.cmd.user);
    ctx.reply(`✓ approved ${host}:${p.step} in ${p.runId}`);
    return { runId: p.runId, detail: `approved ${host}:${p.step}` };
  }

  private async help(ctx: Context): Promise<Outcome> {
    const lines = COMMAND_NAMES.map((n) => `${COMMANDS[n].usage} — ${COMMANDS[n].help}`);
    lines.push(`you are ${ctx.role === 'operator' ? 'an' : 'a'} ${ctx.role}`);
    ctx.reply({ title: 'Triage commands', lines });
    return {};
  }

  // -------------------------------------------------------------------------
  // Plumbing

  private async waitingForApproval(rec: RunRecord, host: string, step: string): Promise<boolean> {
    let asked = false;
    let after = '0';
    for (;;) {
      const batch: RunEvent[] = await this.o.queue.store.events(rec.runId, after);
      if (!batch.length) return asked;
      for (const e of batch) {
        after = e.id;
        if (e.type === 'approval' && e.host === host && e.stepId === step) asked = true;
        if (e.type === 'step' && e.host === host && e.step.id === step) asked = false;
      }
    }
  }

  /** Starts a live card for the run; resolves once the card is queued for posting. */
  private async follow(cmd: IncomingCommand, runId: string, o: Pick<LiveCardOptions, 'requestedBy' | 'totalSteps' | 'details'>): Promise<void> {
    const outbox = this.outboxes.get(cmd.platform);
    if (!outbox) {
      this.log(`chat: no ${cmd.platform} transport attached; run ${runId} has no card`);
      return;
    }
    const card = LiveCard.start({
      queue: this.o.queue,
      outbox,
      runId,
      room: cmd.room,
      ...(cmd.thread ? { thread: cmd.thread } : {}),
      ...o,
      ...this.o.liveCard,
      log: this.log,
    });
    this.cards.add(card);
    void card.done.finally(() => {
      this.cards.delete(card);
      void this.runEnded(card);
    });
    await card.ready;
  }

  /** Tells on-call about a run whose card ended with a result, with the card's thread. */
  private async runEnded(card: LiveCard): Promise<void> {
    const v = card.current;
    if (!this.oncall || !v?.final || !v.result || !card.ref) return;
    const where = { room: card.ref.room, thread: card.ref.thread ?? card.ref.id };
    await this.oncall
      .runFinished({ runId: v.runId, runbook: v.runbook, target: v.target, requestedBy: v.requestedBy, result: v.result }, where)
      .catch((e) => this.log(`oncall: could not record run ${v.runId}: ${errorText(e)}`));
  }

  /** Posting for on-call: through the outbox of the room's platform, fitted to its limits. */
  private chatForOncall(): OncallChat {
    const outboxOf = (room: string) => {
      const platform = (Object.keys(PREFIX) as Platform[]).find((p) => room.startsWith(PREFIX[p]));
      const ob = platform ? this.outboxes.get(platform) : undefined;
      if (!ob) this.log(`oncall: no chat transport attached for ${clip(room, 40)}`);
      return ob;
    };
    return {
      post: async (room, msg, opts) => {
        const ob = outboxOf(room);
        return ob ? ob.post(room, fitMessage(toMessage(msg), { maxTextLength: ob.transport.maxTextLength }), opts?.thread ? { thread: opts.thread } : {}) : undefined;
      },
      edit: async (ref, msg) => {
        const ob = outboxOf(ref.room);
        if (ob) await ob.edit(ref, fitMessage(toMessage(msg), { maxTextLength: ob.transport.maxTextLength }));
      },
    };
  }

  private stepCount(runbook: string): number | undefined {
    try {
      return this.o.library.get(runbook).steps.length;
    } catch {
      return undefined;
    }
  }

  /** True the first time a delivery id is seen on this platform. */
  private async firstDelivery(cmd: IncomingCommand): Promise<boolean> {
    if (!cmd.deliveryId) return true;
    const key = `${this.o.prefix}:seen:${cmd.platform}:${clip(cmd.deliveryId, 200)}`;
    return (await this.o.redis.set(key, '1', 'EX', DEDUPE_TTL_S, 'NX')) === 'OK';
  }

  private failed(cmd: IncomingCommand, e: unknown): Outcome & { outcome: AuditOutcome } {
    if (isTriageError(e) && (e.kind === 'input' || e.code === 'RUN_NOT_FOUND')) {
      const first = firstError(e);
      this.replyPrivately(cmd, `✗ ${userLine(first)}`);
      return { outcome: 'invalid', detail: `${first.code}: ${first.message}` };
    }
    const ref = randomBytes(4).toString('hex');
    this.log(`chat: ${cmd.platform} command failed [${ref}] (${clip(cmd.text, 80)}): ${errorText(e, true)}`);
    const code = isTriageError(e) ? e.code : 'INTERNAL';
    const text = code === 'REDIS_UNAVAILABLE' ? 'Triage cannot reach Redis right now; try again in a minute' : `something went wrong (${code})`;
    this.replyPrivately(cmd, `✗ ${text} — logged as ${ref}`);
    return { outcome: 'error', detail: `${code} [${ref}]: ${errorText(e)}` };
  }

  private reply(cmd: IncomingCommand, body: string | ChatMessage): void {
    const outbox = this.outboxFor(cmd);
    if (!outbox) return;
    const msg = fitMessage(toMessage(body), { maxTextLength: outbox.transport.maxTextLength });
    void outbox.post(cmd.room, msg, cmd.thread ? { thread: cmd.thread } : {});
  }

  private replyPrivately(cmd: IncomingCommand, text: string): void {
    const outbox = this.outboxFor(cmd);
    if (!outbox) return;
    void outbox.replyPrivately(cmd, toMessage(text));
  }

  private outboxFor(cmd: IncomingCommand): Outbox | undefined {
    const outbox = this.outboxes.get(cmd.platform);
    // Replies only go back where the platform's own ids say they came from.
    if (!outbox || !cmd.room.startsWith(PREFIX[cmd.platform])) {
      this.log(`chat: cannot reply to ${cmd.platform} ${clip(cmd.room, 40)}: no transport for it`);
      return undefined;
    }
    return outbox;
  }
}

function toMessage(body: string | ChatMessage): ChatMessage {
  return typeof body === 'string' ? { lines: [clip(redact(body), 400)] } : { ...body, lines: body.lines.map((l) => redact(l)), ...(body.title ? { title: redact(body.title) } : {}) };
}

function firstError(e: TriageError): TriageError {
  return e instanceof TriageErrors && e.errors[0] ? e.errors[0] : e;
}

/** `message — fix`, one line, without the config file's path (chat does not need it). */
function userLine(e: TriageError): string {
  return clip(redact(`${e.message}${e.fix ? ` — ${e.fix}` : ''}`), 300);
}

function errorText(e: unknown, stack = false): string {
  if (e instanceof Error) return redact(stack && e.stack ? e.stack : e.message);
  return redact(String(e));
}

function statusLine(r: RunRecord): string {
  const cause = r.result?.cause ?? (r.result?.status === 'healthy' ? 'healthy' : undefined);
  const ago = agoText(Date.now() - Date.parse(r.createdAt));
  return clip([r.runId, `${r.runbook} on ${r.target}${r.host ? ` (${r.host})` : ''}`, r.state, cause, ago].filter(Boolean).join(' · '), 200);
}

function agoText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref?.());
}
