/**
 * The worker running a diagnosis is killed with SIGKILL mid-run. Another
 * worker takes the work over, resumes after the last persisted step (finished
 * steps are not run again), and exactly one final result is published.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { RunEvent } from '../../src/queue/jobs.ts';
import { type QueueWorld, queueWorld } from '../support/queue-env.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
const children: ChildProcess[] = [];
let world: QueueWorld | undefined;

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await world?.close();
  world = undefined;
});

function workerProcess(w: QueueWorld): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'worker', '--config', w.configPath, '--runbooks', w.runbookDir, '--grace', '1s'], {
    env: { ...process.env, TRIAGE_PREFIX: w.prefix, TRIAGE_LOCK_MS: '1500', TRIAGE_STALLED_MS: '500', TRIAGE_CONFIG: '' },
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
