/**
 * Delivery to one chat transport, room by room. Operations for one room (post,
 * edit, upload, private reply) run one at a time, paced so the platform's limits are respected; rooms do not wait
 * for each other.
 *
 * - The card comes first: top-level posts and edits of top-level messages go
 *   ahead of queued thread traffic (posts, files, edits in a thread); each
 *   kind keeps its own order.
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
  /** Least time between two operations in one room. Default 1000 ms. */
  minIntervalMs: number;
  /** Most operations per room in any 60 s window; `0` or absent = no limit. */
  perMinute?: number;
}

/**
 * Defaults per platform: 1 op/s per room everywhere; Telegram also 20 per
 * minute (its limit for groups, applied to every Telegram room to be safe);
 * the console is not paced.
 */
export const DEFAULT_PACING: Record<Platform, OutboxPacing> = {
  telegram: { minIntervalMs: 1000, perMinute: 20 },
  slack: { minIntervalMs: 1000 },
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
  /** Called if this operation (or an edit it was merged into) is given up. */
  onGiveUp?: GiveUpHook;
}

interface Op {
  info: OutboxOperation;
  run: () => Promise<unknown>;
  /** Replaceable content, for coalescing edits. */
  msg?: ChatMessage;
  done: ((value: unknown, ok: boolean) => void)[];
  hooks: GiveUpHook[];
}

interface Room {
  ops: Op[];
  busy: boolean;
  last: number;
  starts: number[];
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
    );
  }

  /** Replaces a message's content; resolves to whether it was delivered. Pending edits of the same message coalesce. */
  async edit(ref: MessageRef, msg: ChatMessage, o: Pick<OpOptions, 'onGiveUp'> = {}): Promise<boolean> {
    const room = this.room(ref.room);
    const waiting = room.ops.find((op) => op.info.kind === 'edit' && op.info.ref?.id === ref.id);
    if (waiting && !this.closed) {
      waiting.msg = msg;
      if (o.onGiveUp) waiting.hooks.push(o.onGiveUp);
      return new Promise<boolean>((resolve) => {
        this.pending++;
        waiting.done.push((_v, ok) => resolve(ok));
      });
    }
    let op: Op | undefined;
    const delivered = this.enqueue<void>({ kind: 'edit', room: ref.room, ref }, () => this.transport.edit(ref, op?.msg ?? msg), o.onGiveUp, (x) => {
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
    );
    return r !== undefined;
  }

  /** A reply only the asker sees where the platform can (Slack ephemeral), else a normal post in the command's thread. */
  async replyPrivately(cmd: IncomingCommand, msg: ChatMessage, o: Pick<OpOptions, 'onGiveUp'> = {}): Promise<boolean> {
    const t = this.transport;
    if (!t.replyPrivately) return (await this.post(cmd.room, msg, { ...o, ...(cmd.thread ? { thread: cmd.thread } : {}) })) !== undefined;
    const r = await this.enqueue<void>({ kind: 'private', room: cmd.room }, () => t.replyPrivately!(cmd, msg), o.onGiveUp);
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
      r = { ops: [], busy: false, last: Number.NEGATIVE_INFINITY, starts: [] };
      this.rooms.set(name, r);
    }
    return r;
  }

  private enqueue<T>(info: OutboxOperation, run: () => Promise<T>, hook?: GiveUpHook, init?: (op: Op) => void): Promise<T | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve) => {
      const op: Op = {
        info,
        run,
        done: [(v, ok) => resolve(ok ? ((v ?? true) as T) : undefined)],
        hooks: hook ? [hook] : [],
      };
      init?.(op);
      this.pending++;
      const room = this.room(info.room);
      // The card people watch goes first: a top-level post or an edit of a
      // top-level message jumps ahead of queued thread traffic (step details,
      // files), which at 1 op/s would otherwise hold a final card back by a
      // second per host. Order within each kind is kept.
      const firstThreadOp = isThreadOp(info) ? -1 : room.ops.findIndex((o) => isThreadOp(o.info));
      if (firstThreadOp >= 0) room.ops.splice(firstThreadOp, 0, op);
      else room.ops.push(op);
      if (!room.busy) void this.pump(room);
    });
  }

  private async pump(room: Room): Promise<void> {
    room.busy = true;
    try {
      for (let op = room.ops.shift(); op; op = room.ops.shift()) {
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
      await this.pace(room);
      if (this.stop.signal.aborted) return GAVE_UP;
      room.last = Date.now();
      room.starts.push(room.last);
      if (room.starts.length > 100) room.starts.splice(0, room.starts.length - 100);
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
          await this.sleep(Math.max(0, err.retryAfterMs));
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

  private async pace(room: Room): Promise<void> {
    const now = Date.now();
    let wait = room.last + this.pacing.minIntervalMs - now;
    const n = this.pacing.perMinute ?? 0;
    if (n > 0 && room.starts.length >= n) wait = Math.max(wait, room.starts[room.starts.length - n]! + 60_000 - now);
    if (wait > 0) await this.sleep(wait);
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

  private sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.stop.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        this.stop.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.stop.signal.addEventListener('abort', onAbort, { once: true });
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
