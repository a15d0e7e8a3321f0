/**
 * The queue behind Redis Sentinel, with a failover mid-run: a primary, a
 * replica and three sentinels on private loopback ports. The config names the
 * sentinels (`redis: { sentinels: [...], name: mymaster }`). While a run is
 * half done the primary is killed by PID; the sentinels promote the replica,
 * ioredis follows them there, and the run ends — finished, or failed with the
 * reason — never stuck.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { RunEvent } from '../../src/queue/jobs.ts';
import { connectRedis, type RedisHandle } from '../../src/queue/redis.ts';
import { type QueueWorld, queueWorld } from '../support/queue-env.ts';
import { type PrivateSentinel, startRedisSentinel } from '../support/redis-topologies.ts';
import { pollUntil } from '../support/wait.ts';

let sentinel: PrivateSentinel;
let redis: RedisHandle;
let world: QueueWorld | undefined;

beforeAll(async () => {
  sentinel = await startRedisSentinel();
  redis = await connectRedis({ url: '', redis: { sentinels: sentinel.sentinels, name: sentinel.name } });
}, 90_000);

afterEach(async () => {
  await world?.close();
  world = undefined;
});

afterAll(async () => {
  await sentinel?.stop();
});

it('a Sentinel failover mid-run (the primary killed by PID) ends the run finished or failed with the reason, never stuck', async () => {
  expect(redis.mode).toBe('sentinel');
  const steps = ['one', 'two', 'three', 'four', 'five', 'six'];
  const w = await queueWorld({
    redis,
    config: {
      redis: { sentinels: sentinel.sentinels, name: sentinel.name },
      hosts: { h1: { address: 'local' }, h2: { address: 'local' } },
      targets: { app: { hosts: ['h1', 'h2'] } },
    },
    runbooks: { slow: { name: 'slow', description: 'six slow steps', steps: steps.map((id) => ({ id, title: `step ${id}`, run: 'sleep 0.4; echo ok' })) } },
  });
  world = w;
  await w.worker();
  const { runId } = await w.submit('slow', 'app');
  const oldPrimary = await sentinel.primaryPort();

  let killedAt = 0;
  let firstEventAfterKill = 0;
  const seen: RunEvent[] = [];
  const follow = (async () => {
    for await (const e of w.queue.follow(runId)) {
      seen.push(e);
      if (killedAt && !firstEventAfterKill) firstEventAfterKill = Date.now();
      if (!killedAt && seen.filter((x) => x.type === 'step').length >= 3) {
        await sentinel.kill(oldPrimary);
        killedAt = Date.now();
      }
      if (e.type === 'final') return e;
    }
  })();
  follow.catch(() => {});
  const newPrimary = await pollUntil(
    () => (killedAt ? true : undefined),
    { timeoutMs: 30_000, what: () => `the run never got 3 steps in: ${JSON.stringify(seen.map((e) => e.type))}` },
  ).then(() =>
    (async () => {
      for (let i = 0; i < 300; i++) {
        const p = await sentinel.primaryPort().catch(() => oldPrimary);
        if (p !== oldPrimary) return p;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('the sentinels never promoted the replica');
    })(),
  );
  const promotedAfterMs = Date.now() - killedAt;
  const final = await Promise.race([follow, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`stuck: no final result within 60 s of the failover; events ${JSON.stringify(seen.map((e) => (e.type === 'state' ? e.state : e.type)))}`)), 60_000))]);
  const finishedAfterMs = Date.now() - killedAt;

  if (final?.type !== 'final') throw new Error('no final event');
  console.log(
    `sentinel failover: primary :${oldPrimary} killed after 3 steps; :${newPrimary} promoted after ${promotedAfterMs} ms; first event after the kill at +${firstEventAfterKill - killedAt} ms; run ended ${final.state} at +${finishedAfterMs} ms` +
      `; steps ${final.result.hosts.map((h) => `${h.host}:${h.steps.map((s) => s.status).join(',')}`).join(' ')}`,
  );
  expect(newPrimary).not.toBe(oldPrimary);
  expect(['done', 'failed']).toContain(final.state);
  if (final.state === 'failed') expect((await w.queue.status(runId)).reason).toBeTruthy();
  else for (const h of final.result.hosts) expect(h.steps.map((s) => s.status)).toEqual(steps.map(() => 'pass'));
  // The record on the new primary says the same as the final event.
  const record = await w.queue.status(runId);
  expect(record.state).toBe(final.state);
  expect(record.result?.runId).toBe(runId);
}, 120_000);
