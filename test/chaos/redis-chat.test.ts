/**
 * Redis goes down under the chat bot. Commands that need no queue (/help,
 * /runbooks, /targets) are still answered; commands that need it are told
 * "the queue is unavailable, retrying" and go through once Redis is back.
 * A bot told to stop while Redis is gone stops promptly.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConsoleChat } from '../support/console-chat.ts';
import { isAlive, makeTempDir, removeTempDir, waitUntil } from '../support/processes.ts';
import { type PrivateRedis, startPrivateRedis } from '../support/private-redis.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
let redis: PrivateRedis;
let dir: string;
let chat: ConsoleChat | undefined;
const children: ChildProcess[] = [];
const config = { hosts: { h1: { address: 'local' } }, targets: { app: { hosts: ['h1'] } } };

beforeEach(async () => {
  redis = await startPrivateRedis();
  dir = await makeTempDir('triage-chat-outage-');
  mkdirSync(join(dir, 'runbooks'));
  writeFileSync(join(dir, 'triage.yaml'), stringify(config));
  writeFileSync(
    join(dir, 'runbooks', 'quick.yaml'),
    stringify({ name: 'quick', description: 'one quick check', steps: [{ id: 'up', title: 'uptime', run: 'cat /proc/uptime' }] }),
  );
  writeFileSync(
    join(dir, 'runbooks', 'long.yaml'),
    stringify({
      name: 'long',
      description: 'one long check',
      steps: [{ id: 'long', title: 'long', run: `sleep 30 & echo $! > ${join(dir, 'long.pid')}; wait`, timeout: '60s' }],
    }),
  );
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (chat) {
    if (!redis.running()) await redis.restart();
    await chat.close();
    chat = undefined;
  }
  await redis.stop();
  await removeTempDir(dir);
});

/** Resolves `p`, or fails the test after `ms` — a command that never answers must not hang the suite. */
async function answered<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

it('while Redis is down the bot still answers /help, /runbooks and /targets, and queue commands say it is retrying', async () => {
  process.env.REDIS_URL = redis.url;
  chat = await ConsoleChat.start({ config, runbookDirs: [join(dir, 'runbooks')], worker: { stalledIntervalMs: 1000, lockDurationMs: 3000 } });
  await chat.send('/help');
  expect(chat.lastReply()).toContain('Triage commands');

  await redis.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));

  await answered(chat.send('/help'), 5000, '/help');
  expect(chat.lastReply()).toContain('Triage commands');
  await answered(chat.send('/runbooks'), 5000, '/runbooks');
  expect(chat.lastReply()).toContain('quick');
  await answered(chat.send('/targets'), 5000, '/targets');
  expect(chat.lastReply()).toContain('app — hosts: h1');

  // A diagnosis needs the queue: the bot says so at once, and runs it once Redis is back.
  const diagnose = chat.send('/diagnose quick app');
  await waitUntil('the queue-unavailable reply', async () => chat!.replies().some((r) => r.includes('the queue is unavailable, retrying')), {
    timeoutMs: 5000,
  });
  expect(chat.cardMessages()).toHaveLength(0);
  await redis.restart();
  await answered(diagnose, 20_000, '/diagnose after Redis came back');
  const card = await chat.waitForFinalCard({ timeoutMs: 30_000 });
  expect(card).toContain('healthy');
}, 60_000);

it('triage bot answers /help on its console with Redis gone, and a SIGTERM stops it within seconds', async () => {
  const bot = spawn(process.execPath, [BIN, 'bot', '--console', '--config', join(dir, 'triage.yaml'), '--runbooks', join(dir, 'runbooks')], {
    env: { ...process.env, TRIAGE_CONFIG: '', TRIAGE_PREFIX: 'chat-outage', REDIS_URL: redis.url },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(bot);
  let out = '';
  bot.stdout!.on('data', (d) => {
    out += d;
  });
  bot.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<{ code: number | null; at: number }>((r) => bot.once('exit', (code) => r({ code, at: Date.now() })));
  await waitUntil('the bot to start', async () => out.includes('triage bot:'), { timeoutMs: 30_000, abort: () => (bot.exitCode !== null ? out : undefined) });

  bot.stdin!.write('/diagnose long app\n');
  const pidFile = join(dir, 'long.pid');
  const stepPid = await waitUntil('the long step to start', async () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) || false : false), {
    timeoutMs: 30_000,
  });
  await redis.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));

  const before = out.length;
  bot.stdin!.write('/help\n');
  await waitUntil('/help to be answered', async () => out.slice(before).includes('Triage commands'), { timeoutMs: 5000 });

  const stopAt = Date.now();
  bot.kill('SIGTERM');
  const ended = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 40_000))]);
  expect(ended, out).not.toBe('still running');
  if (ended === 'still running') return;
  const tookMs = ended.at - stopAt;
  console.log(`bot SIGTERM with Redis gone: stopped in ${(tookMs / 1000).toFixed(1)} s (grace 30 s)`);
  expect(ended.code).toBe(0);
  expect(tookMs).toBeLessThan(10_000);
  await waitUntil('the long step to be gone', async () => !isAlive(stepPid), { timeoutMs: 5000 });
}, 90_000);
