/**
 * The operator's view of a real `triage worker` process (bin/triage.js, a
 * temp config, the real Redis with a unique TRIAGE_PREFIX): its /healthz,
 * /readyz and /metrics over HTTP on loopback, its JSON log on stderr, and
 * reloads by SIGHUP and `triage reload` — while it keeps running runs.
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import { RunQueue } from '../../src/queue/producer.ts';
import { connectRedis } from '../../src/queue/redis.ts';
import { RunbookLibrary } from '../../src/runbooks/loader.ts';
import { prepareRun } from '../../src/runbooks/prepare.ts';
import { purgePrefix, runCli } from '../support/cli.ts';
import { startPrivateRedis } from '../support/private-redis.ts';
import { httpGet, makeTempDir, randomId, readIfExists, removeTempDir, spawnTracked, type TrackedChild, waitUntil } from '../support/processes.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
const PLANTED = `planted-${randomId(8)}`;
const HOSTS = { box: { address: 'local' } };
const shopOnly = { hosts: HOSTS, targets: { shop: { hosts: ['box'] } } };
const withCart = { hosts: HOSTS, targets: { shop: { hosts: ['box'] }, cart: { hosts: ['box'] } } };
const QUICK = {
  name: 'quick',
  description: 'a quick check that also handles a secret',
  params: [{ name: 'token', secret: true, required: false, description: 'planted by the test' }],
  steps: [
    { id: 'up', title: 'uptime', run: 'cat /proc/uptime' },
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, not a JS one
    { id: 'token', title: 'token length', run: "printf '%s' ${{ params.token }} | wc -c" },
  ],
};

/** A worker process and what it wrote. */
interface WorkerProcess {
  proc: TrackedChild;
  url: string;
  logFile: string;
  /** stderr lines (stdout's `triage worker:` banner lines left out). */
  logLines(): string[];
  /** Parsed log objects. */
  logs(): Record<string, unknown>[];
}

async function startWorkerProcess(o: { dir: string; config: string; runbooks: string; env: NodeJS.ProcessEnv }): Promise<WorkerProcess> {
  const logFile = join(o.dir, `worker-${randomId(3)}.log`);
  const proc = await spawnTracked(
    process.execPath,
    [BIN, 'worker', '--config', o.config, '--runbooks', o.runbooks, '--metrics-port', '0', '--log-format', 'json', '--log-level', 'debug', '--grace', '5s'],
    { env: { ...process.env, TRIAGE_CONFIG: '', TRIAGE_LOCK_MS: '3000', TRIAGE_STALLED_MS: '1000', ...o.env }, logFile },
  );
  const logLines = () =>
    readIfExists(logFile)
      .split('\n')
      .filter((l) => l && !l.startsWith('triage worker:'));
  const logs = () => logLines().map((l) => JSON.parse(l) as Record<string, unknown>);
  const url = await waitUntil(
    'the worker serving /metrics',
    async () => logs().find((l) => l.msg === 'serving /metrics, /healthz and /readyz')?.url as string | undefined,
    { timeoutMs: 60_000, intervalMs: 100, abort: () => (proc.hasExited() ? `exited early: ${readIfExists(logFile)}` : undefined) },
  );
  await waitUntil('the worker started', async () => logs().some((l) => l.msg === 'worker started'), { timeoutMs: 15_000, intervalMs: 100 });
  return { proc, url, logFile, logLines, logs };
}

