/**
 * Redis restarts under two workers while a step runs, with a short job lock.
 * The worker that was running the step cannot renew its lock, so it kills the
 * step and lets go; the worker that takes the job over runs the step again —
 * never at the same time. Each step writes ticks with its own execution id to
 * a file on the host; no two executions' windows may overlap.
 *
 * With persistence (AOF) the run comes back and finishes. Without, Redis
 * comes back empty: the run is gone, `triage run` says so (exit 3), and the
 * step that was running is stopped instead of running on for nobody.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { makeTempDir, removeTempDir, waitUntil } from '../support/processes.ts';
import { type PrivateRedis, startPrivateRedis } from '../support/private-redis.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
const LOCK_MS = 1500;
let redis: PrivateRedis | undefined;
let dir: string | undefined;
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await redis?.stop();
  if (dir) await removeTempDir(dir);
  redis = undefined;
  dir = undefined;
});

async function setUp(persist: boolean): Promise<{ log: string }> {
  redis = await startPrivateRedis({ persist });
  dir = await makeTempDir('triage-lock-');
  const log = join(dir, 'ticks.log');
  mkdirSync(join(dir, 'runbooks'));
  writeFileSync(join(dir, 'triage.yaml'), stringify({ hosts: { h1: { address: 'local' } }, targets: { app: { hosts: ['h1'] } } }));
  // Each execution of a step ticks every 0.1 s for ~4 s under an id of its own.
  const ticking = (id: string) =>
    `x=$(date +%s%N); i=0; while [ $i -lt 40 ]; do echo "${id} $x $(date +%s%N)" >> ${log}; i=$((i+1)); sleep 0.1; done; echo ok`;
  writeFileSync(
    join(dir, 'runbooks', 'ticks.yaml'),
    stringify({
      name: 'ticks',
      description: 'three steps that tick into a file on the host',
      steps: ['one', 'two', 'three'].map((id) => ({ id, title: `step ${id}`, run: ticking(id), timeout: '30s' })),
    }),
  );
  return { log };
}

function triage(args: string[], env: NodeJS.ProcessEnv = {}): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, ...args, '--config', join(dir!, 'triage.yaml'), '--runbooks', join(dir!, 'runbooks')], {
    env: { ...process.env, TRIAGE_CONFIG: '', TRIAGE_PREFIX: 'lock', REDIS_URL: redis!.url, TRIAGE_LOCK_MS: String(LOCK_MS), TRIAGE_STALLED_MS: '500', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  return { child, out: () => out, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
}

async function twoWorkers(): Promise<void> {
  const ws = [triage(['worker', '--grace', '1s']), triage(['worker', '--grace', '1s'])];
  for (const w of ws) await waitUntil('a worker to serve', async () => w.out().includes('serving'), { timeoutMs: 30_000 });
}

interface Execution {
  step: string;
  id: string;
  from: number;
  to: number;
}

/** One window per execution of a step: its first and last tick (ns). */
function executions(log: string): Execution[] {
  const byId = new Map<string, Execution>();
  for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
    const [step, id, at] = line.split(' ');
    const t = Number(at);
    const e = byId.get(`${step} ${id}`) ?? { step: step!, id: id!, from: t, to: t };
    e.from = Math.min(e.from, t);
    e.to = Math.max(e.to, t);
    byId.set(`${step} ${id}`, e);
  }
  return [...byId.values()].sort((a, b) => a.from - b.from);
}

function overlaps(xs: Execution[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < xs.length; i++)
    for (let j = i + 1; j < xs.length; j++) {
      const [a, b] = [xs[i]!, xs[j]!];
      if (a.from <= b.to && b.from <= a.to) out.push(`${a.step}#${a.id} and ${b.step}#${b.id} ran at the same time for ${((Math.min(a.to, b.to) - Math.max(a.from, b.from)) / 1e6).toFixed(0)} ms`);
    }
  return out;
}

async function whileStepTwoRuns(log: string): Promise<void> {
  await waitUntil('step two to start', async () => existsSync(log) && readFileSync(log, 'utf8').includes('\ntwo '), { timeoutMs: 30_000 });
}

it('after a Redis restart (with persistence) no step runs twice at the same time, and the run finishes', async () => {
  const { log } = await setUp(true);
  await twoWorkers();
  const run = triage(['run', 'ticks', 'app', '--no-worker', '--json']);
  await whileStepTwoRuns(log);
  await redis!.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, LOCK_MS + 1000)); // longer than the lock: it has expired when Redis is back
  await redis!.restart();

  const code = await Promise.race([run.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 45_000))]);
  expect(code, run.out()).toBe(0);
  const result = JSON.parse(run.out().slice(run.out().indexOf('{')));
  expect(result.status).toBe('healthy');
  expect(result.hosts[0].steps.map((s: { id: string; status: string }) => `${s.id}:${s.status}`)).toEqual(['one:pass', 'two:pass', 'three:pass']);

  const xs = executions(log);
  const bad = overlaps(xs);
  console.log(`Redis restart (persistent) with a ${LOCK_MS} ms lock: ${xs.length} step executions, ${bad.length} overlapping`);
  expect(bad).toEqual([]);
  expect(xs.filter((x) => x.step === 'two').length).toBeGreaterThanOrEqual(1);
}, 90_000);

it('after a Redis restart that kept nothing, the running step is stopped and triage run says the run is gone', async () => {
  const { log } = await setUp(false);
  await twoWorkers();
  const run = triage(['run', 'ticks', 'app', '--no-worker']);
  await whileStepTwoRuns(log);
  await redis!.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 500));
  await redis!.restart();
  const restartedAt = Date.now();

  const code = await Promise.race([run.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 45_000))]);
  expect(code, run.out()).toBe(3);
  expect(run.out()).toMatch(/gone from Redis|cannot reach Redis/);

  // The worker that held step two lost its lock with the restart and killed the step well before it would have ended.
  await new Promise((r) => setTimeout(r, 1000));
  const two = executions(log).filter((x) => x.step === 'two');
  expect(two).toHaveLength(1);
  const ranOnMs = two[0]!.to / 1e6 - restartedAt;
  console.log(`Redis restart (empty): the orphaned step stopped ${ranOnMs.toFixed(0)} ms after Redis came back`);
  expect(ranOnMs).toBeLessThan(LOCK_MS * 2);
  expect(executions(log).some((x) => x.step === 'three')).toBe(false);
}, 90_000);
