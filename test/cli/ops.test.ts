/**
 * The operator's commands: `triage bot` serves a Telegram group until it is
 * told to stop, `triage audit` shows who ran what, `triage status` shows the
 * runs, a worker stops gracefully on SIGTERM, and `run` starts its own
 * private Redis when none answers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../../src/queue/redis.ts';
import { purgePrefix, runCli } from '../support/cli.ts';
import { FakeTelegram } from '../support/fake-telegram.ts';
import { queueWorld } from '../support/queue-env.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
const GROUP = -100777;
const ALICE = 4242;
let dir: string;
let runbooks: string;
let tg: FakeTelegram;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'triage-ops-'));
  runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks);
  writeFileSync(
    join(runbooks, 'quick.yaml'),
    stringify({ name: 'quick', description: 'a quick check', steps: [{ id: 'up', title: 'uptime', run: 'cat /proc/uptime' }] }),
  );
  tg = await FakeTelegram.start();
});
afterAll(async () => {
  await tg?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('triage bot, audit and status', () => {
  it('serves Telegram until stopped; the audit and status commands show what happened', async () => {
    const prefix = `t-${randomUUID().slice(0, 8)}`;
    const config = join(dir, 'bot.yaml');
    writeFileSync(
      config,
      stringify({
        hosts: { box: { address: 'local' } },
        targets: { shop: { hosts: ['box'] } },
        chat: { telegram: { token: 'env:TG_TOKEN', apiRoot: tg.apiRoot, allowedChats: [GROUP] } },
        access: { roles: { responder: [`tg:${ALICE}`] } },
      }),
    );
    const env = { TG_TOKEN: tg.token, TRIAGE_PREFIX: prefix };
    const stop = new AbortController();
    const bot = runCli(['bot', '--config', config, '--runbooks', runbooks], { env, signal: stop.signal });
    try {
      await tg.waitFor(() => tg.calls.some((c) => c.method === 'setMyCommands'), 15_000);
      tg.sendText({ chatId: GROUP, userId: ALICE, text: '/diagnose quick shop' });
      const card = await tg.waitFor(() => tg.messages(GROUP).find((m) => /✅/.test(m.plain_text ?? m.text ?? '')), 20_000);
      expect(card.plain_text ?? card.text).toMatch(/run r_\w+/);
    } finally {
      stop.abort();
    }
    const served = await bot;
    expect(served.code).toBe(0);
    expect(served.stdout).toMatch(/triage bot: telegram/);
    expect(served.stdout).toMatch(/stopping/);

    const audit = await runCli(['audit', '--config', config], { env });
    expect(audit.code).toBe(0);
    expect(audit.stdout).toMatch(new RegExp(`ok\\s+tg:${ALICE} in tg:${GROUP} "/diagnose quick shop" r_\\w+`));

    const status = await runCli(['status', '--config', config], { env });
    expect(status.stdout).toMatch(/r_\w+ .* done\s+quick shop/);
    const runId = /(r_\w+)/.exec(status.stdout)![1]!;
    const one = await runCli(['status', runId, '--config', config], { env });
    expect(one.stdout).toContain(`${runId}: done`);
    expect(one.stdout).toMatch(/asked by tg:4242/);
    await purgePrefix(prefix);
  }, 60_000);

  it('status of an unknown run says so; a bad run id is refused', async () => {
    const config = join(dir, 'bot.yaml');
    expect((await runCli(['status', 'r_nosuch0000', '--config', config])).stderr).toMatch(/no run "r_nosuch0000"/);
    const bad = await runCli(['status', 'x;ls', '--config', config]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not a run id/);
  });

  it('triage bot without any chat configured explains what to add', async () => {
    const config = join(dir, 'nochat.yaml');
    writeFileSync(config, stringify({ hosts: { box: { address: 'local' } }, targets: { shop: { hosts: ['box'] } } }));
    const r = await runCli(['bot', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/chat/);
  });
});

describe('triage worker', () => {
  it('on SIGTERM finishes the work in flight, exits 0, and the next worker completes the run without rerunning anything', async () => {
    const world = await queueWorld({
      config: { hosts: { a: { address: 'local' } }, targets: { t: { hosts: ['a'] } } },
      runbooks: {
        slowish: {
          name: 'slowish',
          description: 'three one-second steps',
          steps: ['a', 'b', 'c'].map((id) => ({ id, title: id, run: 'sleep 1; echo done' })),
        },
      },
    });
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, [BIN, 'worker', '--config', world.configPath, '--runbooks', world.runbookDir, '--grace', '20s'], {
        env: { ...process.env, TRIAGE_PREFIX: world.prefix, TRIAGE_CONFIG: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
      });
      await world.queue.store.redis.ping();
      const { runId } = await world.submit('slowish', 't');
      for await (const e of world.queue.follow(runId)) if (e.type === 'step') break;
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => child!.once('exit', (c) => r(c)));
      expect(code).toBe(0);
      expect(out).toMatch(/stopping — finishing in-flight work/);
      // The host's steps were all finished and persisted before the worker left.
      expect((await world.queue.store.steps(runId, 'a')).map((s) => s.status)).toEqual(['pass', 'pass', 'pass']);
      await world.worker();
      const final = await world.queue.wait(runId, { timeoutMs: 10_000 });
      expect(final.state).toBe('done');
      expect(final.result.hosts[0]!.steps.every((s) => s.status === 'pass')).toBe(true);
      const stepEvents = (await world.queue.store.events(runId)).filter((e) => e.type === 'step');
      expect(stepEvents).toHaveLength(3);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      await world.close();
    }
  }, 40_000);
});

describe('Redis', () => {
  it('when nothing answers and redis-server is installed, a private one is started and removed', async () => {
    const r = await connectRedis({ url: 'redis://127.0.0.1:1', allowPrivate: true });
    try {
      expect(r.private).toBe(true);
      expect(r.url).not.toBe('redis://127.0.0.1:1');
      const c = r.client();
      expect(await c.ping()).toBe('PONG');
      expect(await c.config('GET', 'save')).toEqual(['save', '']);
      c.disconnect();
    } finally {
      await r.stop();
    }
    const again = await connectRedis({ url: r.url, timeoutMs: 500 }).catch((e) => e);
    expect(again.code).toBe('REDIS_UNAVAILABLE');
  });
});
