/**
 * Bounded growth: what Redis keeps of finished runs, the audit trail and
 * resolved incidents, by count and by age (`retention:` in the config; see
 * `config/redis.ts` for the defaults). BullMQ's own job records are bounded
 * where jobs are added (`removeOnComplete`/`removeOnFail`, producer.ts) and
 * each run's event stream by `XADD MAXLEN ~` (store.ts).
 *
 * A sweep is cheap: for each collection a ZCARD and one ZRANGE of at most
 * `batch` ids past the limits, one pipeline to look at them and one to delete;
 * for each stream one XTRIM by count and one by age. Workers sweep every
 * `every` (default 1 min); a lock in Redis lets one worker per interval do it.
 *
 * A collection is an index (a sorted set of ids scored by creation time in
 * ms) plus the keys that belong to each id; `inspect` says which ids may go
 * and which keys go with them — a run only once it ended, an incident only
 * once resolved. Other modules add theirs through {@link RetentionCollection}
 * (e.g. incidents, `incidentsCollection`).
 *
 * A removed run leaves a tombstone (`P:runs:removed`, capped), so
 * `triage status <old run>` says it was removed by retention instead of
 * "no such run".
 *
 * Deliberately left out: archiving elsewhere before deleting, and BullMQ's
 * per-queue event streams (BullMQ caps those itself, ~10 000 entries).
 */
import type { Redis } from 'ioredis';
import type { Keep, RetentionPolicy } from '../config/redis.ts';
import { within } from './redis-watch.ts';

/** Tombstones kept for removed runs (the newest). */
export const TOMBSTONES_KEPT = 20_000;
const TERMINAL = new Set(['done', 'cancelled', 'failed']);

/** A kind of history kept in a sorted-set index scored by creation time (ms). */
export interface RetentionCollection {
  /** For reports: `runs`, `incidents`. */
  name: string;
  /** The sorted set of ids, scored by creation time in ms. */
  index: string;
  keep: Keep;
  /**
   * For each id: the keys to delete with it, or `null` to keep it for now (a
   * run still going, an open incident). Ids whose record is gone should
   * return their keys anyway (the index entry goes with them).
   */
  inspect(redis: Redis, ids: string[]): Promise<(string[] | null)[]>;
  /** Called after ids were removed (in the same sweep), e.g. to leave tombstones. */
  removed?(redis: Redis, ids: string[], nowMs: number): Promise<void>;
}

/** A stream trimmed by count (`XTRIM MAXLEN ~`) and age (`XTRIM MINID ~`). */
export interface RetentionStream {
  name: string;
  key: string;
  keep: Keep;
}

/** What one sweep removed, by collection or stream name. */
export type SweepReport = Record<string, number>;

/** Runs: the record, its steps, events and started marks go once it ended; a tombstone stays. */
export function runsCollection(prefix: string, keep: Keep): RetentionCollection {
  const run = (id: string) => `${prefix}:run:${id}`;
  return {
    name: 'runs',
    index: `${prefix}:runs`,
    keep,
    async inspect(redis, ids) {
      const p = redis.pipeline();
      for (const id of ids) p.hget(run(id), 'state');
      const states = ((await p.exec()) ?? []).map(([, v]) => v as string | null);
      return ids.map((id, i) => {
        const st = states[i];
        if (st && !TERMINAL.has(st)) return null;
        return [run(id), `${run(id)}:steps`, `${run(id)}:events`, `${run(id)}:started`];
      });
    },
    async removed(redis, ids, nowMs) {
      const tomb = tombstoneKey(prefix);
      await redis
        .multi()
        .zadd(tomb, ...ids.flatMap((id) => [nowMs, id]))
        .zremrangebyrank(tomb, 0, -(TOMBSTONES_KEPT + 1))
        .set(`${prefix}:retention:runs`, JSON.stringify({ maxCount: keep.maxCount, maxAgeMs: keep.maxAgeMs }))
        .exec();
    },
  };
}

