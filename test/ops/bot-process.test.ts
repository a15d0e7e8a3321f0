/**
 * The operator's view of a real `triage bot` process serving a (fake, on
 * loopback) Telegram group: ready once Telegram is connected, chat sends and
 * a 429 counted on /metrics, a target added by SIGHUP answered in chat, and
 * a log that never shows the bot token.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgePrefix } from '../support/cli.ts';
import { FakeTelegram } from '../support/fake-telegram.ts';
import { httpGet, makeTempDir, randomId, readIfExists, removeTempDir, spawnTracked, type TrackedChild, waitUntil } from '../support/processes.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
const GROUP = -100555;
const ALICE = 5151;

function series(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('a triage bot process, operated', () => {
  let tg: FakeTelegram;
  let dir: string;
  let config: string;
  let bot: TrackedChild | undefined;
  const prefix = `t-${randomId(4)}`;
  const configFor = (targets: Record<string, object>) => ({
    hosts: { box: { address: 'local' } },
    targets,
    chat: { telegram: { token: 'env:TG_TOKEN', apiRoot: tg.apiRoot, allowedChats: [GROUP] } },
    access: { roles: { responder: [`tg:${ALICE}`] } },
  });

  beforeAll(async () => {
    tg = await FakeTelegram.start();
    dir = await makeTempDir('triage-ops-bot-');
    config = join(dir, 'triage.yaml');
    mkdirSync(join(dir, 'runbooks'));
    writeFileSync(join(dir, 'runbooks', 'quick.yaml'), stringify({ name: 'quick', description: 'a quick check', steps: [{ id: 'up', title: 'uptime', run: 'cat /proc/uptime' }] }));
    writeFileSync(config, stringify(configFor({ shop: { hosts: ['box'] } })));
  });
  afterAll(async () => {
    await bot?.stop(10_000);
    await tg?.close();
    await purgePrefix(prefix);
    if (dir) await removeTempDir(dir);
  });

  it('is ready once Telegram is connected, counts sends and a 429, answers a target added by SIGHUP, and never logs its token', async () => {
    const logFile = join(dir, 'bot.log');
    bot = await spawnTracked(
      process.execPath,
      [BIN, 'bot', '--config', config, '--runbooks', join(dir, 'runbooks'), '--metrics-port', '0', '--log-format', 'json', '--log-level', 'debug', '--no-worker'],
      { env: { ...process.env, TRIAGE_CONFIG: '', TRIAGE_PREFIX: prefix, TG_TOKEN: tg.token }, logFile },
    );
    // --no-worker plus a worker process of its own: the bot's metrics are its chat side; runs are counted where they run.
    const worker = await spawnTracked(process.execPath, [BIN, 'worker', '--config', config, '--runbooks', join(dir, 'runbooks'), '--log-format', 'json'], {
      env: { ...process.env, TRIAGE_CONFIG: '', TRIAGE_PREFIX: prefix },
      logFile: join(dir, 'worker.log'),
    });
    try {
      const logs = () =>
        readIfExists(logFile)
          .split('\n')
          .filter((l) => l && !l.startsWith('triage bot:'))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
      const url = await waitUntil('the bot serving /metrics', async () => logs().find((l) => l.msg === 'serving /metrics, /healthz and /readyz')?.url as string | undefined, {
        timeoutMs: 60_000,
        intervalMs: 100,
        abort: () => (bot!.hasExited() ? `exited: ${readIfExists(logFile)}` : undefined),
      });
      await waitUntil('bot started', async () => logs().some((l) => l.msg === 'bot started'), { timeoutMs: 20_000, intervalMs: 100 });
      const ready = await httpGet(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.body).checks.chat).toEqual({ ready: true, detail: 'telegram' });

      tg.failNext('sendMessage', { status: 429, retryAfter: 1 });
      tg.sendText({ chatId: GROUP, userId: ALICE, text: '/diagnose quick shop' });
      await tg.waitFor(() => tg.messages(GROUP).find((m) => /✅/.test(m.plain_text ?? m.text ?? '')), 30_000);

      writeFileSync(config, stringify(configFor({ shop: { hosts: ['box'] }, cart: { hosts: ['box'] } })));
      process.kill(worker.pid, 'SIGHUP');
      process.kill(bot.pid, 'SIGHUP');
      await waitUntil('bot reloaded', async () => logs().find((l) => l.msg === 'config reloaded' && l.generation === 1), { timeoutMs: 15_000 });
      await waitUntil('worker reloaded', async () => readIfExists(join(dir, 'worker.log')).includes('"config reloaded"'), { timeoutMs: 15_000 });
      tg.sendText({ chatId: GROUP, userId: ALICE, text: '/diagnose quick cart' });
      const card = await tg.waitFor(() => tg.messages(GROUP).find((m) => /✅/.test(m.plain_text ?? m.text ?? '') && /cart/.test(m.plain_text ?? m.text ?? '')), 30_000);
      expect(card.plain_text ?? card.text).toMatch(/run r_\w+/);

      const m = (await httpGet(`${url}/metrics`)).body;
      expect(series(m, 'triage_chat_sends_total', { platform: 'telegram', kind: 'post', outcome: 'sent', role: 'bot' })).toBeGreaterThanOrEqual(2);
      expect(series(m, 'triage_chat_rate_limited_total', { platform: 'telegram' })).toBe(1);
      expect(series(m, 'triage_runs_queued_total', { runbook: 'quick' })).toBe(2);
      expect(series(m, 'triage_config_reloads_total', { outcome: 'applied' })).toBe(1);
      const all = readIfExists(logFile);
      expect(all).not.toContain(tg.token);
      expect(logs().find((l) => l.msg === 'run queued' && l.target === 'cart')).toMatchObject({ runbook: 'quick', requestedBy: `tg:${ALICE}` });
    } finally {
      await worker.stop(8000);
    }
    process.kill(bot.pid, 'SIGTERM');
    expect((await bot.exited).code).toBe(0);
  }, 180_000);
});
