/**
 * `triage bot` keeps its schedules in step with the config while it runs: an
 * operator edits triage.yaml and runs `triage reload`; the schedule taken out
 * stops (its job scheduler and its next fire are gone from Redis) and the one
 * put in starts (it fires and its digest reaches the chat) — without a
 * restart. The real command (src/cli/bot.ts, in this process) against the
 * fake Telegram API and the real Redis under a unique prefix.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReloadReply } from '../../src/ops/reload.ts';
import { connectRedis, type RedisHandle } from '../../src/queue/redis.ts';
import { SCHEDULES_QUEUE, type ScheduleJob } from '../../src/queue/schedules.ts';
import { purgePrefix, runCli } from '../support/cli.ts';
import { FakeTelegram } from '../support/fake-telegram.ts';

const GROUP = -100555;
let dir: string;
let runbooks: string;
let tg: FakeTelegram;
let redis: RedisHandle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'triage-bot-schedules-'));
  runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks);
  writeFileSync(join(runbooks, 'quick.yaml'), stringify({ name: 'quick', description: 'a quick check', steps: [{ id: 'up', title: 'uptime', run: 'cat /proc/uptime' }] }));
  tg = await FakeTelegram.start();
  redis = await connectRedis({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
});
afterAll(async () => {
  await redis?.stop();
  await tg?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** triage.yaml with these schedules (each runs `quick` on every target and posts to the group). */
const configWith = (schedules: { name: string; cron: string }[]) =>
  stringify({
    hosts: { box: { address: 'local' } },
    targets: { shop: { hosts: ['box'] } },
    chat: { telegram: { token: 'env:TG_TOKEN', apiRoot: tg.apiRoot, allowedChats: [GROUP] } },
    schedules: schedules.map((s) => ({ ...s, tz: 'UTC', runbook: 'quick', targets: 'all', post: `tg:${GROUP}` })),
  });

describe('triage bot and triage reload', () => {
  it('a schedule removed from the config stops and a new one starts after triage reload', async () => {
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    const config = join(dir, 'triage.yaml');
    writeFileSync(config, configWith([{ name: 'morning', cron: '0 9 * * *' }]));
    const env = { TG_TOKEN: tg.token, TRIAGE_PREFIX: prefix };
    const queue = new Queue<ScheduleJob>(SCHEDULES_QUEUE, { connection: redis.client(), prefix });
    const schedulers = async () => (await queue.getJobSchedulers(0, -1)).map((s) => `${s.key} ${s.pattern}`).sort();
    /** The fires waiting in Redis, by schedule name. */
    const nextFires = async () => (await queue.getJobs(['delayed', 'waiting', 'prioritized'])).map((j) => (j.data.kind === 'digest' ? j.data.name : j.data.kind)).sort();
    const digests = (name: string) => tg.messages(GROUP).filter((m) => (m.plain_text ?? m.text ?? '').startsWith(`📋 ${name} digest`));
    const stop = new AbortController();
    const bot = runCli(['bot', '--config', config, '--runbooks', runbooks], { env, signal: stop.signal });
    try {
      await tg.waitFor(() => tg.calls.some((c) => c.method === 'setMyCommands'), 15_000);
      // The first sync runs once the adapters are up: wait for it (bounded).
      for (let i = 0; i < 200 && (await schedulers()).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await schedulers()).toEqual(['digest:morning 0 9 * * *']);
      expect(await nextFires()).toEqual(['morning']);

      // The operator swaps the 09:00 digest for one every second, then asks the running bot to re-read.
      writeFileSync(config, configWith([{ name: 'evening', cron: '* * * * * *' }]));
      const reload = await runCli(['reload', '--config', config, '--json'], { env });
      expect(reload.code, reload.stderr).toBe(0);
      const replies = (reload.json as { replies: ReloadReply[] }).replies;
      expect(replies.map((r) => [r.role, r.applied, r.warnings])).toEqual([['bot', true, []]]);

      // Taken out: no scheduler, nothing left waiting to fire.
      expect(await schedulers()).toEqual(['digest:evening * * * * * *']);
      expect((await nextFires()).filter((n) => n === 'morning')).toEqual([]);
      // Put in: it fires, and its digest reaches the chat.
      const first = await tg.waitFor(() => digests('evening')[0], 20_000);
      expect(first.plain_text ?? first.text).toMatch(/^📋 evening digest \(quick\) — all 1 ok/);
      expect(digests('morning')).toEqual([]);
    } finally {
      stop.abort();
      const served = await bot;
      await queue.close();
      await purgePrefix(prefix);
      expect(served.code, served.stderr).toBe(0);
    }
  }, 60_000);
});
