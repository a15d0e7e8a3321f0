/**
 * Bounded growth. 300 runs go through the real queue and worker with
 * `retention: { runs: { maxCount: 40 } }`; a sweep leaves the newest 40 (with
 * their steps and events), removes the older ones, keeps a run that is still
 * going however old, and `triage status <old run>` says the old one was
 * removed by retention. BullMQ keeps no more job records than
 * `retention.jobs` allows, and its event streams are trimmed. Age limits go the same way for runs, the audit
 * trail and resolved incidents (open incidents stay).
 */
import { Redis } from 'ioredis';
import { afterEach, expect, it } from 'vitest';
import { retentionPolicy } from '../../src/config/redis.ts';
import { AuditLog } from '../../src/bot/audit.ts';
import { IncidentStore } from '../../src/oncall/incidents.ts';
import { RUNS_QUEUE, hostQueueName } from '../../src/queue/jobs.ts';
import { deploymentRetention, sweep } from '../../src/queue/retention.ts';
import type { RunResult } from '../../src/runbooks/result.ts';
import { runCli } from '../support/cli.ts';
import { type QueueWorld, queueWorld } from '../support/queue-env.ts';

let world: QueueWorld | undefined;
const extra: Redis[] = [];

afterEach(async () => {
  for (const r of extra.splice(0)) r.disconnect();
  await world?.close();
  world = undefined;
});

const DAY = 86_400_000;

it('300 runs with runs.maxCount 40: the newest 40 stay whole, older ones go, a run still going stays, and status says the old one was removed by retention', async () => {
  const w = await queueWorld({
    config: {
      hosts: { h1: { address: 'local' } },
      targets: { app: { hosts: ['h1'] } },
      retention: { runs: { maxCount: 40 }, jobs: { completed: { maxCount: 25 } }, events: { queueMaxLen: 100 }, every: '1h' },
    },
    runbooks: {
      quick: { name: 'quick', description: 'one quick step', steps: [{ id: 'look', title: 'look', run: 'echo ok' }] },
      hold: { name: 'hold', description: 'a step that takes a while', steps: [{ id: 'wait', title: 'wait', run: 'sleep 60' }] },
    },
  });
  world = w;
  const worker = await w.worker({ concurrency: 8, perHostLimit: 8 });
  expect(worker.retention).toBeDefined();

  // The oldest run is still going when the sweep comes.
  const held = await w.submit('hold', 'app');
  for (let i = 0; i < 200 && (await w.queue.status(held.runId)).state !== 'running'; i++) await new Promise((res) => setTimeout(res, 50));
  const ids: string[] = [];
  for (let i = 0; i < 300; i++) ids.push((await w.submit('quick', 'app')).runId);
  for (const id of ids) expect((await w.queue.wait(id, { timeoutMs: 60_000 })).state).toBe('done');
  expect((await w.queue.status(held.runId)).state).toBe('running');

  const swept = await worker.retention!.sweepNow();
  expect(swept?.runs).toBe(300 + 1 - 40 - 1);

  const r = w.queue.store.redis;
  expect(await r.zcard(`${w.prefix}:runs`)).toBe(41);
  // BullMQ's own event streams are trimmed too (XTRIM MAXLEN ~ trims whole stream nodes of 100).
  for (const q of [RUNS_QUEUE, hostQueueName('default')]) expect(await r.xlen(`${w.prefix}:${q}:events`)).toBeLessThanOrEqual(200);
  // The newest 40 are whole: record, steps and events.
  for (const id of ids.slice(-40)) {
    const rec = await w.queue.status(id);
    expect(rec.state).toBe('done');
    expect(await w.queue.store.steps(id, 'h1', ['look'])).toHaveLength(1);
    expect((await w.queue.store.events(id, '0')).some((e) => e.type === 'final')).toBe(true);
  }
  // The older ones are gone with everything that belonged to them.
  for (const id of [ids[0]!, ids[130]!, ids[259]!]) {
    expect(await r.exists(w.queue.store.key(id), w.queue.store.key(id, 'steps'), w.queue.store.key(id, 'events'))).toBe(0);
  }
  // The run still going is kept however old it is.
  expect((await w.queue.status(held.runId)).state).toBe('running');

  // BullMQ keeps at most retention.jobs.completed.maxCount finished jobs per queue.
  const runs = w.queue.queue(RUNS_QUEUE);
  const hosts = w.queue.queue(hostQueueName('default'));
  try {
    expect(await runs.getCompletedCount()).toBeLessThanOrEqual(25);
    expect(await hosts.getCompletedCount()).toBeLessThanOrEqual(25);
  } finally {
    await runs.close();
    await hosts.close();
  }

  // What the user sees.
  const env = { TRIAGE_PREFIX: w.prefix };
  const old = await runCli(['status', ids[0]!, '--config', w.configPath], { env });
  console.log(`status of a removed run (exit ${old.code}): ${old.stderr.trim()}`);
  expect(old.code).not.toBe(0);
  expect(old.stderr).toContain(`run ${ids[0]} was removed by retention on `);
  expect(old.stderr).toContain('at most the newest 40');
  const recent = await runCli(['status', ids.at(-1)!, '--config', w.configPath], { env });
  expect(recent.code).toBe(0);
  expect(recent.stdout).toContain(`${ids.at(-1)}: done`);
  const never = await runCli(['status', 'r_neverexisted0', '--config', w.configPath], { env });
  expect(never.stderr).toContain('no run "r_neverexisted0"');
  expect(never.stderr).not.toContain('retention');

  await w.queue.cancel(held.runId, 'test');
  expect((await w.queue.wait(held.runId, { timeoutMs: 20_000 })).state).toBe('cancelled');
}, 180_000);