/**
 * Resolved incidents with their timelines and thread links (open ones are
 * always kept). Keys as documented in `oncall/incidents.ts`:
 * `P:incident:<id>`, `P:incident:<id>:timeline`,
 * `P:incident:by-thread:<room>\0<thread>`; the index is `P:incidents`.
 */
export function incidentsCollection(prefix: string, keep: Keep): RetentionCollection {
  const key = (id: string) => `${prefix}:incident:${id}`;
  return {
    name: 'incidents',
    index: `${prefix}:incidents`,
    keep,
    async inspect(redis, ids) {
      const p = redis.pipeline();
      for (const id of ids) p.hmget(key(id), 'state', 'room', 'thread');
      const rows = ((await p.exec()) ?? []).map(([, v]) => (v as (string | null)[] | null) ?? [null, null, null]);
      return ids.map((id, i) => {
        const [state, room, thread] = rows[i]!;
        if (state && state !== 'resolved') return null;
        const keys = [key(id), `${key(id)}:timeline`];
        if (room && thread) keys.push(`${prefix}:incident:by-thread:${room}\u0000${thread}`);
        return keys;
      });
    },
  };
}

/** The audit trail (`P:audit`, see bot/audit.ts). */
export function auditStream(prefix: string, keep: Keep): RetentionStream {
  return { name: 'audit', key: `${prefix}:audit`, keep };
}

/** Where removed runs are remembered. */
export const tombstoneKey = (prefix: string): string => `${prefix}:runs:removed`;

/** What retention says about a run id that has no record: when it was removed and the limits then, or `null`. */
export async function removedByRetention(redis: Redis, prefix: string, runId: string): Promise<{ atMs: number; keep?: Keep } | null> {
  const [score, policy] = await Promise.all([redis.zscore(tombstoneKey(prefix), runId), redis.get(`${prefix}:retention:runs`)]);
  if (score === null) return null;
  let keep: Keep | undefined;
  try {
    const p = policy ? (JSON.parse(policy) as { maxCount: number; maxAgeMs: number }) : undefined;
    if (p && Number.isFinite(p.maxCount) && Number.isFinite(p.maxAgeMs)) keep = { maxCount: p.maxCount, maxAgeMs: p.maxAgeMs };
  } catch {
    // an unreadable policy note: say when, not why
  }
  return { atMs: Number(score), ...(keep ? { keep } : {}) };
}

/** `30 days`, `12 hours`, `90 minutes`. */
export function ageText(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'day'],
    [3_600_000, 'hour'],
    [60_000, 'minute'],
  ];
  for (const [u, name] of units) if (ms >= u && ms % u === 0) return `${ms / u} ${name}${ms / u === 1 ? '' : 's'}`;
  return `${Math.round(ms / 1000)} s`;
}

/**
 * Everything a deployment keeps under `prefix`, with `policy`'s limits.
 * `queues`: BullMQ queue names whose own event streams (`P:<queue>:events`)
 * are trimmed to `events.queueMaxLen` (BullMQ caps them at 10 000 itself).
 */
export function deploymentRetention(prefix: string, policy: RetentionPolicy, queues: string[] = []): { collections: RetentionCollection[]; streams: RetentionStream[] } {
  const queueKeep: Keep = { maxCount: policy.events.queueMaxLen, maxAgeMs: policy.runs.maxAgeMs };
  return {
    collections: [runsCollection(prefix, policy.runs), incidentsCollection(prefix, policy.incidents)],
    streams: [auditStream(prefix, policy.audit), ...queues.map((q) => ({ name: 'queue-events', key: `${prefix}:${q}:events`, keep: queueKeep }))],
  };
}

/**
 * One sweep: removes what is past each collection's count and age limits (at
 * most `batch` ids per collection) and trims each stream. Returns how many
 * ids or entries went, by name.
 */
