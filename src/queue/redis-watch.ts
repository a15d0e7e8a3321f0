/**
 * Knowing whether Redis is there right now, without asking it.
 *
 * Triage's clients retry commands forever while Redis is away
 * (`maxRetriesPerRequest: null`, which BullMQ needs), so a command sent while
 * Redis is gone neither fails nor answers. Code that must stay bounded — the
 * CLI's wait, the chat core's replies, shutdown — looks here first: a client
 * that is not `ready` is down, and {@link RedisWatch.downForMs} says for how
 * long.
 *
 * Deliberately left out: reconnecting (ioredis does that) and deciding what to
 * do when Redis is down (each caller knows its own budget).
 */
import type { Redis } from 'ioredis';

/** Follows one client's connection state. */
export class RedisWatch {
  private downSince: number | null;
  private readonly onDown = (): void => {
    this.downSince ??= Date.now();
  };
  private readonly onReady = (): void => {
    this.downSince = null;
  };

  constructor(private readonly client: Redis) {
    this.downSince = client.status === 'ready' ? null : Date.now();
    client.on('close', this.onDown);
    client.on('reconnecting', this.onDown);
    client.on('end', this.onDown);
    client.on('ready', this.onReady);
  }

  /** True while the client has a ready connection. */
  get up(): boolean {
    return this.client.status === 'ready';
  }

  /** How long the client has been without a connection (0 while up). */
  downForMs(): number {
    if (this.up) return 0;
    return Date.now() - (this.downSince ?? Date.now());
  }

  /** Resolves true once the client is ready again, false after `timeoutMs` or when `signal` aborts. */
  async untilUp(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.up) {
      if (signal?.aborted || Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(1, deadline - Date.now()))));
    }
    return true;
  }

  /** Stops following the client. */
  stop(): void {
    this.client.off('close', this.onDown);
    this.client.off('reconnecting', this.onDown);
    this.client.off('end', this.onDown);
    this.client.off('ready', this.onReady);
  }
}

/**
 * Settles like `p`, or resolves `fallback` after `ms` (the command keeps
 * going in the background; its outcome is ignored).
 */
export function within<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve(fallback), ms);
    t.unref?.();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
