/**
 * Reloading config and runbooks in a running bot or worker, without a
 * restart. Two ways to ask, one outcome:
 *
 * - `SIGHUP` to the process (`kill -HUP <pid>`, `systemctl reload`, `docker
 *   kill -s HUP`): reloads that one process;
 * - `triage reload`: publishes a request on Redis channel
 *   `<prefix>:ops:reload`, which every bot and worker of the deployment
 *   (same Redis, same `TRIAGE_PREFIX`) subscribes to, wherever it runs; each
 *   answers on the requester's reply channel with what it did. Redis and not
 *   a pid file, because a deployment's workers live on several machines and
 *   Redis is the one thing they all share. The request carries no config:
 *   each process re-reads its own files, so whoever can publish can only
 *   make a process read what its operator put on its disk.
 *
 * A reload reads the config file and runbook directories again, exactly as
 * at start. A new config that does not load (YAML, schema, a missing key
 * file, a bad runbook) is refused with the reason and the old one is kept,
 * as is one that names another Redis (a running process cannot move its
 * queue). Otherwise it is applied: new targets can be run, removed ones are
 * refused from then on, and runs already in flight keep the plan they
 * started with. Components subscribe with {@link LiveConfig.onReload} (the
 * worker, the chat core, schedulers to re-sync); a hook's failure is
 * reported as a warning and does not undo the reload.
 *
 * Deliberately left out: watching the files (an editor's half-written save
 * would be picked up; an operator says when the file is done), and
 * restarting chat adapters (a changed `chat:` takes effect on restart; the
 * reload says so).
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { LoadedConfig } from '../config.ts';
import { isTriageError } from '../errors.ts';
import { safeUrl } from '../queue/redis.ts';
import { redact, redactErrorLines } from '../redact.ts';
import type { RunbookLibrary } from '../runbooks/loader.ts';

/** What a process runs with: the config, the runbooks, and how many reloads made them. */
export interface ConfigSnapshot {
  loaded: LoadedConfig;
  library: RunbookLibrary;
  /** 0 at start, +1 per applied reload. */
  generation: number;
}

/**
 * Called with the new snapshot after a reload was applied (and the one it
 * replaced). May return warnings (e.g. "zone x is not served here").
 */
export type ReloadHook = (next: ConfigSnapshot, prev: ConfigSnapshot) => string[] | undefined | Promise<string[] | undefined>;

/** What a reload did. */
export interface ReloadOutcome {
  applied: boolean;
  /** Why it was refused (redacted), when it was. */
  reason?: string;
  generation: number;
  targets: number;
  runbooks: number;
  /** Targets the reload added and removed. */
  added: string[];
  removed: string[];
  warnings: string[];
}

/** Reads the config and runbooks as the process did at start; throws when they do not load. */
export type ConfigReader = () => Promise<{ loaded: LoadedConfig; library: RunbookLibrary }>;

/** The config a process runs with, and how to reload it. */
export class LiveConfig {
  private snapshot: ConfigSnapshot;
  private readonly hooks = new Set<ReloadHook>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    initial: { loaded: LoadedConfig; library: RunbookLibrary },
    private readonly read: ConfigReader,
  ) {
    this.snapshot = { ...initial, generation: 0 };
  }

  /** The config and runbooks in force now. */
  get current(): ConfigSnapshot {
    return this.snapshot;
  }

  /** Subscribes to applied reloads; returns the function that unsubscribes. */
  onReload(hook: ReloadHook): () => void {
    this.hooks.add(hook);
    return () => this.hooks.delete(hook);
  }

  /** Reloads now; reloads asked for while one runs wait their turn (each reads the files afresh). Never rejects. */
  reload(): Promise<ReloadOutcome> {
    const next = this.queue.then(() => this.reloadOnce());
    this.queue = next.catch(() => {});
    return next;
  }

  private async reloadOnce(): Promise<ReloadOutcome> {
    const prev = this.snapshot;
    const summary = (s: ConfigSnapshot) => ({ generation: s.generation, targets: Object.keys(s.loaded.config.targets).length, runbooks: s.library.list().length });
    let fresh: { loaded: LoadedConfig; library: RunbookLibrary };
    try {
      fresh = await this.read();
    } catch (e) {
      return { applied: false, reason: describe(e), ...summary(prev), added: [], removed: [], warnings: [] };
    }
    if (fresh.loaded.redisUrl !== prev.loaded.redisUrl) {
      const reason = `redis: the new config names ${safeUrl(fresh.loaded.redisUrl)}, this process uses ${safeUrl(prev.loaded.redisUrl)}; a reload cannot move a running process to another Redis — restart it instead`;
      return { applied: false, reason: redact(reason), ...summary(prev), added: [], removed: [], warnings: [] };
    }
    const next: ConfigSnapshot = { ...fresh, generation: prev.generation + 1 };
    this.snapshot = next;
    const before = new Set(Object.keys(prev.loaded.config.targets));
    const after = new Set(Object.keys(next.loaded.config.targets));
    const warnings: string[] = [];
    if (JSON.stringify(prev.loaded.config.chat ?? null) !== JSON.stringify(next.loaded.config.chat ?? null)) {
      warnings.push('chat: changed; chat adapters keep their settings until the process restarts');
    }
    if (JSON.stringify(prev.loaded.config.access ?? null) !== JSON.stringify(next.loaded.config.access ?? null)) {
      warnings.push('access: changed; the bot applies new roles after a restart');
    }
    for (const hook of this.hooks) {
      try {
        const w = await hook(next, prev);
        if (Array.isArray(w)) warnings.push(...w);
      } catch (e) {
        warnings.push(`a component did not take the new config: ${describe(e)}`);
      }
    }
    return {
      applied: true,
      ...summary(next),
      added: [...after].filter((t) => !before.has(t)).sort(),
      removed: [...before].filter((t) => !after.has(t)).sort(),
      warnings,
    };
  }
}

