/**
 * `triage bot [--config FILE] [--no-worker]`: the long-running chat bot —
 * Telegram and/or Slack, whichever `chat:` configures. It embeds a worker by
 * default (one process is a whole deployment); `--no-worker` leaves the work
 * to `triage worker` processes. `--console` also serves this terminal: type
 * `/diagnose 502 shop` to try the chat commands without any chat tokens.
 * SIGTERM/SIGINT stop it cleanly.
 *
 * This is the composition root: {@link startDeployment} wires the chat bot
 * (src/bot), the queue worker and its executors (src/queue/worker.ts) and the
 * schedule worker (src/queue/schedules.ts) together; none of them builds the
 * others.
 */
import { type RunningBot, type StartBotOptions, startBot } from '../bot/bot.ts';
import { TriageError } from '../errors.ts';
import { within } from '../queue/redis-watch.ts';
import { keyPrefix, safeUrl } from '../queue/redis.ts';
import { type ScheduleWorker, startScheduleWorker, syncSchedules } from '../queue/schedules.ts';
import { startWorker, type TriageWorker, type WorkerOptions } from '../queue/worker.ts';
import { type LiveConfig, liveView } from '../ops/reload.ts';
import { opsSettings, startOps } from '../ops/runtime.ts';
import { redact } from '../redact.ts';
import { type CliIO, parse } from './io.ts';
import { usageOf } from './help.ts';
import { startLive } from './live-start.ts';

const USAGE = usageOf('bot');

/** Options for {@link startDeployment}: the bot's, plus the workers'. */
export interface DeploymentOptions extends StartBotOptions {
  /** Run an embedded queue worker. Default true. */
  withWorker?: boolean;
  /** Tuning for the embedded worker. */
  worker?: Partial<Omit<WorkerOptions, 'redis' | 'prefix' | 'config' | 'library'>>;
  /** Test hook: schedules fire every this many ms instead of on their cron. */
  scheduleEveryMs?: number;
  /**
   * Where applied config reloads are announced (the process's `LiveConfig`,
   * src/ops/reload.ts). Each one re-syncs the job schedulers with the new
   * config: a removed schedule stops, a new one starts. Default: none (the
   * schedulers follow the config read at start).
   */
  reloads?: Pick<LiveConfig, 'onReload'>;
}

/** A running deployment: the bot, and the workers next to it. */
export interface Deployment extends RunningBot {
  worker?: TriageWorker;
  schedules: ScheduleWorker;
}

/**
 * Starts the bot, the embedded queue worker (unless `withWorker: false`) and
 * the schedule worker, and brings the job schedulers in line with the config
 * (again after each reload announced on `reloads`).
 * `stop()` stops the bot first (no new commands), then the schedule worker,
 * then the queue worker (finishing in-flight steps within `stopGraceMs`).
 */
export async function startDeployment(o: DeploymentOptions): Promise<Deployment> {
  const prefix = keyPrefix(o.redis, o.prefix ?? 'triage');
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const grace = o.stopGraceMs ?? 30_000;
  let worker: TriageWorker | undefined;
  if (o.withWorker ?? true) {
    worker = await startWorker({ redis: o.redis, prefix, config: o.loaded, library: o.library, env: o.env, onError: (e) => log(`worker: ${e.message}`), ...o.worker });
  }
  let bot: RunningBot;
  try {
    bot = await startBot({ ...o, prefix });
  } catch (e) {
    await worker?.close(grace);
    throw e;
  }
  const schedules = await startScheduleWorker({
    redis: o.redis,
    prefix,
    process: (job) => bot.oncall.runScheduled(job),
    onError: (e) => log(`schedules: ${e.message}`),
  });
  const sync = (config: DeploymentOptions['loaded']['config']) => syncSchedules({ redis: o.redis, prefix, config, ...(o.scheduleEveryMs ? { everyMs: o.scheduleEveryMs } : {}) });
  // Subscribed before the first sync, so a reload while starting is not missed.
  const unsubscribe = o.reloads?.onReload(async (next) => {
    try {
      await sync(next.loaded.config);
      return undefined;
    } catch (e) {
      return [redact(`schedules: could not re-sync the job schedulers: ${(e as Error).message}`)];
    }
  });
  await sync(o.loaded.config).catch((e: Error) => log(`schedules: could not sync the job schedulers: ${e.message}`));
  let stopping: Promise<void> | undefined;
  return {
    ...bot,
    ...(worker ? { worker } : {}),
    schedules,
    stop() {
      stopping ??= (async () => {
        const deadline = Date.now() + grace;
        unsubscribe?.();
        await bot.stop();
        await within(schedules.close(), Math.max(500, Math.floor((deadline - Date.now()) / 4)), undefined).catch(() => {});
        if (worker) {
          const budget = Math.max(0, deadline - Date.now());
          const closed = worker.close(budget).then(
            () => true,
            (e: unknown) => {
              log(`bot: closing the worker: ${String(e)}`);
              return true;
            },
          );
          // A stop must end: if the worker is still busy past the grace, leave it to the process exit.
          if (!(await within(closed, budget + 500, false))) log(`bot: the worker did not stop within ${grace} ms; leaving it`);
        }
      })();
      return stopping;
    },
  };
}

export async function botCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, 'bot');
  if (positionals.length) throw new TriageError('USAGE', `unexpected "${positionals[0]}"`, { fix: USAGE });
  const settings = opsSettings(values, io.env);
  const { redis, prefix, live } = await startLive(values, io);
  const ops = await startOps({ role: 'bot', settings, io, redis, prefix, live }).catch(async (e) => {
    await redis.stop();
    throw e;
  });
  ops.readiness.expect('chat', 'connecting');
  const bot = await startDeployment({
    // Live views: the core, on-call and the embedded worker read the config in force at each use.
    loaded: liveView(() => live.current.loaded),
    env: io.env,
    redis,
    prefix,
    library: liveView(() => live.current.library),
    log: (line) => ops.logger.warn(line),
    withWorker: !values['no-worker'],
    console: values.console === true,
    // Schedules follow the config: a reload re-syncs the job schedulers.
    reloads: live,
  }).catch(async (e) => {
    await ops.stop();
    await redis.stop();
    throw e;
  });
  ops.readiness.set('chat', true, bot.adapters.map((a) => a.platform).join(' + '));
  ops.logger.info({ platforms: bot.adapters.map((a) => a.platform), worker: !values['no-worker'] }, 'bot started');
  io.out(`triage bot: ${bot.adapters.map((a) => a.platform).join(' + ')} · Redis ${safeUrl(redis.url)}${values['no-worker'] ? '' : ' · embedded worker'}`);
  await new Promise<void>((resolve) => {
    if (io.stopSignal?.aborted) return resolve();
    io.stopSignal?.addEventListener('abort', () => resolve(), { once: true });
  });
  io.out('triage bot: stopping');
  ops.readiness.set('chat', false, 'stopping');
  await bot.stop();
  ops.logger.info('bot stopped');
  await ops.stop();
  await redis.stop();
  return 0;
}