export async function sweep(
  redis: Redis,
  parts: { collections: RetentionCollection[]; streams: RetentionStream[] },
  o: { nowMs?: number; batch?: number } = {},
): Promise<SweepReport> {
  const now = o.nowMs ?? Date.now();
  const batch = o.batch ?? 500;
  const report: SweepReport = {};
  for (const c of parts.collections) {
    const total = await redis.zcard(c.index);
    const overCount = Math.max(0, total - c.keep.maxCount);
    // The oldest ids: every one past the count, and those older than the age limit.
    const oldest = overCount ? await redis.zrange(c.index, '0', String(Math.min(overCount, batch) - 1)) : [];
    const aged = await redis.zrangebyscore(c.index, '-inf', `(${now - c.keep.maxAgeMs}`, 'LIMIT', 0, batch);
    const ids = [...new Set([...oldest, ...aged])].slice(0, batch);
    if (!ids.length) {
      report[c.name] = 0;
      continue;
    }
    const verdicts = await c.inspect(redis, ids);
    const gone = ids.filter((_, i) => verdicts[i]);
    if (gone.length) {
      const m = redis.multi();
      for (const [i, id] of ids.entries()) {
        const keys = verdicts[i];
        if (keys?.length) m.unlink(...keys);
        if (keys) m.zrem(c.index, id);
      }
      await m.exec();
      await c.removed?.(redis, gone, now);
    }
    report[c.name] = gone.length;
  }
  for (const s of parts.streams) {
    const byCount = Number(await redis.xtrim(s.key, 'MAXLEN', '~', s.keep.maxCount));
    const byAge = Number(await redis.xtrim(s.key, 'MINID', '~', `${Math.max(0, now - s.keep.maxAgeMs)}-0`));
    report[s.name] = (report[s.name] ?? 0) + byCount + byAge;
  }
  return report;
}

/** A running periodic sweep. */
export interface RetentionSweeper {
  /** Sweeps once now (tests, `triage` ops); resolves with what went, or `null` when another worker holds the lock. */
  sweepNow(): Promise<SweepReport | null>;
  stop(): Promise<void>;
}

/** Options for {@link startRetention}. */
export interface RetentionOptions {
  redis: Redis;
  prefix: string;
  policy: RetentionPolicy;
  /** BullMQ queues whose event streams to trim (see {@link deploymentRetention}). */
  queues?: string[];
  /** More collections or streams (another module's history). */
  extra?: { collections?: RetentionCollection[]; streams?: RetentionStream[] };
  /** False while Redis is unreachable: the sweep is skipped instead of waiting. */
  up?: () => boolean;
  onSwept?: (r: SweepReport) => void;
  onError?: (e: Error) => void;
}

/**
 * Sweeps every `policy.everyMs` (the first one `everyMs` after start). One worker per
 * interval does it: the sweep takes a lock `P:retention:lock` for the interval.
 */
export function startRetention(o: RetentionOptions): RetentionSweeper {
  const base = deploymentRetention(o.prefix, o.policy, o.queues);
  const parts = {
    collections: [...base.collections, ...(o.extra?.collections ?? [])],
    streams: [...base.streams, ...(o.extra?.streams ?? [])],
  };
  const lockKey = `${o.prefix}:retention:lock`;
  let running: Promise<SweepReport | null> | undefined;
  let stopped = false;
  const once = async (force: boolean): Promise<SweepReport | null> => {
    if (stopped || (o.up && !o.up())) return null;
    if (!force && !(await o.redis.set(lockKey, String(process.pid), 'PX', Math.max(1000, o.policy.everyMs - 100), 'NX'))) return null;
    const r = await sweep(o.redis, parts);
    o.onSwept?.(r);
    return r;
  };
  const run = (force: boolean) => {
    running ??= once(force).finally(() => {
      running = undefined;
    });
    return running;
  };
  const tick = () => {
    run(false).catch((e: Error) => o.onError?.(e));
  };
  const timer = setInterval(tick, o.policy.everyMs);
  timer.unref();
  return {
    sweepNow: () => run(true),
    async stop() {
      stopped = true;
      clearInterval(timer);
      // A sweep caught by Redis going away would wait for it: let it go after a moment.
      await within(running?.catch(() => null) ?? Promise.resolve(null), 1000, null);
    },
  };
}
