/**
 * Chaos, workers side: runs two at a time (one per host), and each time the
 * worker running a run's first step is killed with SIGKILL — twenty kills. Another worker takes over;
 * every run must end with exactly one final result, every step recorded
 * once and passed, and when the workers are gone nothing of theirs is left
 * running.
 *
 * Prints "worker SIGKILL: N tried, M held" for RELIABILITY.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { RunEvent } from '../../src/queue/jobs.ts';
import { census, settledCensus, summary } from '../support/host-census.ts';
import { type QueueWorld, queueWorld } from '../support/queue-env.ts';
import { pollUntil } from '../support/wait.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
const KILLS = Number(process.env.CHAOS_KILLS ?? 20);
const MARK = `TRIAGE_CHAOS_MARK=${randomBytes(6).toString('hex')}`;
let world: QueueWorld | undefined;
const pool: ChildProcess[] = [];

afterEach(async () => {
  for (const c of pool.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await world?.close();
  world = undefined;
});

/** A `triage worker` process whose steps write `TEST_WORKER=<index in pool>`. */
function spawnWorker(w: QueueWorld): ChildProcess {
  const [k, v] = MARK.split('=') as [string, string];
  const child = spawn(process.execPath, [BIN, 'worker', '--concurrency', '1', '--config', w.configPath, '--runbooks', w.runbookDir, '--grace', '1s'], {
    env: { ...process.env, TRIAGE_PREFIX: w.prefix, TRIAGE_LOCK_MS: '1000', TRIAGE_STALLED_MS: '300', TRIAGE_CONFIG: '', TEST_WORKER: String(pool.length), [k]: v },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  Object.assign(child, { serving: () => out.includes('serving') });
  pool.push(child);
  return child;
}
const serving = (c: ChildProcess) => (c as ChildProcess & { serving: () => boolean }).serving();

it(`worker SIGKILL mid-step ×${KILLS}: every run ends with exactly one final result, nothing doubled, nothing left running`, async () => {
  world = await queueWorld({
    config: { hosts: { h1: { address: 'local' }, h2: { address: 'local' } }, targets: { t1: { hosts: ['h1'] }, t2: { hosts: ['h2'] } } },
    runbooks: (dir) => ({
      three: {
        name: 'three',
        description: 'three short steps; the first notes which worker runs it',
        steps: [
          { id: 'first', title: 'first', run: `echo "$TEST_WORKER" >> ${join(dir, 'owner-')}\${{ host.name }}; sleep 0.3; echo ok` },
          { id: 'second', title: 'second', run: 'sleep 0.1; echo ok' },
          { id: 'third', title: 'third', run: 'echo ok' },
        ],
      },
    }),
  });
  const w = world;
  const ownerFile = (host: string) => join(w.dir, `owner-${host}`);
  for (let i = 0; i < 4; i++) spawnWorker(w);
  await pollUntil(() => pool.every(serving) || undefined, { timeoutMs: 30_000, what: () => 'the workers never started serving' });

  // Waves of two runs (one per host, so two workers are busy); the worker running each run's first step dies.
  let kills = 0;
  let tried = 0;
  let held = 0;
  const failures: string[] = [];
  for (let wave = 0; wave < KILLS && kills < KILLS; wave++) {
    const hosts = kills === KILLS - 1 ? ['h1'] : ['h1', 'h2'];
    for (const h of hosts) writeFileSync(ownerFile(h), '');
    const runs = await Promise.all(hosts.map((h) => w.submit('three', h === 'h1' ? 't1' : 't2')));
    const victims = await pollUntil(
      () => {
        const owners = hosts.map((h) => readFileSync(ownerFile(h), 'utf8').trim().split('\n')[0]);
        return owners.every(Boolean) ? [...new Set(owners)].map((o) => pool[Number(o)]!) : undefined;
      },
      { timeoutMs: 15_000, what: () => `wave ${wave}: not every run started its first step` },
    );
    for (const v of victims) {
      v.kill('SIGKILL');
      kills++;
      spawnWorker(w); // keep the pool at strength; the others take over meanwhile
    }
    tried += runs.length;
    for (const { runId } of runs) {
      const final = await w.queue.wait(runId, { timeoutMs: 20_000 }).catch((e: Error) => e);
      const events: RunEvent[] = await w.queue.store.events(runId, '0');
      const finals = events.filter((e) => e.type === 'final').length;
      const steps = events.filter((e) => e.type === 'step').map((e) => (e.type === 'step' ? e.step.id : ''));
      const ok =
        !(final instanceof Error) &&
        final.state === 'done' &&
        finals === 1 &&
        steps.length === 3 &&
        new Set(steps).size === 3 &&
        final.result.hosts[0]!.steps.every((s) => s.status === 'pass');
      if (ok) held++;
      else failures.push(`wave ${wave}: ${final instanceof Error ? final.message : `${final.state}, ${finals} finals, steps ${steps.join(',')}`}`);
    }
  }

  // Stop the survivors; nothing they started may outlive them.
  await Promise.all(
    pool.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGTERM');
        }),
    ),
  );
  const left = await settledCensus({ envMarker: MARK }, { processes: [], tempFiles: [], machineTempFiles: [] });
  console.log(`worker SIGKILL: ${kills} kills mid-step, ${tried} runs tried, ${held} held; left running after the workers stopped: ${summary(left)}`);
  expect(failures).toEqual([]);
  expect(kills).toBe(KILLS);
  expect(held).toBe(tried);
  expect(left.processes.map((p) => p.args)).toEqual([]);
  expect(census({ envMarker: MARK }).processes).toHaveLength(0);
}, 150_000);
