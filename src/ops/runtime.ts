/**
 * The ops layer of one long-running process, assembled for the composition
 * roots (`triage bot`, `triage worker`): the logger, metrics, readiness, the
 * `/metrics` `/healthz` `/readyz` server, and reloads (SIGHUP and `triage
 * reload`). The CLI calls {@link opsSettings} before it connects anything
 * (so a bad flag is exit 2 with nothing started), then {@link startOps}.
 *
 * The logger also follows the ops events (events.ts): each step, run and
 * SSH connect failure, and each chat operation given up, is one log line
 * with `runId`, `runbook`, `target`, `host` and `step` fields as they apply.
 *
 * Deliberately left out: what the process does (the caller starts its
 * worker or bot and reports into `readiness`), and signal handling for
 * stopping (the CLI owns SIGINT/SIGTERM).
 */
import type { CliIO, Flags } from '../cli/io.ts';
import { TriageError } from '../errors.ts';
import { keyPrefix, type RedisHandle } from '../queue/redis.ts';
import { subscribeOps } from './events.ts';
import { createLogger, type Logger, type LogLevel, parseLogFormat, parseLogLevel } from './logger.ts';
import { OpsMetrics } from './metrics.ts';
import { QueueStats } from './queue-stats.ts';
import { Readiness } from './readiness.ts';
import { type LiveConfig, listenForReload, type ReloadOutcome } from './reload.ts';
import { type OpsServer, startOpsServer } from './server.ts';

/** The ops flags of `bot` and `worker`, checked. */
export interface OpsSettings {
  logLevel: LogLevel;
  logFormat: 'json' | 'text';
  /** Absent = no ops server. */
  metricsPort?: number;
  metricsHost: string;
}

/** Reads `--log-level`, `--log-format`, `--metrics-port`, `--metrics-host` (and their `$TRIAGE_*` defaults). */
export function opsSettings(values: Flags, env: NodeJS.ProcessEnv, stderrIsTerminal = process.stderr.isTTY === true): OpsSettings {
  const logLevel = parseLogLevel((values['log-level'] as string | undefined) ?? env.TRIAGE_LOG_LEVEL);
  const logFormat = parseLogFormat((values['log-format'] as string | undefined) ?? env.TRIAGE_LOG_FORMAT, stderrIsTerminal);
  const portText = (values['metrics-port'] as string | undefined) ?? env.TRIAGE_METRICS_PORT;
  let metricsPort: number | undefined;
  if (portText !== undefined && portText !== '' && portText !== 'off') {
    metricsPort = Number(portText);
    if (!/^\d+$/.test(portText) || metricsPort > 65535) {
      throw new TriageError('USAGE', `--metrics-port "${portText.slice(0, 20)}" is not a port`, { fix: 'a port from 1 to 65535 (9464 is the usual one), 0 for any free port, or off' });
    }
  }
  const metricsHost = (values['metrics-host'] as string | undefined) ?? env.TRIAGE_METRICS_HOST ?? '127.0.0.1';
  if (!/^[\w.:-]+$/.test(metricsHost)) throw new TriageError('USAGE', `--metrics-host "${metricsHost.slice(0, 40)}" is not an address`, { fix: 'e.g. 127.0.0.1, or 0.0.0.0 in a container' });
  return { logLevel, logFormat, ...(metricsPort === undefined ? {} : { metricsPort }), metricsHost };
}

/** Options for {@link startOps}. */
export interface StartOpsOptions {
  role: 'bot' | 'worker';
  settings: OpsSettings;
  io: Pick<CliIO, 'err'>;
  redis: RedisHandle;
  prefix: string;
  live: LiveConfig;
  /** Zones whose host queues are measured. Default: every zone of the live config. */
  zones?: () => string[];
}

/** The running ops layer of a process. */
export interface Ops {
  logger: Logger;
  metrics: OpsMetrics;
  /** Report into it: `readiness.set('chat:telegram', true)`, `readiness.set('schedules', false, 'syncing')`. */
  readiness: Readiness;
  live: LiveConfig;
  /** The ops server, when `--metrics-port` is set. */
  server?: OpsServer;
  /** Reloads now, logs and counts the outcome (what SIGHUP and `triage reload` do). */
  reload(trigger: 'SIGHUP' | 'triage reload' | 'api'): Promise<ReloadOutcome>;
  stop(): Promise<void>;
}

