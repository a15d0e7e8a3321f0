/**
 * A whole chat bot in memory, for tests that read like the user's story:
 *
 *   const chat = await ConsoleChat.start({ config, runbookDirs: [dir] });
 *   await chat.send('/diagnose 502 shop', { as: 'console:alice' });
 *   const card = await chat.waitForFinalCard();
 *   expect(card).toContain('cause: service-down');
 *
 * Everything behind the chat is real: Redis (unique prefix, purged on close),
 * the RunQueue, a worker (`startWorker`) and the executor on `address: local`
 * hosts. Only the chat platform is replaced, by {@link MemoryTransport}s (one
 * per platform, sharing one {@link ChatLog}), so Telegram and Slack identities
 * can be used too: `send(text, { as: 'tg:42', room: 'tg:-100' })`.
 *
 * Deliberately left out: platform rendering (adapters are tested on their own).
 */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { stringify } from 'yaml';
import type { ChatFile, ChatMessage, ChatTransport, IncomingCommand, MessageRef, Platform } from '../../src/bot/adapter.ts';
import { type AuditEntry, AuditLog } from '../../src/bot/audit.ts';
import { renderPlainText } from '../../src/bot/console/plain-text.ts';
import { ChatCore, type ChatCoreOptions } from '../../src/bot/core.ts';
import { readCard } from '../../src/bot/run-card.ts';
import { type LoadedConfig, parseConfig, type Role } from '../../src/config.ts';
import { RunQueue } from '../../src/queue/producer.ts';
import { connectRedis, type RedisHandle } from '../../src/queue/redis.ts';
import { startWorker, type TriageWorker, type WorkerOptions } from '../../src/queue/worker.ts';
import { RunbookLibrary } from '../../src/runbooks/loader.ts';

/** A message as the chat shows it: every version it had, newest last. */
export interface LoggedMessage {
  platform: Platform;
  ref: MessageRef;
  versions: ChatMessage[];
  /** Only the asker could see it (Slack ephemeral). */
  privateTo?: string;
}

/** What every transport of one chat recorded. */
export class ChatLog {
  readonly messages: LoggedMessage[] = [];
  readonly files: { platform: Platform; room: string; thread?: string; file: ChatFile }[] = [];
  /** Messages that were longer than the transport allows (should stay empty). */
  readonly tooLong: { platform: Platform; length: number; max: number }[] = [];
  private seq = 0;

  nextId(): string {
    return String(++this.seq);
  }

  find(id: string): LoggedMessage | undefined {
    return this.messages.find((m) => m.ref.id === id);
  }
}

/** An in-memory ChatTransport. `fault` can make an operation fail (return the error to throw). */
export class MemoryTransport implements ChatTransport {
  fault?: (op: 'post' | 'edit' | 'upload', room: string, thread?: string) => Error | undefined;

  constructor(
    readonly platform: Platform,
    readonly log: ChatLog,
    readonly maxTextLength = platform === 'slack' ? 3000 : 4096,
  ) {}

  async post(room: string, msg: ChatMessage, opts: { thread?: string } = {}): Promise<MessageRef> {
    this.check('post', room, msg, opts.thread);
    const ref: MessageRef = { room, id: this.log.nextId(), ...(opts.thread ? { thread: opts.thread } : {}) };
    this.log.messages.push({ platform: this.platform, ref, versions: [msg] });
    return ref;
  }

  async edit(ref: MessageRef, msg: ChatMessage): Promise<void> {
    this.check('edit', ref.room, msg);
    const m = this.log.find(ref.id);
    if (!m) throw new Error(`no message ${ref.id}`);
    m.versions.push(msg);
  }

  async upload(room: string, file: ChatFile, opts: { thread?: string } = {}): Promise<void> {
    const err = this.fault?.('upload', room, opts.thread);
    if (err) throw err;
    this.log.files.push({ platform: this.platform, room, ...(opts.thread ? { thread: opts.thread } : {}), file });
  }

  async replyPrivately(cmd: IncomingCommand, msg: ChatMessage): Promise<void> {
    this.check('post', cmd.room, msg);
    const ref: MessageRef = { room: cmd.room, id: this.log.nextId() };
    this.log.messages.push({ platform: this.platform, ref, versions: [msg], privateTo: cmd.user });
  }

  private check(op: 'post' | 'edit', room: string, msg: ChatMessage, thread?: string): void {
    const err = this.fault?.(op, room, thread);
    if (err) throw err;
    const length = [msg.title ?? '', ...msg.lines, msg.code ?? ''].join('\n').length;
    if (length > this.maxTextLength) this.log.tooLong.push({ platform: this.platform, length, max: this.maxTextLength });
  }
}

