/**
 * Delivery to one chat transport, room by room. Operations for one room (post,
 * edit, upload, private reply) run one at a time, paced so the platform's limits are respected; rooms do not wait
 * for each other.
 *
 * - Pacing is a token bucket per room: one operation per `minIntervalMs` on
 *   average, with a short burst (`burst`, default 3) after a quiet spell —
 *   both platforms allow short bursts over their 1 message/s per chat.
 *   Routine traffic (progress edits, thread details) always leaves one token
 *   unused, so an urgent operation (a reply to a command, a new card, a
 *   card's final edit) goes out at once instead of waiting its turn.
 * - Urgent first, then the card, then the thread: urgent operations go ahead
 *   of everything queued, top-level posts and edits of top-level messages
 *   ahead of thread traffic (posts, files, edits in a thread); each kind
 *   keeps its own order. A routine operation waiting for a token steps aside
 *   when an urgent one arrives.
 * - Edits of one message coalesce: while an edit is still waiting its turn, a
 *   newer edit of the same message replaces its content, so only the latest
 *   card is sent.
 * - A {@link RateLimitedError} waits `retryAfterMs` and tries the same
 *   operation again — nothing is lost or reordered.
 * - Other errors are retried with doubling backoff; an operation that still
 *   fails is given up: its promise resolves as not delivered and `onGiveUp`
 *   is called (the live card then says "could not deliver some updates").
 *
 * Promises returned here never reject, so callers may fire and forget.
 *
 * Deliberately left out: persistence (a restart loses what was not yet
 * sent), and limits shared across rooms (Telegram's global 30/s is far above
 * what one bot's cards need).
 */
import { type ChatSendEvent, publishChatSend } from '../ops/events.ts';
import type { ChatFile, ChatMessage, ChatTransport, IncomingCommand, MessageRef, Platform } from './adapter.ts';

/** How fast one room may be written to. */
export interface OutboxPacing {
  /** One operation per this long in one room, on average (the bucket's refill). Default 1000 ms; 0 = unpaced. */
  minIntervalMs: number;
  /**
   * Operations one room may send back to back after a quiet spell (the
   * bucket's size). Default 3; 1 = strictly one per `minIntervalMs`. With 2
   * or more, routine operations leave one token (and one of the minute's
   * operations) for urgent ones.
   */
  burst?: number;
  /** Most operations per room in any 60 s window; `0` or absent = no limit. */
  perMinute?: number;
}

/**
 * Defaults per platform: 1 op/s per room on average with bursts of 3
 * everywhere; Telegram also 20 per minute (its limit for groups, applied to
 * every Telegram room to be safe); the console is not paced.
 */
export const DEFAULT_PACING: Record<Platform, OutboxPacing> = {
  telegram: { minIntervalMs: 1000, burst: 3, perMinute: 20 },
  slack: { minIntervalMs: 1000, burst: 3 },
  console: { minIntervalMs: 0 },
};

/** What an operation was, for `onGiveUp`. */
export interface OutboxOperation {
  kind: 'post' | 'edit' | 'upload' | 'private';
  room: string;
  /** The message edited (edits). */
  ref?: MessageRef;
  /** The thread posted into, if any. */
  thread?: string;
}

/** Called when an operation is given up for good. */
export type GiveUpHook = (op: OutboxOperation, err: unknown) => void;

/** Options for {@link Outbox}. */
export interface OutboxOptions {
  transport: ChatTransport;
  /** Default: {@link DEFAULT_PACING} for the transport's platform. */
  pacing?: Partial<OutboxPacing>;
  /** Tries for an operation failing with anything but a rate limit. Default 3. */
  attempts?: number;
  /** Wait before the second try; doubles after each. Default 1000 ms. */
  backoffMs?: number;
  /** Rate-limit waits one operation may take before it is given up. Default 10. */
  maxRateLimitWaits?: number;
  /** Called for every operation given up (after the per-operation hook). */
  onGiveUp?: GiveUpHook;
}

/** Per-operation options. */
export interface OpOptions {
  thread?: string;
  /**
   * Someone is waiting for exactly this: it goes ahead of everything queued
   * and may use the token routine traffic leaves. Default: true for
   * top-level posts and private replies, false for edits and thread traffic
   * (a live card marks its first post and its final edit urgent).
   */
  urgent?: boolean;
  /** Called if this operation (or an edit it was merged into) is given up. */
  onGiveUp?: GiveUpHook;
}

