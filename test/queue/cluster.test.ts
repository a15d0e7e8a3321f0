/**
 * The queue on a real Redis Cluster: three masters on private loopback ports
 * (`redis-server --cluster-enabled yes` ×3, joined by `redis-cli --cluster
 * create ... --cluster-replicas 0`). The config names the cluster
 * (`redis: { cluster: [...] }`); every key goes under one hash tag, so
 * BullMQ's multi-key scripts and the run store's Lua stay in one slot.
 *
 * A run goes through the real queue with a worker, and a worker killed with
 * SIGKILL mid-run is resumed by a second worker process with one final
 * result and no step run twice.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { TriageErrors } from '../../src/errors.ts';
import type { RunEvent } from '../../src/queue/jobs.ts';
import { connectRedis, type RedisHandle } from '../../src/queue/redis.ts';
import { type QueueWorld, queueWorld } from '../support/queue-env.ts';
import { type PrivateCluster, startRedisCluster } from '../support/redis-topologies.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
let cluster: PrivateCluster;
let redis: RedisHandle;
let world: QueueWorld | undefined;
const children: ChildProcess[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  redis = await connectRedis({ url: '', redis: { cluster: cluster.nodes } });
}, 60_000);

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await world?.close();
  world = undefined;
});

afterAll(async () => {
  await cluster?.stop();
  for (const pid of cluster?.pids() ?? []) expect(alive(pid), `cluster node ${pid} still running`).toBe(false);
});

const config = (hosts: string[]) => ({
  redis: { cluster: cluster.nodes },
  hosts: Object.fromEntries(hosts.map((h) => [h, { address: 'local' }])),
  targets: { app: { hosts } },
});

it('a run goes through the queue on a 3-master Redis Cluster, its keys under one hash tag', async () => {
  expect(redis.mode).toBe('cluster');
  const w = await queueWorld({
    redis,
    config: config(['h1', 'h2']),
    runbooks: { quick: { name: 'quick', description: 'two quick steps', steps: [{ id: 'one', title: 'one', run: 'echo ok' }, { id: 'two', title: 'two', run: 'echo ok' }] } },
  });
  world = w;
  expect(w.queue.prefix).toBe(`{${w.prefix}}`);
  await w.worker();
  const { runId } = await w.submit('quick', 'app');
  const final = await w.queue.wait(runId, { timeoutMs: 30_000 });
  expect(final.state).toBe('done');
  expect(final.result.status).toBe('healthy');
  expect(final.result.hosts.map((h) => h.steps.map((s) => s.status))).toEqual([
    ['pass', 'pass'],
    ['pass', 'pass'],
  ]);

  // The run's keys and BullMQ's live on the one master that owns the tag's slot.
  const masters = await redis.masters!();
  try {
    const slot = Number(await masters[0]!.call('CLUSTER', 'KEYSLOT', w.prefix));
    let owners = 0;
    for (const m of masters) {
      const keys = await scanAll(m, `{${w.prefix}}:*`);
      if (!keys.length) continue;
      owners++;
      expect(keys).toContain(`{${w.prefix}}:run:${runId}`);
      expect(keys.some((k) => k.startsWith(`{${w.prefix}}:runs:`))).toBe(true);
      for (const k of keys.slice(0, 20)) expect(Number(await m.call('CLUSTER', 'KEYSLOT', k))).toBe(slot);
    }
    expect(owners).toBe(1);
  } finally {
    for (const m of masters) m.disconnect();
  }
}, 60_000);

it('on the cluster, a worker killed with SIGKILL mid-run is resumed by a second worker: one final result, no step twice', async () => {
  const steps = ['one', 'two', 'three', 'four', 'five'];
  const w = await queueWorld({
    redis,
    config: config(['h1', 'h2']),
    runbooks: (dir) => ({
      slow: {
        name: 'slow',
        description: 'five slow steps that log when they start',
        steps: steps.map((id) => ({ id, title: `step ${id}`, run: `echo "start ${id} \${{ host.name }}" >> ${join(dir, 'steps.log')}; sleep 0.4; echo ok` })),
      },
    }),
  });
  world = w;
  const a = workerProcess(w);
  await started(a);
  const { runId } = await w.submit('slow', 'app');

  const seen: RunEvent[] = [];
  let killedAfter: string[] = [];
  const follow = (async () => {
    for await (const e of w.queue.follow(runId)) {
      seen.push(e);
      const h1 = seen.filter((x) => x.type === 'step' && x.host === 'h1');
      if (a.exitCode === null && a.signalCode === null && h1.length === 2) {
        a.kill('SIGKILL');
        killedAfter = seen.flatMap((x) => (x.type === 'step' ? [`${x.host}/${x.step.id}`] : []));
        await started(workerProcess(w));
      }
      if (e.type === 'final') return e;
    }
  })();
  const final = await Promise.race([follow, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no final result within 45 s')), 45_000))]);

  expect(a.signalCode).toBe('SIGKILL');
  if (final?.type !== 'final') throw new Error('no final event');
  expect(final.state).toBe('done');
  expect(final.result.status).toBe('healthy');
  for (const h of final.result.hosts) expect(h.steps.map((s) => s.status)).toEqual(steps.map(() => 'pass'));
  const all = await w.queue.store.events(runId, '0');
  expect(all.filter((e) => e.type === 'final')).toHaveLength(1);
  const stepKeys = all.flatMap((e) => (e.type === 'step' ? [`${e.host}/${e.step.id}`] : []));
  expect(new Set(stepKeys).size).toBe(10);
  expect(stepKeys).toHaveLength(10);
  const starts = readFileSync(join(w.dir, 'steps.log'), 'utf8').trim().split('\n');
  expect(killedAfter.length).toBeGreaterThanOrEqual(2);
  for (const key of killedAfter) {
    const [host, id] = key.split('/');
    expect(starts.filter((l) => l === `start ${id} '${host}'`), `${key} ran more than once`).toHaveLength(1);
  }
}, 90_000);

it('a cluster password written inline is refused without echoing it; an env: one that is not set stops the connection with SECRET_UNRESOLVED', async () => {
  const text = (password: string) => `redis:\n  cluster: [{ host: 127.0.0.1, port: ${cluster.nodes[0]!.port} }]\n  password: ${password}\nhosts: {}\ntargets: {}\n`;
  let refused: unknown;
  try {
    parseConfig(text('hunter2-not-a-ref'), 'triage.yaml', {});
  } catch (e) {
    refused = e;
  }
  expect(refused).toBeInstanceOf(TriageErrors);
  const [err] = (refused as TriageErrors).errors;
  expect(err!.code).toBe('CONFIG_INVALID');
  expect(`${err!.message} ${err!.fix}`).toMatch(/secrets may not be written inline.*env:NAME/);
  expect(JSON.stringify(err)).not.toContain('hunter2');

  const loaded = parseConfig(text('env:TRIAGE_TEST_REDIS_PW'), 'triage.yaml', {});
  expect(loaded.redisUrl).toBe(`redis+cluster://127.0.0.1:${cluster.nodes[0]!.port}`);
  await expect(connectRedis({ url: loaded.redisUrl, redis: loaded.config.redis, env: {} })).rejects.toMatchObject({ code: 'SECRET_UNRESOLVED' });
});

/** A `triage worker` process reading the cluster from the world's config file. */
function workerProcess(w: QueueWorld): ChildProcess {
  const child = spawn(process.execPath, [BIN, 'worker', '--config', w.configPath, '--runbooks', w.runbookDir, '--grace', '1s'], {
    env: { ...process.env, TRIAGE_PREFIX: w.prefix, TRIAGE_LOCK_MS: '1500', TRIAGE_STALLED_MS: '500', TRIAGE_CONFIG: '', REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

async function started(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    let err = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      if (buf.includes('serving')) resolve();
    });
    child.stderr!.on('data', (d) => {
      err += d;
    });
    child.once('exit', (code) => reject(new Error(`worker exited early (${code}): ${err.slice(0, 500)}`)));
  });
}

async function scanAll(r: Redis, match: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