/** Options for {@link ConsoleChat.start}. */
export interface ConsoleChatOptions {
  /** triage.yaml as an object or YAML text. */
  config: Record<string, unknown> | string;
  /** Who `send` speaks as by default. Default `console:alice`. */
  user?: string;
  /** Extra runbook directories. */
  runbookDirs?: string[];
  /** Start a worker. Default true. */
  worker?: boolean | Partial<WorkerOptions>;
  consoleRole?: Role | null;
  /** Anything else for the core (delivery retries, live card timings, pacing). */
  core?: Partial<ChatCoreOptions>;
  env?: NodeJS.ProcessEnv;
}

/** Options for {@link ConsoleChat.send}. */
export interface SendOptions {
  /** `console:<name>`, `tg:<id>` or `slack:<id>`; the platform follows from it. */
  as?: string;
  /** Default: `console:local`, or the first allowed chat/channel of the platform. */
  room?: string;
  deliveryId?: string;
  via?: 'text' | 'button';
  message?: MessageRef;
  userName?: string;
}

const PLATFORM_OF: Record<string, Platform> = { console: 'console', tg: 'telegram', slack: 'slack' };

/** A chat with Triage behind it. */
export class ConsoleChat {
  readonly log = new ChatLog();
  readonly transports: Record<Platform, MemoryTransport>;
  private lastUser: string;

  private constructor(
    readonly core: ChatCore,
    readonly queue: RunQueue,
    readonly audit: AuditLog,
    readonly loaded: LoadedConfig,
    private readonly handle: RedisHandle,
    private readonly redis: Redis,
    private readonly worker: TriageWorker | undefined,
    user: string,
    /** Lines the core logged (redacted). */
    readonly logged: string[],
  ) {
    this.lastUser = user;
    this.transports = {
      console: new MemoryTransport('console', this.log),
      telegram: new MemoryTransport('telegram', this.log),
      slack: new MemoryTransport('slack', this.log),
    };
    for (const t of Object.values(this.transports)) core.attach(t);
  }

