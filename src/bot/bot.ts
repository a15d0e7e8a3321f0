/**
 * The chat bot, assembled: resolves the chat secrets, builds the adapters
 * `chat:` configures (Telegram, Slack, or both), a RunQueue, an AuditLog and
 * a ChatCore with its on-call side (src/oncall), attaches the adapters to the
 * core and starts them. `triage bot` (src/cli/bot.ts, the composition root)
 * calls {@link startBot} and starts the queue worker and the schedule worker
 * next to it; this module imports neither a worker nor an executor.
 *
 * Deliberately left out: signal handling and Redis lifetime (the caller owns
 * both), queue workers, and schedulers.
 */
import { ConsoleAdapter } from './console/console-adapter.ts';
import { format } from 'node:util';
import type { LoadedConfig } from '../config.ts';
import { resolveSecret } from '../config.ts';
import { TriageError } from '../errors.ts';
import { RunQueue } from '../queue/producer.ts';
import type { RedisHandle } from '../queue/redis.ts';
import { within } from '../queue/redis-watch.ts';
import { escapeText } from '../escape.ts';
import { redact, registerSecret } from '../redact.ts';
import type { RunbookLibrary } from '../runbooks/loader.ts';
import type { ChatAdapter } from './adapter.ts';
import { AuditLog } from './audit.ts';
import { ChatCore, type ChatCoreOptions } from './core.ts';
import { createSlackAdapter } from './slack/slack-adapter.ts';
import { createTelegramAdapter } from './telegram/telegram-adapter.ts';
import { OnCall, type OnCallOptions } from '../oncall/on-call.ts';

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
  /** Interface the Slack HTTP receiver and the Telegram webhook server listen on. Default: all interfaces. */
  listenHost?: string;
  /** Where problems are logged (one redacted line each). Default stderr. */
  log?: (line: string) => void;
  /** Tuning for the core (pacing, delivery retries, live card timings). */
  core?: Partial<Pick<ChatCoreOptions, 'pacing' | 'delivery' | 'liveCard' | 'consoleRole'>>;
  /**
   * How long `stop()` may take in all (adapters, then the core's deliveries).
   * Default 30 000 ms; `stop()` ends within it, with or without Redis.
   */
  stopGraceMs?: number;
  /** Tuning for on-call (clock, digest timeout, handoff checks). */
  oncall?: Partial<Pick<OnCallOptions, 'now' | 'digestTimeoutMs' | 'tickMs'>>;
}

/** A running bot. */
export interface RunningBot {
  core: ChatCore;
  /** The on-call side: the schedule worker hands it each fire. */
  oncall: OnCall;
  adapters: ChatAdapter[];
  /** Stops taking commands and delivers what is queued (bounded). Idempotent. */
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
  const queue = new RunQueue({ redis: o.redis, prefix, retention: o.loaded.config.retention });
  const audit = new AuditLog(redis, prefix);
  const oncall = (chat: ConstructorParameters<typeof OnCall>[0]['chat']) =>
    new OnCall({ redis, prefix, queue, loaded: o.loaded, library: o.library, chat, env, log, ...o.oncall });
  const core = new ChatCore({ queue, loaded: o.loaded, library: o.library, audit, redis, prefix, env, log, oncall, ...o.core });
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
      await core.close(Math.min(5000, Math.floor(left() / 2))).catch((e: unknown) => log(`bot: closing the core: ${String(e)}`));
      await within(queue.close(), 1000, undefined).catch(() => {});
      redis.disconnect();
    })();
    return stopping;
  };

  try {
    for (const adapter of adapters) {
      core.attach(adapter);
      await adapter.start((cmd) => core.handle(cmd));
      started.push(adapter);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { core, oncall: core.oncall!, adapters, stop };
}
