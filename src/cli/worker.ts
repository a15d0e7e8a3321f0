/**
 * `triage worker [--concurrency N] [--per-host N] [--zone Z ...]`: a long-running queue
 * worker. Start more of them (on more machines, same Redis) to scale out; a
 * worker inside a private network serves that network's zone. `--per-host`
 * caps jobs on one host across all workers (default 2). SIGTERM/SIGINT
 * finish in-flight work (up to `--grace`), then hand the rest back. SIGHUP
 * (or `triage reload`) reloads config and runbooks; logs, `/metrics` and
 * `/readyz` come from the ops layer (src/ops/runtime.ts).
 */
import { TriageError } from '../errors.ts';
import { safeUrl } from '../queue/redis.ts';
import { startWorker } from '../queue/worker.ts';
import { opsSettings, startOps, zonesOf } from '../ops/runtime.ts';
import { type CliIO, parse } from './io.ts';
import { usageOf } from './help.ts';
import { startLive } from './live-start.ts';

const USAGE = usageOf('worker');

export async function workerCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, 'worker');
  if (positionals.length) throw new TriageError('USAGE', `unexpected "${positionals[0]}"`, { fix: USAGE });
  const concurrency = values.concurrency === undefined ? 8 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new TriageError('USAGE', '--concurrency must be a whole number from 1 to 256', { fix: USAGE });
  const perHost = Number(values['per-host'] ?? '2');
  if (!Number.isInteger(perHost) || perHost < 1 || perHost > 64) throw new TriageError('USAGE', '--per-host must be a whole number from 1 to 64', { fix: USAGE });
  const zones = (values.zone as string[] | undefined) ?? [];
  for (const z of zones) if (!/^[a-z0-9-]+$/.test(z)) throw new TriageError('USAGE', `--zone "${z}" is not a zone name`, { fix: 'zones are lowercase letters, digits and -' });
  const grace = /^(\d+)s$/.exec((values.grace as string | undefined) ?? '30s');
  if (!grace) throw new TriageError('USAGE', '--grace takes seconds, e.g. 30s', { fix: USAGE });

  const settings = opsSettings(values, io.env);

  const { loaded, library, redis, prefix, live } = await startLive(values, io);
  const ops = await startOps({ role: 'worker', settings, io, redis, prefix, live, zones: () => (zones.length ? zones : zonesOf(live)) }).catch(async (e) => {
    await redis.stop();
    throw e;
  });
  ops.readiness.expect('worker');
  const worker = await startWorker({
    redis,
    prefix,
    config: loaded,
    library,
    zones,
    concurrency,
    perHostLimit: perHost,
    env: io.env,
    lockDurationMs: msFromEnv(io.env.TRIAGE_LOCK_MS),
    stalledIntervalMs: msFromEnv(io.env.TRIAGE_STALLED_MS),
    onError: (err) => ops.logger.warn({ err }, 'worker problem'),
  }).catch(async (e) => {
    await ops.stop();
    await redis.stop();
    throw e;
  });
  ops.readiness.set('worker', true, `serving ${worker.zones.join(', ')}`);
  live.onReload((next) =>
    worker
      .reload({ config: next.loaded, library: next.library })
      .unservedZones.map((z) => `zone ${z} is in the config but this worker does not serve it: restart it, or start one with --zone ${z}`),
  );
  ops.logger.info({ zones: worker.zones, concurrency, perHost }, 'worker started');
  io.out(`triage worker: serving zone${worker.zones.length > 1 ? 's' : ''} ${worker.zones.join(', ')} · concurrency ${concurrency} · ${safeUrl(redis.url)}`);
  await new Promise<void>((resolve) => {
    if (io.stopSignal?.aborted) return resolve();
    io.stopSignal?.addEventListener('abort', () => resolve(), { once: true });
  });
  io.out('triage worker: stopping — finishing in-flight work');
  ops.readiness.set('worker', false, 'stopping');
  await worker.close(Number(grace[1]) * 1000);
  ops.logger.info('worker stopped');
  await ops.stop();
  await redis.stop();
  io.out('triage worker: stopped');
  return 0;
}

/** `TRIAGE_LOCK_MS` / `TRIAGE_STALLED_MS`: how fast a dead worker's jobs are taken over (defaults 30 s / 15 s). */
function msFromEnv(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 100) throw new TriageError('USAGE', `"${v.slice(0, 20)}" is not a number of milliseconds (>= 100)`, { fix: 'e.g. TRIAGE_LOCK_MS=5000' });
  return n;
}
