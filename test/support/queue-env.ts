/**
 * A throwaway queue world for one test: a unique prefix on the real Redis,
 * a temp dir with a config and runbooks, and cleanup of everything.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type LoadedConfig, parseConfig } from '../../src/config.ts';
import { RunQueue } from '../../src/queue/producer.ts';
import { connectRedis, type RedisHandle } from '../../src/queue/redis.ts';
import { startWorker, type TriageWorker, type WorkerOptions } from '../../src/queue/worker.ts';
import { RunbookLibrary } from '../../src/runbooks/loader.ts';
import { prepareRun } from '../../src/runbooks/prepare.ts';
import { purgePrefix } from './cli.ts';

export interface QueueWorld {
  prefix: string;
  dir: string;
  configPath: string;
  runbookDir: string;
  loaded: LoadedConfig;
  library: RunbookLibrary;
  redis: RedisHandle;
  queue: RunQueue;
  workers: TriageWorker[];
  /** Starts an in-process worker for this world. */
  worker(o?: Partial<WorkerOptions>): Promise<TriageWorker>;
  /** Checks and submits a run like the CLI does. */
  submit(runbook: string, target: string, o?: { idempotencyKey?: string; host?: string }): Promise<{ runId: string; duplicate: boolean }>;
  close(): Promise<void>;
}

/**
 * `redis`: a Redis of the test's own (a private Cluster or Sentinel set) instead of the shared one at
 * 127.0.0.1:6379; the test throws it away, so nothing is purged from it here.
 */
export async function queueWorld(o: { config: object; runbooks: Record<string, object> | ((dir: string) => Record<string, object>); redis?: RedisHandle }): Promise<QueueWorld> {
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'triage-q-'));
  const runbookDir = join(dir, 'runbooks');
  mkdirSync(runbookDir);
  const runbooks = typeof o.runbooks === 'function' ? o.runbooks(dir) : o.runbooks;
  for (const [name, rb] of Object.entries(runbooks)) writeFileSync(join(runbookDir, `${name}.yaml`), stringify(rb));
  const configPath = join(dir, 'triage.yaml');
  const text = stringify(o.config);
  writeFileSync(configPath, text);
  const loaded = parseConfig(text, configPath);
  const library = RunbookLibrary.load({ dirs: [runbookDir] });
  const redis = o.redis ?? (await connectRedis({ url: 'redis://127.0.0.1:6379' }));
  const queue = new RunQueue({ redis, prefix, retention: loaded.config.retention });
  const workers: TriageWorker[] = [];
  return {
    prefix,
    dir,
    configPath,
    runbookDir,
    loaded,
    library,
    redis,
    queue,
    workers,
    async worker(over = {}) {
      const w = await startWorker({ redis, prefix, config: loaded, library, stalledIntervalMs: 1000, lockDurationMs: 2000, ...over });
      workers.push(w);
      return w;
    },
    submit(runbook, target, so = {}) {
      const plan = prepareRun(loaded, library, { runbook, target, host: so.host });
      return queue.submit(plan, { requestedBy: 'test', idempotencyKey: so.idempotencyKey, host: so.host });
    },
    async close() {
      await Promise.all(workers.map((w) => w.close(2000)));
      await queue.close();
      if (!o.redis) await purgePrefix(prefix);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
