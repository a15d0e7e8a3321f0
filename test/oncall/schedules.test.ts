/**
 * Schedules are BullMQ job schedulers: the real scheduler on the real Redis
 * (unique prefix per test, purged after). A seconds-field cron fires; a
 * changed config re-syncs (a removed schedule is gone, none doubled); two
 * bots syncing at once leave one scheduler per schedule; lint's cron check is
 * cron-parser's.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cronProblem } from '../../src/config.ts';
import { connectRedis, type RedisHandle } from '../../src/queue/redis.ts';
import { nextFire, SCHEDULES_QUEUE, type ScheduleJob, startScheduleWorker, syncSchedules } from '../../src/queue/schedules.ts';
import { purgePrefix } from '../support/cli.ts';

const sched = (name: string, cron = '0 9 * * *') => ({ name, cron, tz: 'UTC', runbook: 'health', targets: 'all' as const, post: 'slack:C1' });

describe('job schedulers', () => {
  let redis: RedisHandle;
  let prefix: string;
  let queue: Queue;
  beforeEach(async () => {
    redis = await connectRedis({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
    prefix = `t-sched-${randomUUID().slice(0, 8)}`;
    queue = new Queue(SCHEDULES_QUEUE, { connection: redis.client(), prefix });
  });
  afterEach(async () => {
    await queue.close();
    await purgePrefix(prefix);
    await redis.stop();
  });

  const ids = async () => (await queue.getJobSchedulers(0, -1)).map((s) => `${s.key} ${s.pattern} ${s.tz}`).sort();

  it('a changed config re-syncs: a removed schedule is gone, a changed one updated, none doubled', async () => {
    await syncSchedules({ redis, prefix, config: { schedules: [sched('morning'), sched('evening', '0 18 * * *')], oncall: { rotation: ['slack:U1'], handoff: { cron: '0 10 * * 1', tz: 'UTC', post: 'slack:C1' } } } });
    expect(await ids()).toEqual(['digest:evening 0 18 * * * UTC', 'digest:morning 0 9 * * * UTC', 'handoff 0 10 * * 1 UTC']);
    const r = await syncSchedules({ redis, prefix, config: { schedules: [sched('morning', '30 8 * * 1-5')] } });
    expect(r.removed.sort()).toEqual(['digest:evening', 'handoff']);
    expect(await ids()).toEqual(['digest:morning 30 8 * * 1-5 UTC']);
    expect(await queue.getDelayedCount()).toBe(1);
  });

  it('two bots syncing the same config at once leave one scheduler per schedule and one next job each', async () => {
    const config = { schedules: [sched('morning'), sched('noon', '0 12 * * *')] };
    await Promise.all([syncSchedules({ redis, prefix, config }), syncSchedules({ redis, prefix, config }), syncSchedules({ redis, prefix, config })]);
    expect(await ids()).toEqual(['digest:morning 0 9 * * * UTC', 'digest:noon 0 12 * * * UTC']);
    expect(await queue.getDelayedCount()).toBe(2);
  });

  it('a seconds-field cron fires through the real scheduler and the worker gets the schedule name', async () => {
    const fired: ScheduleJob[] = [];
    const worker = await startScheduleWorker({ redis, prefix, process: async (j) => void fired.push(j) });
    try {
      await syncSchedules({ redis, prefix, config: { schedules: [sched('fast', '* * * * * *')] } });
      const deadline = Date.now() + 10_000;
      while (fired.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(fired.slice(0, 2)).toEqual([
        { kind: 'digest', name: 'fast' },
        { kind: 'digest', name: 'fast' },
      ]);
      // Removing it stops it: no scheduler and nothing left waiting to fire.
      await syncSchedules({ redis, prefix, config: {} });
      expect(await ids()).toEqual([]);
      expect(await queue.getDelayedCount()).toBe(0);
    } finally {
      await worker.close();
    }
  });

  it('lint reads cron with cron-parser: 5 fields, or 6 with seconds first; nonsense is refused with the reason', () => {
    expect(cronProblem('0 9 * * MON-FRI')).toBeNull();
    expect(cronProblem('*/10 * * * * *')).toBeNull();
    expect(cronProblem('61 * * * *')).toMatch(/0-59/);
    expect(cronProblem('0 0 31 2 *')).toMatch(/day of month/);
    expect(cronProblem('* * * *')).toMatch(/expected 5/);
    expect(nextFire('0 9 * * *', 'Asia/Shanghai', Date.parse('2026-01-01T00:00:00Z')).toISOString()).toBe('2026-01-01T01:00:00.000Z');
  });
});