interface Op {
  info: OutboxOperation;
  /** 0 urgent, 1 top-level, 2 thread: the queue is kept in this order, each rank first in, first out. */
  rank: number;
  run: () => Promise<unknown>;
  /** Replaceable content, for coalescing edits. */
  msg?: ChatMessage;
  done: ((value: unknown, ok: boolean) => void)[];
  hooks: GiveUpHook[];
}

interface Room {
  ops: Op[];
  busy: boolean;
  /** Tokens in the bucket as of `refilledAt`. */
  tokens: number;
  refilledAt: number;
  /** Attempt start times (the last 100), for `perMinute`. */
  starts: number[];
  /** Wakes a pump waiting for a token, so an urgent operation that just came can go first. */
  wake?: () => void;
}

const GAVE_UP = Symbol('gave up');

/** Paced, ordered, retrying delivery for one transport. */
export class Outbox {
  readonly transport: ChatTransport;
  private readonly pacing: OutboxPacing;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxWaits: number;
  private readonly onGiveUp?: GiveUpHook;
  private readonly rooms = new Map<string, Room>();
  private readonly stop = new AbortController();
  private pending = 0;
  private idle: (() => void)[] = [];
  private closed = false;

  constructor(o: OutboxOptions) {
    this.transport = o.transport;
    this.pacing = { ...DEFAULT_PACING[o.transport.platform], ...o.pacing };
    this.attempts = Math.max(1, o.attempts ?? 3);
    this.backoffMs = o.backoffMs ?? 1000;
    this.maxWaits = o.maxRateLimitWaits ?? 10;
    this.onGiveUp = o.onGiveUp;
  }

  /** Posts a message; resolves to its ref, or `undefined` when it could not be delivered. */
  post(room: string, msg: ChatMessage, o: OpOptions = {}): Promise<MessageRef | undefined> {
    const thread = o.thread;
    return this.enqueue<MessageRef>(
      { kind: 'post', room, ...(thread ? { thread } : {}) },
      () => this.transport.post(room, msg, thread ? { thread } : undefined),
      o.onGiveUp,
      o.urgent ?? !thread,
    );
  }

  /** Replaces a message's content; resolves to whether it was delivered. Pending edits of the same message coalesce. */
  async edit(ref: MessageRef, msg: ChatMessage, o: Pick<OpOptions, 'onGiveUp' | 'urgent'> = {}): Promise<boolean> {
    const room = this.room(ref.room);
    const waiting = room.ops.find((op) => op.info.kind === 'edit' && op.info.ref?.id === ref.id);
    if (waiting && !this.closed) {
      waiting.msg = msg;
      if (o.onGiveUp) waiting.hooks.push(o.onGiveUp);
      if (o.urgent && waiting.rank > 0) {
        // The waiting edit now carries what someone waits for (a final card): it moves up with it.
        room.ops.splice(room.ops.indexOf(waiting), 1);
        waiting.rank = 0;
        this.place(room, waiting);
        // The pump may be waiting for a routine token on its behalf: urgent needs none in reserve.
        room.wake?.();
      }
      return new Promise<boolean>((resolve) => {
        this.pending++;
        waiting.done.push((_v, ok) => resolve(ok));
      });
    }
    let op: Op | undefined;
    const delivered = this.enqueue<void>({ kind: 'edit', room: ref.room, ref }, () => this.transport.edit(ref, op?.msg ?? msg), o.onGiveUp, o.urgent ?? false, (x) => {
      op = x;
      x.msg = msg;
    });
    return (await delivered) !== undefined;
  }

  /** Uploads a file; resolves to whether it was delivered. */
  async upload(room: string, file: ChatFile, o: OpOptions = {}): Promise<boolean> {
    const thread = o.thread;
    const r = await this.enqueue<void>(
      { kind: 'upload', room, ...(thread ? { thread } : {}) },
      () => this.transport.upload(room, file, thread ? { thread } : undefined),
      o.onGiveUp,
      o.urgent ?? false,
    );
    return r !== undefined;
  }

