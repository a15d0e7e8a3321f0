/**
 * Redis goes away for good in the middle of a run. `triage run` tells the
 * user it cannot reach Redis (without the password) and exits 3 after a few
 * seconds of reconnecting, and a worker told to stop stops within its grace
 * period — nothing waits for a Redis that is not coming back, and the step
 * that was running is not left behind on the host.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { isAlive, makeTempDir, removeTempDir, waitUntil } from '../support/processes.ts';
import { type PrivateRedis, startPrivateRedis } from '../support/private-redis.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
const PASSWORD = 'hunter2-not-for-logs';
let redis: PrivateRedis;
let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  redis = await startPrivateRedis({ password: PASSWORD });
  dir = await makeTempDir('triage-outage-');
  mkdirSync(join(dir, 'runbooks'));
  writeFileSync(
    join(dir, 'triage.yaml'),
    stringify({ hosts: { h1: { address: 'local' } }, targets: { app: { hosts: ['h1'] } } }),
  );
  writeFileSync(
    join(dir, 'runbooks', 'long.yaml'),
    stringify({
      name: 'long',
      description: 'a quick step, then one that runs long',
      steps: [
        { id: 'quick', title: 'quick', run: 'echo ok' },
        // The long step's own pid goes to a file, so the test can tell whether it was left running.
        { id: 'long', title: 'long', run: `sleep 30 & echo $! > ${join(dir, 'long.pid')}; wait`, timeout: '60s' },
      ],
    }),
  );
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await redis.stop();
  await removeTempDir(dir);
});

interface Cli {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; at: number }>;
}

function triage(args: string[], env: NodeJS.ProcessEnv = {}): Cli {
  const child = spawn(process.execPath, [BIN, ...args, '--config', join(dir, 'triage.yaml'), '--runbooks', join(dir, 'runbooks')], {
    env: { ...process.env, TRIAGE_CONFIG: '', TRIAGE_PREFIX: 'outage', REDIS_URL: redis.url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; at: number }>((r) => child.once('exit', (code) => r({ code, at: Date.now() })));
  return { child, out: () => out, err: () => err, exited };
}

/** Waits until the long step is running on the host; returns its pid. */
async function longStepRunning(cli: Cli): Promise<number> {
  const file = join(dir, 'long.pid');
  return waitUntil('the long step to start', async () => (existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) || false : false), {
    timeoutMs: 30_000,
    abort: () => (cli.child.exitCode !== null ? `triage exited early (${cli.child.exitCode}): ${cli.err()}` : undefined),
  });
}

it('triage run exits 3 with "cannot reach Redis" within seconds when Redis dies mid-run, and leaves nothing running', async () => {
  const run = triage(['run', 'long', 'app']);
  const stepPid = await longStepRunning(run);
  const killedAt = Date.now();
  await redis.kill('SIGKILL');

  const limit = new Promise<'still running'>((r) => setTimeout(() => r('still running'), 30_000));
  const ended = await Promise.race([run.exited, limit]);
  expect(ended, `stdout:\n${run.out()}\nstderr:\n${run.err()}`).not.toBe('still running');
  if (ended === 'still running') return;
  const tookMs = ended.at - killedAt;
  console.log(`Redis killed mid-run: triage run exited ${ended.code} after ${(tookMs / 1000).toFixed(1)} s (its budget: 150 s)`);

  expect(ended.code).toBe(3);
  expect(run.err()).toContain(`cannot reach Redis at redis://:«redacted»@127.0.0.1:${redis.port}`);
  expect(run.out() + run.err()).not.toContain(PASSWORD);
  expect(tookMs).toBeLessThan(20_000);
  // The embedded worker killed its step on the way out.
  await waitUntil('the long step to be gone', async () => !isAlive(stepPid), { timeoutMs: 5000 });
}, 60_000);

it('a worker told to stop while Redis is gone stops within its grace period', async () => {
  const worker = triage(['worker', '--grace', '3s'], { TRIAGE_LOCK_MS: '2000', TRIAGE_STALLED_MS: '1000' });
  await waitUntil('the worker to serve', async () => worker.out().includes('serving'), {
    timeoutMs: 30_000,
    abort: () => (worker.child.exitCode !== null ? `worker exited early: ${worker.err()}` : undefined),
  });
  const run = triage(['run', 'long', 'app', '--no-worker']);
  const stepPid = await longStepRunning(run);
  await redis.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 500));

  const stopAt = Date.now();
  worker.child.kill('SIGTERM');
  const limit = new Promise<'still running'>((r) => setTimeout(() => r('still running'), 20_000));
  const ended = await Promise.race([worker.exited, limit]);
  expect(ended, `worker stdout:\n${worker.out()}\nstderr:\n${worker.err()}`).not.toBe('still running');
  if (ended === 'still running') return;
  const tookMs = ended.at - stopAt;
  console.log(`worker SIGTERM with Redis gone: stopped in ${(tookMs / 1000).toFixed(1)} s (grace 3 s)`);
  expect(ended.code).toBe(0);
  expect(worker.out()).toContain('triage worker: stopped');
  // Within the grace, plus the time node needs to exit.
  expect(tookMs).toBeLessThan(4500);
  await waitUntil('the long step to be gone', async () => !isAlive(stepPid), { timeoutMs: 5000 });
}, 60_000);
