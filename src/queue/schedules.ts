/**
 * `schedules:` and `oncall.handoff` as BullMQ job schedulers in one queue
 * (`schedules`), one scheduler per entry with a stable id: `digest:<name>`
 * and `handoff`. {@link syncSchedules} makes Redis match the config: it
 * upserts every configured scheduler (cron + tz; a second bot doing the same
 * changes nothing, so two bots never double a schedule) and removes those
 * the config no longer has, so a removed schedule stops.
 *
 * Each fire is one job, taken by one {@link startScheduleWorker} of the
 * deployment (whichever bot is free), which hands it to the on-call code.
 * Cron expressions are read by `cron-parser` — BullMQ's own parser — both
 * here and in `triage lint` (config.ts), so what lint accepts is what runs.
 *
 * Deliberately left out: what a digest or handoff does (src/oncall), and
 * watching the config file (a bot syncs when it starts; restart it after an
 * edit — the sync then drops what was removed).
 */
import { Queue, Worker } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { Config } from '../config.ts';
import { keyPrefix, type RedisHandle } from './redis.ts';

/** The queue of schedule fires. */
export const SCHEDULES_QUEUE = 'schedules';

/** Payload of one fire, by job name. */
export type ScheduleJob = { kind: 'digest'; name: string } | { kind: 'handoff' };

/** One scheduler the config asks for. */
export interface ScheduleSpec {
  /** Stable id: `digest:<name>` or `handoff`. */
  id: string;
  /** Cron (5 fields, or 6 with seconds first). */
  pattern: string;
  tz: string;
  job: ScheduleJob;
}

/** The schedulers `config` asks for. */
export function scheduleSpecs(config: Pick<Config, 'schedules' | 'oncall'>): ScheduleSpec[] {
  const specs: ScheduleSpec[] = (config.schedules ?? []).map((s) => ({ id: `digest:${s.name}`, pattern: s.cron, tz: s.tz, job: { kind: 'digest', name: s.name } }));
  const h = config.oncall?.handoff;
  if (h) specs.push({ id: 'handoff', pattern: h.cron, tz: h.tz, job: { kind: 'handoff' } });
  return specs;
}

/** When a cron fires next after `fromMs`. */
export function nextFire(pattern: string, tz: string, fromMs: number): Date {
  return CronExpressionParser.parse(pattern, { tz, currentDate: new Date(fromMs) }).next().toDate();
}

/** Options for {@link syncSchedules}. */
export interface SyncSchedulesOptions {
  redis: RedisHandle;
  /** Key prefix shared with the rest of the deployment. */
  prefix: string;
  config: Pick<Config, 'schedules' | 'oncall'>;
  /** Test hook: fire every `everyMs` instead of the cron (BullMQ `every`). */
  everyMs?: number;
}

/**
 * Makes the schedulers in Redis match the config. Returns the ids upserted
 * and removed.
 */
export async function syncSchedules(o: SyncSchedulesOptions): Promise<{ upserted: string[]; removed: string[] }> {
  const conn = o.redis.client();
  conn.on('error', () => {});
  const queue = new Queue<ScheduleJob>(SCHEDULES_QUEUE, { connection: conn, prefix: keyPrefix(o.redis, o.prefix) });
  try {
    const specs = scheduleSpecs(o.config);
    const wanted = new Set(specs.map((s) => s.id));
    for (const s of specs) {
      const repeat = o.everyMs ? { every: o.everyMs } : { pattern: s.pattern, tz: s.tz };
      await queue.upsertJobScheduler(s.id, repeat, { name: s.job.kind, data: s.job, opts: { removeOnComplete: { count: 50 }, removeOnFail: { count: 50 } } });
    }
    const removed: string[] = [];
    const existing = await queue.getJobSchedulers(0, -1);
    for (const s of existing) {
      const id = s.key;
      if (!wanted.has(id) && (await queue.removeJobScheduler(id))) removed.push(id);
    }
    return { upserted: [...wanted], removed };
  } finally {
    await queue.close();
    conn.disconnect();
  }
}

/** Options for {@link startScheduleWorker}. */
export interface ScheduleWorkerOptions {
  redis: RedisHandle;
  prefix: string;
  /** Does what a fire asks (post a digest, start a handoff). */
  process(job: ScheduleJob): Promise<void>;
  /** Fires handled at once. Default 2 (a digest waits for its checks). */
  concurrency?: number;
  onError?: (err: Error) => void;
}

/** A running schedule worker. */
export interface ScheduleWorker {
  close(): Promise<void>;
}

/** Takes schedule fires off the queue and hands them to `process`. */
export async function startScheduleWorker(o: ScheduleWorkerOptions): Promise<ScheduleWorker> {
  const conn = o.redis.client({ maxRetriesPerRequest: null });
  conn.on('error', (e: Error) => o.onError?.(e));
  const worker = new Worker<ScheduleJob>(SCHEDULES_QUEUE, async (job) => o.process(job.data), {
    connection: conn,
    prefix: keyPrefix(o.redis, o.prefix),
    concurrency: o.concurrency ?? 2,
  });
  worker.on('failed', (_job, err) => o.onError?.(err));
  worker.on('error', (err) => o.onError?.(err));
  await worker.waitUntilReady();
  return {
    async close() {
      await worker.close();
      conn.disconnect();
    },
  };
}