  /** A reply only the asker sees where the platform can (Slack ephemeral), else a normal post in the command's thread. */
  async replyPrivately(cmd: IncomingCommand, msg: ChatMessage, o: Pick<OpOptions, 'onGiveUp'> = {}): Promise<boolean> {
    const t = this.transport;
    if (!t.replyPrivately) return (await this.post(cmd.room, msg, { ...o, ...(cmd.thread ? { thread: cmd.thread } : {}) })) !== undefined;
    const r = await this.enqueue<void>({ kind: 'private', room: cmd.room }, () => t.replyPrivately!(cmd, msg), o.onGiveUp, true);
    return r !== undefined;
  }

  /** Waits until everything queued so far is delivered or given up; false on timeout. */
  flush(timeoutMs = 10_000): Promise<boolean> {
    if (this.pending === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const onIdle = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idle = this.idle.filter((f) => f !== onIdle);
        resolve(false);
      }, timeoutMs);
      this.idle.push(onIdle);
    });
  }

  /**
   * Stops taking operations, lets the queued ones go out for up to
   * `timeoutMs` (default 5000), then drops the rest (their promises resolve
   * as not delivered).
   */
  async close(timeoutMs = 5000): Promise<void> {
    this.closed = true;
    await this.flush(timeoutMs);
    this.stop.abort();
    for (const room of this.rooms.values()) {
      for (const op of room.ops.splice(0)) this.finish(op, undefined, false);
    }
    await this.flush(1000);
  }

  private room(name: string): Room {
    let r = this.rooms.get(name);
    if (!r) {
      r = { ops: [], busy: false, tokens: this.burst, refilledAt: Date.now(), starts: [] };
      this.rooms.set(name, r);
    }
    return r;
  }

  private enqueue<T>(info: OutboxOperation, run: () => Promise<T>, hook: GiveUpHook | undefined, urgent: boolean, init?: (op: Op) => void): Promise<T | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve) => {
      const op: Op = {
        info,
        // The card people watch goes first: a top-level post or an edit of a
        // top-level message goes ahead of queued thread traffic (step details,
        // files), which at 1 op/s would otherwise hold a final card back by a
        // second per host.
        rank: urgent ? 0 : isThreadOp(info) ? 2 : 1,
        run,
        done: [(v, ok) => resolve(ok ? ((v ?? true) as T) : undefined)],
        hooks: hook ? [hook] : [],
      };
      init?.(op);
      this.pending++;
      const room = this.room(info.room);
      this.place(room, op);
      if (!room.busy) void this.pump(room);
      else room.wake?.();
    });
  }

  /** Queues `op` after every operation of its rank or better, before the rest. */
  private place(room: Room, op: Op): void {
    const i = room.ops.findIndex((o) => o.rank > op.rank);
    if (i >= 0) room.ops.splice(i, 0, op);
    else room.ops.push(op);
  }

  private async pump(room: Room): Promise<void> {
    room.busy = true;
    try {
      for (let op = room.ops[0]; op; op = room.ops[0]) {
        // Wait for a token with the operation still queued: an urgent one arriving meanwhile goes first.
        const wait = this.waitFor(room, op);
        if (wait > 0) {
          await this.sleep(wait, room);
          if (this.stop.signal.aborted) break;
          continue;
        }
        room.ops.shift();
        const r = await this.deliver(room, op);
        this.finish(op, r === GAVE_UP ? undefined : r, r !== GAVE_UP);
      }
    } finally {
      room.busy = false;
    }
  }

  private async deliver(room: Room, op: Op): Promise<unknown> {
    let failures = 0;
    let waits = 0;
    for (;;) {
      // The first attempt got its token in pump(); a retry waits for one like anything else.
      for (let w = this.waitFor(room, op); w > 0; w = this.waitFor(room, op)) await this.sleep(w);
      if (this.stop.signal.aborted) return GAVE_UP;
      this.spend(room);
      // For metrics and logs (ops/events.ts): every attempt's outcome.
      const tell = (outcome: ChatSendEvent['outcome'], more: Partial<ChatSendEvent> = {}) =>
        publishChatSend({ platform: this.transport.platform, kind: op.info.kind, room: op.info.room, outcome, ...more });
      try {
        const r = await op.run();
        tell('sent');
        return r;
      } catch (err) {
        if (isRateLimited(err)) tell('rate-limited', { retryAfterMs: err.retryAfterMs });
        if (isRateLimited(err) && waits < this.maxWaits) {
          waits++;
          // The platform says the room is full: nothing else goes to it meanwhile, and the bucket starts empty.
          await this.sleep(Math.max(0, err.retryAfterMs));
          room.tokens = 0;
          room.refilledAt = Date.now();
          continue;
        }
        failures++;
        if (failures >= this.attempts || isRateLimited(err) || this.stop.signal.aborted) {
          tell('gave-up', { error: err instanceof Error ? err.message : String(err) });
          this.giveUp(op, err);
          return GAVE_UP;
        }
        tell('retry', { error: err instanceof Error ? err.message : String(err) });
        await this.sleep(this.backoffMs * 2 ** (failures - 1));
      }
    }
  }

  /** Bucket size: at least 1. */
  private get burst(): number {
    return Math.max(1, Math.floor(this.pacing.burst ?? 1));
  }

  /** How long `op` must wait before it may start (0 = now). */
  private waitFor(room: Room, op: Op): number {
    const now = Date.now();
    const interval = this.pacing.minIntervalMs;
    // Routine traffic leaves one token (and one of the minute's operations) for urgent ones.
    const keep = op.rank > 0 && this.burst > 1 ? 1 : 0;
    let wait = 0;
    if (interval > 0) {
      const tokens = this.tokensAt(room, now);
      const need = 1 + keep;
      if (tokens < need) wait = Math.ceil((need - tokens) * interval);
    }
    const n = this.pacing.perMinute ?? 0;
    if (n > 0) {
      const allowed = Math.max(1, n - (n > 1 ? keep : 0));
      const recent = room.starts.filter((t) => t > now - 60_000);
      if (recent.length >= allowed) wait = Math.max(wait, recent[recent.length - allowed]! + 60_000 - now);
    }
    return wait;
  }

  /** Tokens in the room's bucket at `now` (refilled one per `minIntervalMs`, at most `burst`). */
  private tokensAt(room: Room, now: number): number {
    return Math.min(this.burst, room.tokens + (now - room.refilledAt) / this.pacing.minIntervalMs);
  }

  /** Takes a token for an attempt starting now. */
  private spend(room: Room): void {
    const now = Date.now();
    room.tokens = this.pacing.minIntervalMs > 0 ? this.tokensAt(room, now) - 1 : this.burst;
    room.refilledAt = now;
    room.starts.push(now);
    if (room.starts.length > 100) room.starts.splice(0, room.starts.length - 100);
  }

  private giveUp(op: Op, err: unknown): void {
    for (const hook of [...op.hooks, ...(this.onGiveUp ? [this.onGiveUp] : [])]) {
      try {
        hook(op.info, err);
      } catch {
        // A broken hook must not stop delivery to the room.
      }
    }
  }

  private finish(op: Op, value: unknown, ok: boolean): void {
    for (const d of op.done) {
      d(value, ok);
      this.pending--;
    }
    if (this.pending === 0) for (const f of this.idle.splice(0)) f();
  }

  /** Sleeps `ms`; ends early on close, or (with `room`) when an operation is queued there. */
  private sleep(ms: number, room?: Room): Promise<void> {
    if (ms <= 0 || this.stop.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(t);
        this.stop.signal.removeEventListener('abort', end);
        if (room && room.wake === end) room.wake = undefined;
        resolve();
      };
      const t = setTimeout(end, ms);
      this.stop.signal.addEventListener('abort', end, { once: true });
      if (room) room.wake = end;
    });
  }
}

function isRateLimited(err: unknown): err is { retryAfterMs: number } {
  return (
    typeof err === 'object' &&
    err !== null &&
    (err as Error).name === 'RateLimitedError' &&
    typeof (err as { retryAfterMs?: unknown }).retryAfterMs === 'number'
  );
}

/** Posts, uploads and edits inside a thread: details, read after the card. */
function isThreadOp(info: OutboxOperation): boolean {
  return info.thread !== undefined || info.ref?.thread !== undefined;
}