/** The value of one series in Prometheus text, whatever the label order. */
function series(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('a triage worker process, operated', () => {
  let dir: string;
  let config: string;
  let runbooks: string;
  const prefix = `t-${randomId(4)}`;
  let w: WorkerProcess;
  const write = async (c: object | string) => (await import('node:fs')).writeFileSync(config, typeof c === 'string' ? c : stringify(c));
  const run = (target: string) =>
    runCli(['run', 'quick', target, '--no-worker', '--json', '--config', config, '--runbooks', runbooks, '--param', 'token=env:PLANTED_TOKEN', '--wait', '60s'], {
      env: { TRIAGE_PREFIX: prefix },
    });

  beforeAll(async () => {
    dir = await makeTempDir('triage-ops-proc-');
    config = join(dir, 'triage.yaml');
    runbooks = join(dir, 'runbooks');
    (await import('node:fs')).mkdirSync(runbooks);
    (await import('node:fs')).writeFileSync(join(runbooks, 'quick.yaml'), stringify(QUICK));
    await write(shopOnly);
    w = await startWorkerProcess({ dir, config, runbooks, env: { TRIAGE_PREFIX: prefix, PLANTED_TOKEN: PLANTED } });
  }, 90_000);
  afterAll(async () => {
    await w?.proc.stop(8000);
    await purgePrefix(prefix);
    if (dir) await removeTempDir(dir);
  });

  it('answers /healthz and /readyz, and /metrics shows the counters after a run', async () => {
    expect(await httpGet(`${w.url}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
    const ready = await httpGet(`${w.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({ ready: true, checks: { redis: { ready: true }, worker: { ready: true } } });
    expect((await httpGet(`${w.url}/nope`)).status).toBe(404);

    const r = await run('shop');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.status).toBe('healthy');
    const runId = r.json.runId as string;

    const m = (await httpGet(`${w.url}/metrics`)).body;
    expect(series(m, 'triage_runs_total', { runbook: 'quick', outcome: 'healthy', role: 'worker' })).toBe(1);
    expect(series(m, 'triage_step_duration_seconds_count', { runbook: 'quick', step: 'up', status: 'pass' })).toBe(1);
    expect(series(m, 'triage_step_duration_seconds_count', { runbook: 'quick', step: 'token' })).toBe(1);
    expect(series(m, 'triage_run_duration_seconds_count', { runbook: 'quick' })).toBe(1);
    expect(series(m, 'triage_queue_jobs', { queue: 'hosts-default', state: 'waiting' })).toBe(0);
    expect(series(m, 'triage_queue_oldest_waiting_seconds', { queue: 'runs' })).toBe(0);
    expect(series(m, 'triage_redis_up')).toBe(1);
    expect(series(m, 'triage_ready')).toBe(1);
    expect(series(m, 'process_cpu_seconds_total')).toBeGreaterThan(0);

    // The log: JSON lines only, the run's fields on its lines, and not the secret the step handled.
    const lines = w.logLines();
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
    const logs = w.logs();
    const step = logs.find((l) => l.msg === 'step finished' && l.runId === runId && l.step === 'up');
    expect(step).toMatchObject({ level: 'info', role: 'worker', runId, runbook: 'quick', target: 'shop', host: 'box', step: 'up', status: 'pass' });
    expect(logs.find((l) => l.msg === 'run finished' && l.runId === runId)).toMatchObject({ target: 'shop', status: 'healthy', state: 'done', cause: null });
    expect(lines.filter((l) => l.includes(PLANTED))).toEqual([]);
  }, 90_000);

  it('SIGHUP after the config gains a target: runs on it work; a bad config is refused with the reason and the old one kept; triage reload removes it again', async () => {
    // Before the reload the worker does not know cart (the CLI, reading the file, does).
    await write(withCart);
    process.kill(w.proc.pid, 'SIGHUP');
    const reloaded = await waitUntil('config reloaded', async () => w.logs().find((l) => l.msg === 'config reloaded' && l.generation === 1), { timeoutMs: 15_000 });
    expect(reloaded).toMatchObject({ trigger: 'SIGHUP', added: ['cart'], removed: [], targets: 2 });
    const onCart = await run('cart');
    expect(onCart.code, onCart.stderr).toBe(0);
    expect(onCart.json).toMatchObject({ target: 'cart', status: 'healthy' });

    await write({ ...withCart, targets: { ...withCart.targets, broken: { hosts: ['nosuchhost'] } } });
    process.kill(w.proc.pid, 'SIGHUP');
    const refused = await waitUntil('reload refused', async () => w.logs().find((l) => l.msg === 'config reload refused; keeping the config in force'), { timeoutMs: 15_000 });
    expect(refused).toMatchObject({ level: 'error', trigger: 'SIGHUP', generation: 1 });
    expect(refused.reason).toMatch(/targets\.broken\.hosts.*nosuchhost/);
    // The old config (with cart) still serves, read back from a file that no longer loads.
    await write(withCart);
    const stillCart = await run('cart');
    expect(stillCart.code, stillCart.stderr).toBe(0);

    // `triage reload` reaches the process over Redis and prints what it did.
    await write(shopOnly);
    const rl = await runCli(['reload', '--config', config, '--json', '--wait', '15s'], { env: { TRIAGE_PREFIX: prefix } });
    expect(rl.code, rl.stdout + rl.stderr).toBe(0);
    expect(rl.json.listening).toBe(1);
    expect(rl.json.replies).toEqual([expect.objectContaining({ role: 'worker', pid: w.proc.pid, applied: true, generation: 2, removed: ['cart'] })]);
    const human = await runCli(['reload', '--config', config, '--wait', '15s'], { env: { TRIAGE_PREFIX: prefix } });
    expect(human.stdout).toMatch(new RegExp(`worker ${w.proc.pid}@\\S+: reloaded \\(generation 3: 1 target, \\d+ runbooks\\)`));

    // A run asked for with a config that still has cart is refused by the worker, which no longer does.
    const redis = await connectRedis({ url: 'redis://127.0.0.1:6379' });
    const queue = new RunQueue({ redis, prefix });
    try {
      const plan = prepareRun(parseConfig(stringify(withCart), config), RunbookLibrary.load({ dirs: [runbooks] }), { runbook: 'quick', target: 'cart' });
      const { runId } = await queue.submit(plan, { requestedBy: 'test' });
      const final = await queue.wait(runId, { timeoutMs: 30_000 });
      expect(final.state).toBe('failed');
      expect(final.result.summary).toMatch(/cart/);
    } finally {
      await queue.close();
      await redis.stop();
    }

    const m = (await httpGet(`${w.url}/metrics`)).body;
    expect(series(m, 'triage_config_reloads_total', { outcome: 'applied' })).toBe(3);
    expect(series(m, 'triage_config_reloads_total', { outcome: 'refused' })).toBe(1);
    expect(series(m, 'triage_runs_total', { runbook: 'quick', outcome: 'failed' })).toBe(1);
    expect(w.logLines().filter((l) => l.includes(PLANTED))).toEqual([]);
  }, 180_000);
});

describe('readiness when Redis goes away', () => {
  it('/readyz turns 503 when its Redis is killed, /healthz stays 200, and both recover when Redis is back; the Redis password is never logged', async () => {
    const password = `pw-${randomId(8)}`;
    const redis = await startPrivateRedis({ password });
    const dir = await makeTempDir('triage-ops-ready-');
    const prefix = `t-${randomId(4)}`;
    let w: WorkerProcess | undefined;
    try {
      const config = join(dir, 'triage.yaml');
      const runbooks = join(dir, 'runbooks');
      (await import('node:fs')).mkdirSync(runbooks);
      (await import('node:fs')).writeFileSync(config, stringify(shopOnly));
      w = await startWorkerProcess({ dir, config, runbooks, env: { TRIAGE_PREFIX: prefix, REDIS_URL: redis.url } });
      expect((await httpGet(`${w.url}/readyz`)).status).toBe(200);

      await redis.kill();
      const down = await waitUntil(
        '/readyz 503',
        async () => {
          const r = await httpGet(`${w!.url}/readyz`);
          return r.status === 503 ? r : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 200 },
      );
      expect(JSON.parse(down.body)).toMatchObject({ ready: false, checks: { redis: { ready: false }, worker: { ready: true } } });
      expect((await httpGet(`${w.url}/healthz`)).status).toBe(200);
      const m = (await httpGet(`${w.url}/metrics`, 8000)).body;
      expect(series(m, 'triage_redis_up')).toBe(0);
      expect(series(m, 'triage_ready')).toBe(0);

      await redis.restart();
      await waitUntil('/readyz 200 again', async () => (await httpGet(`${w!.url}/readyz`)).status === 200, { timeoutMs: 20_000, intervalMs: 200 });
      const all = readIfExists(w.logFile);
      expect(all).not.toContain(password);
      expect(all).not.toContain(encodeURIComponent(password));
    } finally {
      await w?.proc.stop(8000);
      await redis.stop();
      await removeTempDir(dir);
    }
  }, 90_000);
});
