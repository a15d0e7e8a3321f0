/**
 * The worker running a diagnosis is killed with SIGKILL mid-run. Another
 * worker takes the work over, resumes after the last persisted step (finished
 * steps are not run again), and exactly one final result is published.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { RunEvent } from '../../src/queue/jobs.ts';
import { type QueueWorld, queueWorld } from '../support/queue-env.ts';
import { pollUntil } from '../support/wait.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
const children: ChildProcess[] = [];
let world: QueueWorld | undefined;

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await world?.close();
  world = undefined;
});

let workersStarted = 0;
/** A `triage worker` process; its steps see `TEST_WORKER` (1, 2, ...: the order workers were started in). */
function workerProcess(w: QueueWorld): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'worker', '--config', w.configPath, '--runbooks', w.runbookDir, '--grace', '1s'], {
    env: { ...process.env, TRIAGE_PREFIX: w.prefix, TRIAGE_LOCK_MS: '1500', TRIAGE_STALLED_MS: '500', TRIAGE_CONFIG: '', TEST_WORKER: String(++workersStarted) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

async function started(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      if (buf.includes('serving')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
  });
}

it('a run survives its worker being killed with SIGKILL and ends with exactly one final result', async () => {
  const steps = ['one', 'two', 'three', 'four', 'five'];
  const fresh = await queueWorld({
    config: { hosts: { h1: { address: 'local' }, h2: { address: 'local' } }, targets: { app: { hosts: ['h1', 'h2'] } } },
    runbooks: (dir) => ({
      slow: {
        name: 'slow',
        description: 'five slow steps that log when they start',
        steps: steps.map((id) => ({
          id,
          title: `step ${id}`,
          run: `echo "start ${id} \${{ host.name }}" >> ${join(dir, 'steps.log')}; sleep 0.4; echo ok`,
        })),
      },
    }),
  });
  world = fresh;
  const log = join(fresh.dir, 'steps.log');

  const a = workerProcess(fresh);
  await started(a);
  const { runId } = await fresh.submit('slow', 'app');

  // Watch live progress; kill worker A once two steps of h1 are persisted.
  const seen: RunEvent[] = [];
  let killedAfter: string[] = [];
  const follow = (async () => {
    for await (const e of fresh.queue.follow(runId)) {
      seen.push(e);
      const h1 = seen.filter((x) => x.type === 'step' && x.host === 'h1');
      if (a.exitCode === null && a.signalCode === null && h1.length === 2) {
        a.kill('SIGKILL');
        killedAfter = seen.filter((x) => x.type === 'step').map((x) => (x.type === 'step' ? `${x.host}/${x.step.id}` : ''));
        const b = workerProcess(fresh);
        await started(b);
      }
      if (e.type === 'final') return e;
    }
  })();
  const final = await Promise.race([follow, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no final result within 45 s')), 45_000))]);

  expect(a.signalCode).toBe('SIGKILL');
  expect(final?.type).toBe('final');
  if (final?.type !== 'final') return;
  expect(final.state).toBe('done');
  expect(final.result.status).toBe('healthy');
  for (const h of final.result.hosts) expect(h.steps.map((s) => s.status)).toEqual(steps.map(() => 'pass'));

  // Exactly one final result, and no step published twice.
  const all = await fresh.queue.store.events(runId, '0');
  expect(all.filter((e) => e.type === 'final')).toHaveLength(1);
  const stepKeys = all.filter((e) => e.type === 'step').map((e) => (e.type === 'step' ? `${e.host}/${e.step.id}` : ''));
  expect(new Set(stepKeys).size).toBe(stepKeys.length);
  expect(stepKeys).toHaveLength(10);

  // Steps that had finished before the kill were not run again by worker B.
  const starts = readFileSync(log, "utf8").trim().split("\n");
  for (const key of killedAfter) {
    const [host, id] = key.split('/');
    expect(starts.filter((l) => l === `start ${id} '${host}'`), `${key} ran more than once`).toHaveLength(1);
  }
  expect(killedAfter.length).toBeGreaterThanOrEqual(2);
}, 60_000);

it('a host-changing step interrupted by a crash is not run again without a new approval', async () => {
  const fresh = await queueWorld({
    config: { hosts: { h1: { address: 'local' } }, targets: { app: { hosts: ['h1'] } } },
    runbooks: (dir) => ({
      fix: {
        name: 'fix',
        description: 'look, restart (changes the host), look again',
        steps: [
          { id: 'look', title: 'look', run: 'echo ok' },
          { id: 'restart', title: 'restart the app', changes: true, run: `echo "restart ran" >> ${join(dir, 'restarts.log')}; sleep 3; echo done` },
          { id: 'again', title: 'look again', run: 'echo ok' },
        ],
      },
    }),
  });
  world = fresh;
  const log = join(fresh.dir, 'restarts.log');
  const a = workerProcess(fresh);
  await started(a);
  const { runId } = await fresh.submit('fix', 'app');

  // An operator approves every request; the worker dies while the approved step runs.
  let approvals = 0;
  const follow = (async () => {
    for await (const e of fresh.queue.follow(runId)) {
      if (e.type === 'approval') {
        approvals++;
        await fresh.queue.approve(runId, e.host, e.stepId, 'tg:42');
      }
      if (e.type === 'final') return e;
    }
  })();
  await pollUntil(() => (existsSync(log) ? true : undefined), { timeoutMs: 20_000, what: () => 'the restart step never started' });
  a.kill('SIGKILL');
  const b = workerProcess(fresh);
  await started(b);
  const final = await Promise.race([follow, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no final result within 40 s')), 40_000))]);

  expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['restart ran']);
  expect(approvals).toBe(1);
  if (final?.type !== 'final') throw new Error('no final event');
  const steps = final.result.hosts[0]!.steps;
  expect(steps.map((s) => s.id)).toEqual(['look', 'restart', 'again']);
  expect(steps[1]).toMatchObject({ status: 'error', reason: 'interrupted; not re-run without a new approval' });
  expect(steps[2]!.status).toBe('pass');
}, 60_000);

it('a host whose work is lost after repeated kills still lists every step, in runbook order', async () => {
  const ids = ['s1', 's2', 's3', 's4', 's5', 's6', 's7'];
  const fresh = await queueWorld({
    config: { hosts: { h1: { address: 'local' } }, targets: { app: { hosts: ['h1'] } } },
    runbooks: (dir) => ({
      seven: {
        name: 'seven',
        description: 'seven steps; each notes which worker runs it',
        steps: ids.map((id) => ({
          id,
          title: `step ${id}`,
          run: `echo "$TEST_WORKER" >> ${join(dir, 'owners.log')}; sleep 0.3; echo "${id} finished with enough output to make the stored step long"`,
        })),
      },
    }),
  });
  world = fresh;
  const owners = join(fresh.dir, 'owners.log');
  const first = workersStarted + 1;
  const pool = [workerProcess(fresh), workerProcess(fresh)];
  await Promise.all(pool.map(started));
  const { runId } = await fresh.submit('seven', 'app');

  // The first worker finishes three steps; from then on every worker that takes the host over dies at once.
  const killed = new Set<number>();
  let stepEvents = 0;
  let final: RunEvent | undefined;
  const follow = (async () => {
    for await (const e of fresh.queue.follow(runId)) {
      if (e.type === 'step') stepEvents++;
      if (e.type === 'final') final = e;
    }
  })();
  await pollUntil(
    () => {
      if (final || killed.size >= 12) return true;
      if (!existsSync(owners)) return undefined;
      const owner = Number(readFileSync(owners, 'utf8').trim().split('\n').at(-1));
      if (!killed.has(owner) && (killed.size > 0 || stepEvents >= 3)) {
        pool[owner - first]!.kill('SIGKILL');
        killed.add(owner);
        pool.push(workerProcess(fresh));
      }
      return undefined;
    },
    { timeoutMs: 70_000, everyMs: 20, what: () => `killed ${killed.size} workers; ${stepEvents} step events` },
  );
  await Promise.race([follow, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no final result within 30 s')), 30_000))]);

  if (final?.type !== 'final') throw new Error('no final event');
  const host = final.result.hosts[0]!;
  console.log(`repeated kills: ${killed.size} kills, run ended ${final.state}; steps ${host.steps.map((s) => `${s.id}:${s.status}`).join(' ')}`);
  expect(final.state).toBe('failed');
  expect(host.error?.code).toBe('WORK_LOST');
  expect(host.steps.map((s) => s.id)).toEqual(ids);
  expect(host.steps.slice(0, 3).map((s) => s.status)).toEqual(['pass', 'pass', 'pass']);
  for (const s of host.steps.filter((x) => x.status !== 'pass')) expect(s).toMatchObject({ status: 'error', errorCode: 'WORK_LOST' });
}, 120_000);