  /** Starts Redis-backed Triage with a worker and an in-memory chat. */
  static async start(o: ConsoleChatOptions): Promise<ConsoleChat> {
    const env = o.env ?? process.env;
    const text = typeof o.config === 'string' ? o.config : stringify(o.config);
    const loaded = parseConfig(text, join(tmpdir(), 'triage-console-chat.yaml'), env);
    const handle = await connectRedis({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
    const prefix = `t-${randomUUID()}`;
    const redis = handle.client();
    redis.on('error', () => {});
    const queue = new RunQueue({ redis: handle, prefix });
    const audit = new AuditLog(redis, prefix);
    const library = RunbookLibrary.load({ dirs: o.runbookDirs ?? [] });
    const logged: string[] = [];
    const core = new ChatCore({
      queue,
      loaded,
      library,
      audit,
      redis,
      prefix,
      env,
      pacing: { console: { minIntervalMs: 0 }, telegram: { minIntervalMs: 0, perMinute: 0 }, slack: { minIntervalMs: 0 } },
      delivery: { attempts: 2, backoffMs: 10 },
      liveCard: { endGraceMs: 5000, reconnectDelayMs: 100 },
      ...(o.consoleRole !== undefined ? { consoleRole: o.consoleRole } : {}),
      log: (line) => logged.push(line),
      ...o.core,
    });
    const worker =
      o.worker === false
        ? undefined
        : await startWorker({
            redis: handle,
            prefix,
            config: loaded,
            library,
            stalledIntervalMs: 5000,
            lockDurationMs: 10_000,
            env,
            ...(typeof o.worker === 'object' ? o.worker : {}),
          });
    return new ConsoleChat(core, queue, audit, loaded, handle, redis, worker, o.user ?? 'console:alice', logged);
  }

  /** Types a command (or clicks: `via: 'button'`) and waits for the replies to be delivered. */
  async send(text: string, o: SendOptions = {}): Promise<void> {
    const user = o.as ?? this.lastUser;
    this.lastUser = user;
    const platform = PLATFORM_OF[user.split(':')[0] ?? ''] ?? 'console';
    const cmd: IncomingCommand = {
      platform,
      user,
      ...(o.userName ? { userName: o.userName } : {}),
      room: o.room ?? this.defaultRoom(platform),
      text,
      via: o.via ?? 'text',
      deliveryId: o.deliveryId ?? randomUUID(),
      ...(o.message ? { message: o.message } : {}),
    };
    await this.core.handle(cmd);
    await this.core.flush(5000);
  }

  /** Clicks the button labelled `label` on the newest message that has one. */
  async click(label: string, o: Omit<SendOptions, 'via' | 'message'> = {}): Promise<void> {
    for (const m of [...this.log.messages].reverse()) {
      const b = latest(m).buttons?.find((x) => x.label === label || x.label.startsWith(`${label} `));
      if (b) return this.send(b.command, { ...o, via: 'button', message: m.ref });
    }
    throw new Error(`no message has a "${label}" button; messages:\n${this.transcript()}`);
  }

  /** Top-level messages that are not run cards, as text (replies, refusals, errors). */
  replies(): string[] {
    return this.log.messages.filter((m) => !m.ref.thread && !readCard(latest(m))).map((m) => renderPlainText(latest(m)));
  }

  lastReply(): string {
    return this.replies().at(-1) ?? '';
  }

  /** Run cards, oldest first. */
  cardMessages(): LoggedMessage[] {
    return this.log.messages.filter((m) => !!readCard(m.versions[0]!));
  }

  /** One run's card (default: the newest card). */
  cardMessage(runId?: string): LoggedMessage | undefined {
    const cards = this.cardMessages();
    return runId ? cards.filter((m) => readCard(m.versions[0]!)?.runId === runId).at(-1) : cards.at(-1);
  }

  /** The card's latest content as text. */
  card(runId?: string): string {
    const m = this.cardMessage(runId);
    return m ? renderPlainText(latest(m)) : '';
  }

  /** The run id of the newest card. */
  runId(): string | undefined {
    const m = this.cardMessage();
    return m ? readCard(m.versions[0]!)?.runId : undefined;
  }

  /** Everything posted in the card's thread (messages and file names), as text. */
  thread(runId?: string): string {
    const card = this.cardMessage(runId);
    if (!card) return '';
    const root = card.ref.thread ?? card.ref.id;
    const msgs = this.log.messages.filter((m) => m.ref.thread === root && m !== card).map((m) => renderPlainText(latest(m)));
    const files = this.log.files.filter((f) => f.thread === root).map((f) => `[file ${f.file.filename}]`);
    return [...msgs, ...files].join('\n\n');
  }

  /** Files attached in the card's thread. */
  files(runId?: string): ChatFile[] {
    const card = this.cardMessage(runId);
    if (!card) return [];
    const root = card.ref.thread ?? card.ref.id;
    return this.log.files.filter((f) => f.thread === root).map((f) => f.file);
  }

  /** Waits until `pred` holds for the newest card's text. */
  async waitForCard(pred: (text: string) => boolean = () => true, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = this.card();
      if (text && pred(text)) return text;
      if (Date.now() > deadline) throw new Error(`timed out waiting for the card; last:\n${text || '(no card)'}\n\nlog:\n${this.logged.join('\n')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Waits for the newest card to be final, then for the thread to be delivered; returns the card text. */
  async waitForFinalCard(o: { timeoutMs?: number } = {}): Promise<string> {
    await this.waitForCard(() => {
      const m = this.cardMessage();
      return !!m && !!readCard(latest(m))?.final;
    }, o.timeoutMs ?? 30_000);
    await this.core.flush(5000);
    return this.card();
  }

  /** How many runs the queue has (to check that nothing was queued). */
  async runCount(): Promise<number> {
    return (await this.queue.store.recent(10_000)).length;
  }

  async auditEntries(count = 100): Promise<AuditEntry[]> {
    return this.audit.list({ count });
  }

  /** Everything the chat shows, for failure messages. */
  transcript(): string {
    return this.log.messages.map((m) => `#${m.ref.id}${m.ref.thread ? ` (thread ${m.ref.thread})` : ''}: ${renderPlainText(latest(m))}`).join('\n---\n');
  }

  /** Stops everything and deletes this chat's Redis keys. */
  async close(): Promise<void> {
    await this.core.close(2000);
    await this.worker?.close(2000);
    await this.queue.store.purge();
    await this.queue.close();
    this.redis.disconnect();
    await this.handle.stop();
  }

  private defaultRoom(platform: Platform): string {
    if (platform === 'telegram') return `tg:${this.loaded.config.chat?.telegram?.allowedChats[0] ?? '-1'}`;
    if (platform === 'slack') return `slack:${this.loaded.config.chat?.slack?.allowedChannels[0] ?? 'C0'}`;
    return 'console:local';
  }
}

function latest(m: LoggedMessage): ChatMessage {
  return m.versions[m.versions.length - 1]!;
}