/** Starts logging, metrics, readiness, the ops server (if asked) and reload listening. */
export async function startOps(o: StartOpsOptions): Promise<Ops> {
  const logger = createLogger({ level: o.settings.logLevel, format: o.settings.logFormat, write: (line) => o.io.err(line), base: { role: o.role } });
  const readiness = new Readiness();
  const probe = o.redis.client({ enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  probe.on('error', () => {});
  readiness.probe('redis', async () => ((await probe.ping()) === 'PONG' ? null : 'Redis did not answer PING'));
  const statsConn = o.redis.client();
  statsConn.on('error', () => {});
  const zones = o.zones ?? (() => zonesOf(o.live));
  // The workers' own key prefix (in a Cluster it is a hash tag), so the counts are of their queues.
  const queues = new QueueStats({ connection: statsConn, prefix: keyPrefix(o.redis, o.prefix), zones });
  const metrics = new OpsMetrics({ role: o.role, queues, readiness });
  const unlog = logEvents(logger);

  const reload = async (trigger: 'SIGHUP' | 'triage reload' | 'api'): Promise<ReloadOutcome> => {
    logger.info({ trigger }, 'reloading config and runbooks');
    const r = await o.live.reload();
    metrics.recordReload(r.applied);
    if (r.applied) {
      logger.info({ trigger, generation: r.generation, targets: r.targets, runbooks: r.runbooks, added: r.added, removed: r.removed }, 'config reloaded');
      for (const w of r.warnings) logger.warn({ trigger, generation: r.generation }, w);
    } else {
      logger.error({ trigger, reason: r.reason, generation: r.generation }, 'config reload refused; keeping the config in force');
    }
    return r;
  };

  let server: OpsServer | undefined;
  let unlisten: (() => void) | undefined;
  const stop = async () => {
    unlisten?.();
    unlisten = undefined;
    await server?.close();
    server = undefined;
    metrics.close();
    unlog();
    await queues.close();
    statsConn.disconnect();
    probe.disconnect();
  };
  try {
    const subscriber = o.redis.client();
    subscriber.on('error', () => {});
    unlisten = await listenForReload({ live: o.live, role: o.role, prefix: o.prefix, subscriber, publisher: probe, reload });
    if (o.settings.metricsPort !== undefined) {
      server = await startOpsServer({
        port: o.settings.metricsPort,
        host: o.settings.metricsHost,
        metrics,
        readiness,
        onError: (err) => logger.warn({ err }, 'ops server'),
      });
      logger.info({ url: `http://${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}` }, 'serving /metrics, /healthz and /readyz');
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    logger,
    metrics,
    readiness,
    live: o.live,
    get server() {
      return server;
    },
    reload,
    stop,
  };
}

/** Every zone the config's hosts are in (with `default`). */
export function zonesOf(live: LiveConfig): string[] {
  const zones = new Set<string>(['default']);
  for (const h of Object.values(live.current.loaded.config.hosts)) zones.add((h as { zone?: string }).zone ?? 'default');
  return [...zones].sort();
}

/** Log lines for the ops events; returns the function that stops them. */
function logEvents(logger: Logger): () => void {
  return subscribeOps({
    runQueued: (e) => logger.info({ runId: e.runId, runbook: e.runbook, target: e.target, hosts: e.hosts, requestedBy: e.requestedBy }, 'run queued'),
    step: (e) =>
      logger[e.status === 'error' || e.status === 'timeout' ? 'warn' : 'info'](
        { runId: e.runId, runbook: e.runbook, target: e.target, host: e.host, step: e.step, status: e.status, durationMs: e.durationMs },
        'step finished',
      ),
    runEnd: (e) =>
      logger[e.state === 'failed' ? 'warn' : 'info'](
        { runId: e.runId, runbook: e.runbook, target: e.target, status: e.status, state: e.state, cause: e.cause, durationMs: e.durationMs },
        'run finished',
      ),
    sshConnectFailure: (e) => logger.warn({ host: e.host, reason: e.reason, code: e.code, err: { message: e.message } }, 'SSH connection failed'),
    chatSend: (e) => {
      if (e.outcome === 'gave-up') logger.warn({ platform: e.platform, kind: e.kind, room: e.room, error: e.error }, 'chat delivery given up');
      else if (e.outcome === 'rate-limited') logger.info({ platform: e.platform, kind: e.kind, room: e.room, retryAfterMs: e.retryAfterMs }, 'chat rate limited; waiting');
      else if (e.outcome === 'retry') logger.debug({ platform: e.platform, kind: e.kind, room: e.room, error: e.error }, 'chat send failed; retrying');
    },
  });
}
