/**
 * How full the queues are, read from BullMQ on demand (each `/metrics`
 * scrape): job counts by state (`getJobCounts`) and the age of the oldest
 * waiting job, for the runs queue and every zone's host queue.
 *
 * Bounded: a sample that Redis does not answer within `timeoutMs` says
 * `redisUp: false` and carries no counts, so a scrape never hangs on a dead
 * Redis.
 *
 * Deliberately left out: completed jobs (kept a day for status, they are not
 * load) and per-job detail.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { hostQueueName, RUNS_QUEUE } from '../queue/jobs.ts';
import { within } from '../queue/redis-watch.ts';

/** The states counted. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed'] as const;

/** One queue's sample. */
export interface QueueSample {
  queue: string;
  counts: Record<(typeof QUEUE_STATES)[number], number>;
  /** Seconds since the oldest waiting job was queued; 0 when none waits. */
  oldestWaitingSeconds: number;
}

/** Options for {@link QueueStats}. */
export interface QueueStatsOptions {
  /** A connection of the stats' own (BullMQ Queue objects are created on it). */
  connection: Redis;
  prefix: string;
  /** The zones whose host queues are read; asked at every sample, so a reload's new zones show up. */
  zones: () => string[];
  /** Default 2000 ms. */
  timeoutMs?: number;
}

/** Reads queue depth and age from BullMQ. */
export class QueueStats {
  private readonly queues = new Map<string, Queue>();

  constructor(private readonly o: QueueStatsOptions) {}

  /** Every queue's counts and oldest waiting age, or `redisUp: false` when Redis did not answer in time. */
  async sample(now = Date.now()): Promise<{ redisUp: boolean; queues: QueueSample[] }> {
    const names = [RUNS_QUEUE, ...new Set(this.o.zones().map(hostQueueName))];
    const read = Promise.all(names.map((n) => this.one(n, now)));
    read.catch(() => {});
    const queues = await within(read, this.o.timeoutMs ?? 2000, null).catch(() => null);
    return queues ? { redisUp: true, queues } : { redisUp: false, queues: [] };
  }

  /** Lets go of the Queue objects (not the connection, which the caller owns). */
  async close(): Promise<void> {
    const all = [...this.queues.values()];
    this.queues.clear();
    await Promise.all(all.map((q) => within(q.close(), 1000, undefined).catch(() => {})));
  }

  private async one(name: string, now: number): Promise<QueueSample> {
    let q = this.queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: this.o.connection, prefix: this.o.prefix });
      q.on('error', () => {});
      this.queues.set(name, q);
    }
    const [counts, oldest] = await Promise.all([q.getJobCounts(...QUEUE_STATES), q.getJobs(['waiting'], 0, 0, true)]);
    const first = oldest[0];
    return {
      queue: name,
      counts: Object.fromEntries(QUEUE_STATES.map((s) => [s, counts[s] ?? 0])) as QueueSample['counts'],
      oldestWaitingSeconds: first ? Math.max(0, (now - first.timestamp) / 1000) : 0,
    };
  }
}