it('by age: runs, audit entries and resolved incidents older than maxAge go, recent ones and open incidents stay', async () => {
  const w = await queueWorld({
    config: { hosts: { h1: { address: 'local' } }, targets: { app: { hosts: ['h1'] } } },
    runbooks: { quick: { name: 'quick', description: 'one quick step', steps: [{ id: 'look', title: 'look', run: 'echo ok' }] } },
  });
  world = w;
  const r = new Redis('redis://127.0.0.1:6379');
  extra.push(r);
  await w.worker({ retention: false });
  const first = (await w.submit('quick', 'app')).runId;
  await w.queue.wait(first, { timeoutMs: 20_000 });

  // The audit trail: 200 entries written 40 days ago, 50 written now.
  const audit = new AuditLog(r, w.prefix);
  const longAgo = Date.now() - 40 * DAY;
  for (let i = 0; i < 200; i++) await r.xadd(audit.key, `${longAgo + i}-0`, 'e', JSON.stringify({ at: new Date(longAgo + i).toISOString(), platform: 'tg', user: 'tg:1', room: 'tg:-1', text: `/status ${i}`, outcome: 'ok' }));
  for (let i = 0; i < 50; i++) await audit.record({ platform: 'tg', user: 'tg:1', room: 'tg:-1', text: `/diagnose 502 app #${i}`, outcome: 'ok' });

  // Incidents: three opened 40 days ago, two of them resolved since.
  const incidents = new IncidentStore(r, w.prefix, () => longAgo);
  const opened: string[] = [];
  for (const cause of ['service-down', 'disk-full', 'port-conflict']) {
    const out = await incidents.recordRun({ runId: `r_old${cause.replace(/-/g, '')}`, runbook: '502', target: 'app', result: unhealthy(cause) });
    if (out.kind === 'opened') opened.push(out.incident.id);
  }
  expect(opened).toHaveLength(3);
  await incidents.resolve(opened[0]!, 'tg:1');
  await incidents.resolve(opened[1]!, 'tg:1');

  // Runs keep the default 30 days; the audit trail and incidents are given 30 days here too.
  const policy = retentionPolicy({ audit: { maxAge: 30 * DAY }, incidents: { maxAge: 30 * DAY } });
  const parts = deploymentRetention(w.prefix, policy);
  const later = await w.submit('quick', 'app');
  await w.queue.wait(later.runId, { timeoutMs: 20_000 });
  await r.zadd(`${w.prefix}:runs`, Date.now() - 31 * DAY, first); // the first run was asked 31 days ago
  const report = await sweep(r, parts);
  console.log(`age sweep: ${JSON.stringify(report)}`);
  expect(report.runs).toBe(1);
  await expect(w.queue.status(first)).rejects.toThrow(/removed by retention/);
  expect((await w.queue.status(later.runId)).state).toBe('done');

  expect(await r.xlen(audit.key)).toBeGreaterThanOrEqual(50);
  expect(await r.xlen(audit.key)).toBeLessThan(250);
  const kept = await audit.list({ count: 1000 });
  expect(kept.filter((e) => e.text.startsWith('/diagnose'))).toHaveLength(50);

  expect(report.incidents).toBe(2);
  expect(await incidents.get(opened[0]!)).toBeNull();
  expect(await incidents.get(opened[1]!)).toBeNull();
  expect(await r.exists(`${w.prefix}:incident:${opened[0]}:timeline`)).toBe(0);
  expect((await incidents.get(opened[2]!))?.state).toBe('open');
}, 60_000);

function unhealthy(cause: string): RunResult {
  return { runId: 'r_x', runbook: '502', target: 'app', status: 'unhealthy', cause, summary: `${cause} on app`, findings: [], hosts: [], startedAt: new Date().toISOString(), durationMs: 1 };
}
