/**
 * The chat bot, assembled: resolves the chat secrets, builds the adapters
 * `chat:` configures (Telegram, Slack, or both), a RunQueue, an AuditLog and
 * a ChatCore, attaches the adapters to the core and starts them — plus, unless
 * told otherwise, an embedded queue worker so one process is a whole
 * deployment. `triage bot` calls {@link startBot}.
 *
 * Deliberately left out: signal handling and Redis lifetime (the caller owns
 * both), and schedules/on-call (not wired into the bot yet).
 */
import { ConsoleAdapter } from './console/console-adapter.ts';
import { format } from 'node:util';
import type { LoadedConfig } from '../config.ts';
import { resolveSecret } from '../config.ts';
import { TriageError } from '../errors.ts';
import { RunQueue } from '../queue/producer.ts';
import type { RedisHandle } from '../queue/redis.ts';
import { within } from '../queue/redis-watch.ts';
import { startWorker, type TriageWorker, type WorkerOptions } from '../queue/worker.ts';
import { escapeText } from '../escape.ts';
import { redact, registerSecret } from '../redact.ts';
import type { RunbookLibrary } from '../runbooks/loader.ts';
import type { ChatAdapter } from './adapter.ts';
import { AuditLog } from './audit.ts';
import { ChatCore, type ChatCoreOptions } from './core.ts';
import { createSlackAdapter } from './slack/slack-adapter.ts';
import { createTelegramAdapter } from './telegram/telegram-adapter.ts';

/** Options for {@link startBot}. */
export interface StartBotOptions {
  loaded: LoadedConfig;
  /** Where `env:` secrets are read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  redis: RedisHandle;
  /** Key prefix for the queue, dedupe and audit keys. Default `triage`. */
  prefix?: string;
  library: RunbookLibrary;
  /** Also serve this terminal (stdin/stdout) through the console adapter; then no chat platform is required. Default false. */
  console?: boolean;
  /** Run an embedded queue worker. Default true. */
  withWorker?: boolean;
  /** Interface the Slack HTTP receiver and the Telegram webhook server listen on. Default: all interfaces. */
  listenHost?: string;
  /** Where problems are logged (one redacted line each). Default stderr. */
  log?: (line: string) => void;
  /** Tuning for the core (pacing, delivery retries, live card timings). */
  core?: Partial<Pick<ChatCoreOptions, 'pacing' | 'delivery' | 'liveCard' | 'consoleRole'>>;
  /**
   * How long `stop()` may take in all: adapters and the core get a share of
   * it, the embedded worker finishes in-flight steps in the rest before
   * handing them back to other workers. Default 30 000 ms; `stop()` ends
   * within it, with or without Redis.
   */
  stopGraceMs?: number;
  /** Tuning for the embedded worker. */
  worker?: Partial<Omit<WorkerOptions, 'redis' | 'prefix' | 'config' | 'library'>>;
}

/** A running bot. */
export interface RunningBot {
  core: ChatCore;
  adapters: ChatAdapter[];
  /** Stops taking commands, delivers what is queued (bounded), stops the worker. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the bot for every chat platform in `loaded.config.chat`.
 * @throws TriageError CONFIG_INVALID when no chat is configured, SECRET_UNRESOLVED
 * when a token cannot be read, CHAT_DELIVERY when a platform refuses the token.
 */
export async function startBot(o: StartBotOptions): Promise<RunningBot> {
  const env = o.env ?? process.env;
  const prefix = o.prefix ?? 'triage';
  const chat = o.loaded.config.chat;
  if (!chat?.telegram && !chat?.slack && !o.console) {
    throw new TriageError('CONFIG_INVALID', 'no chat platform is configured, so the bot has nowhere to listen', {
      file: o.loaded.file || undefined,
      path: 'chat',
      fix: 'add chat.telegram (token: env:TELEGRAM_BOT_TOKEN) or chat.slack (botToken: env:SLACK_BOT_TOKEN, signingSecret: env:SLACK_SIGNING_SECRET) to the config; `triage run` and `triage demo` work without chat',
    });
  }
  const writeLine = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Log lines quote chat text and host errors; on a terminal, their control characters show as escapes.
  const log = (line: string) => writeLine(escapeText(redact(line)));
  const logger = { warn: (...a: unknown[]) => log(format(...a)), error: (...a: unknown[]) => log(format(...a)) };
  const secret = (ref: string, path: string): string => {
    const value = resolveSecret(ref, env, path, o.loaded.file || undefined);
    registerSecret(value);
    return value;
  };

  // Resolve every secret before anything starts, so a missing one stops the bot with nothing half-running.
  const adapters: ChatAdapter[] = [];
  if (chat?.telegram) {
    const tg = chat.telegram;
    const token = secret(tg.token, 'chat.telegram.token');
    const mode =
      tg.mode === 'polling'
        ? ('polling' as const)
        : {
            webhook: {
              url: tg.mode.webhook.url,
              port: tg.mode.webhook.port,
              secretToken: secret(tg.mode.webhook.secretToken, 'chat.telegram.webhook.secretToken'),
              ...(o.listenHost ? { host: o.listenHost } : {}),
            },
          };
    adapters.push(createTelegramAdapter({ token, apiRoot: tg.apiRoot, mode, logger }));
  }
  if (chat?.slack) {
    const s = chat.slack;
    adapters.push(
      createSlackAdapter({
        botToken: secret(s.botToken, 'chat.slack.botToken'),
        signingSecret: secret(s.signingSecret, 'chat.slack.signingSecret'),
        ...(s.appToken ? { appToken: secret(s.appToken, 'chat.slack.appToken') } : {}),
        port: s.port,
        ...(o.listenHost ? { host: o.listenHost } : {}),
        apiUrl: s.apiUrl,
        logger,
      }),
    );
  }

  if (o.console) adapters.push(new ConsoleAdapter());

  const redis = o.redis.client();
  redis.on('error', (err: Error) => log(`bot: redis: ${err.message}`));
  const queue = new RunQueue({ redis: o.redis, prefix });
  const audit = new AuditLog(redis, prefix);
  const core = new ChatCore({ queue, loaded: o.loaded, library: o.library, audit, redis, prefix, env, log, ...o.core });
  let worker: TriageWorker | undefined;
  const started: ChatAdapter[] = [];
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Everything shares one grace, so a stop ends within it even with Redis or a chat platform gone.
      const grace = o.stopGraceMs ?? 30_000;
      const deadline = Date.now() + grace;
      const left = () => Math.max(0, deadline - Date.now());
      // Adapters first, so no new command arrives while the core drains.
      for (const a of [...started].reverse()) {
        const stopped = a.stop().then(
          () => true,
          (e: unknown) => {
            log(`bot: stopping ${a.platform}: ${String(e)}`);
            return true;
          },
        );
        if (!(await within(stopped, Math.min(5000, Math.floor(grace / 4)), false))) log(`bot: ${a.platform} did not stop in time; leaving it`);
      }
      await core.close(Math.min(5000, Math.floor(left() / 4))).catch((e: unknown) => log(`bot: closing the core: ${String(e)}`));
      if (worker) {
        const budget = left();
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
      await within(queue.close(), 1000, undefined).catch(() => {});
      redis.disconnect();
    })();
    return stopping;
  };

  try {
    if (o.withWorker ?? true) {
      worker = await startWorker({ redis: o.redis, prefix, config: o.loaded, library: o.library, env, onError: (e) => log(`worker: ${e.message}`), ...o.worker });
    }
    for (const adapter of adapters) {
      core.attach(adapter);
      await adapter.start((cmd) => core.handle(cmd));
      started.push(adapter);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { core, adapters, stop };
}