/**
 * A view that always reads `current()`: for components built once that read
 * their config on each use (the chat core, on-call, the embedded worker), so
 * a reload reaches them without each growing a `reload` method. Methods are
 * bound to the current object; `instanceof` still holds. What a component
 * copied out at construction (the chat core's access roles) stays as it was.
 */
export function liveView<T extends object>(current: () => T): T {
  return new Proxy(current(), {
    get: (_t, p) => {
      const now = current();
      const v = Reflect.get(now, p, now);
      return typeof v === 'function' ? v.bind(now) : v;
    },
    has: (_t, p) => Reflect.has(current(), p),
    ownKeys: () => Reflect.ownKeys(current()),
    getOwnPropertyDescriptor: (_t, p) => {
      const d = Reflect.getOwnPropertyDescriptor(current(), p);
      return d ? { ...d, configurable: true } : undefined;
    },
    set: () => false,
  });
}

function describe(e: unknown): string {
  if (isTriageError(e)) return redactErrorLines(e).join('; ');
  return redact(e instanceof Error ? e.message : String(e));
}

// ---------------------------------------------------------------------------
// `triage reload` over Redis

/** The channel every bot and worker of a deployment listens on. */
export const reloadChannel = (prefix: string): string => `${prefix}:ops:reload`;

/** A reload request as published. */
interface ReloadRequest {
  id: string;
  replyTo: string;
}

/** One process's answer to `triage reload`. */
export interface ReloadReply extends ReloadOutcome {
  id: string;
  role: string;
  pid: number;
  hostname: string;
}

/** Options for {@link listenForReload}. */
export interface ReloadListenerOptions {
  live: LiveConfig;
  /** `bot` or `worker`, named in replies. */
  role: string;
  prefix: string;
  /** A connection of the listener's own (it goes into subscriber mode). */
  subscriber: Redis;
  /** A connection to publish replies on. */
  publisher: Redis;
  /** Reloads through here (so the caller logs and counts each one). Default `live.reload()`. */
  reload?: (trigger: 'SIGHUP' | 'triage reload') => Promise<ReloadOutcome>;
  /** Listen for SIGHUP too. Default true. */
  sighup?: boolean;
}

/** Reloads on SIGHUP and on `triage reload`; returns the function that stops listening. */
export async function listenForReload(o: ReloadListenerOptions): Promise<() => void> {
  const reload = o.reload ?? (() => o.live.reload());
  const onHup = () => void reload('SIGHUP');
  if (o.sighup !== false) process.on('SIGHUP', onHup);
  const channel = reloadChannel(o.prefix);
  o.subscriber.on('message', (ch: string, text: string) => {
    if (ch !== channel) return;
    let req: ReloadRequest;
    try {
      req = JSON.parse(text) as ReloadRequest;
      if (typeof req.id !== 'string' || typeof req.replyTo !== 'string' || !req.replyTo.startsWith(`${channel}:reply:`)) return;
    } catch {
      return;
    }
    void reload('triage reload').then((outcome) => {
      const reply: ReloadReply = { id: req.id, role: o.role, pid: process.pid, hostname: hostname(), ...outcome };
      return o.publisher.publish(req.replyTo, JSON.stringify(reply)).catch(() => {});
    });
  });
  await o.subscriber.subscribe(channel);
  return () => {
    process.removeListener('SIGHUP', onHup);
    o.subscriber.disconnect();
  };
}

/**
 * Asks every bot and worker under `prefix` to reload and collects their
 * answers: resolves when as many answered as were listening, or at
 * `waitMs`. `listening` is how many processes got the request.
 */
export async function requestReload(o: { prefix: string; subscriber: Redis; publisher: Redis; waitMs: number }): Promise<{ listening: number; replies: ReloadReply[] }> {
  const id = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const replyTo = `${reloadChannel(o.prefix)}:reply:${id}`;
  const replies: ReloadReply[] = [];
  let expected = Number.POSITIVE_INFINITY;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  o.subscriber.on('message', (ch: string, text: string) => {
    if (ch !== replyTo) return;
    try {
      const r = JSON.parse(text) as ReloadReply;
      if (r.id === id) replies.push(r);
    } catch {
      return;
    }
    if (replies.length >= expected) done();
  });
  await o.subscriber.subscribe(replyTo);
  const listening = await o.publisher.publish(reloadChannel(o.prefix), JSON.stringify({ id, replyTo } satisfies ReloadRequest));
  expected = listening;
  if (replies.length < expected) {
    const timer = setTimeout(done, o.waitMs);
    await finished;
    clearTimeout(timer);
  }
  await o.subscriber.unsubscribe(replyTo).catch(() => {});
  return { listening, replies };
}
