/**
 * The Telegram transport (telegraf): long polling or a webhook in, Bot API
 * calls out. Transport only — it turns updates into {@link IncomingCommand}s
 * (see `incoming.ts`), renders {@link ChatMessage}s as HTML with an inline
 * keyboard (see `render.ts`) and maps Telegram's errors to ours. Who may do
 * what, run cards and retries are the core's business.
 *
 * Webhook mode serves `POST <path of webhook.url>` on `webhook.port` and only
 * accepts requests whose `X-Telegram-Bot-Api-Secret-Token` header equals the
 * configured secret (anything else gets 403 and is not handled).
 *
 * Button clicks are answered (`answerCallbackQuery`) shortly after the core
 * has handled the command (`clickAnswerGraceMs`, so a refusal it sends on its
 * way out still makes it), at the latest `clickAnswerWindowMs` after the
 * click. A private reply to a click still unanswered is shown as an alert only
 * the clicking user sees; later ones become a reply in the chat.
 *
 * Deliberately left out: access control (chat and user ids pass through),
 * deleting the webhook on stop (Telegram keeps queueing updates for the next
 * start), inline mode, and Markdown parse modes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Input, Telegraf, TelegramError } from 'telegraf';
import type { BotCommand, Update } from 'telegraf/types';
import { TriageError } from '../../errors.ts';
import type { ChatAdapter, ChatFile, ChatMessage, MessageRef } from '../adapter.ts';
import { createDispatch } from '../dispatch.ts';
import { type PlatformErrors, platformCall, platformError } from '../platform-call.ts';
import { commandFromUpdate, parseThread, type TelegramThread, topicThread } from './incoming.ts';
import { TELEGRAM_COMMAND_MENU } from './menu.ts';
import { renderCaption, renderTelegram, TELEGRAM_MAX_TEXT } from './render.ts';

/** Webhook settings with the secret already resolved. */
export interface TelegramWebhookOptions {
  /** Public URL Telegram posts to (`setWebhook`); its path is the path served. */
  url: string;
  /** Local port of the webhook server. `0` picks a free one (tests). */
  port: number;
  /** Resolved secret; requests without it in `X-Telegram-Bot-Api-Secret-Token` get 403. */
  secretToken: string;
  /** Interface to listen on. Default: all interfaces. */
  host?: string;
}

/** Options for {@link createTelegramAdapter}. */
export interface TelegramAdapterOptions {
  /** Bot token, resolved (not `env:NAME`). */
  token: string;
  /** Bot API root. Default `https://api.telegram.org`. */
  apiRoot?: string;
  /** `polling` (default) or a webhook. */
  mode?: 'polling' | { webhook: TelegramWebhookOptions };
  /** The `/` menu registered with `setMyCommands` at start. Default {@link TELEGRAM_COMMAND_MENU}. */
  commands?: readonly BotCommand[];
  /** Longest wait before a click's spinner is stopped while the core works. Default 3000 ms. */
  clickAnswerWindowMs?: number;
  /** How long a click stays open for a private reply after the core has handled it. Default 1000 ms. */
  clickAnswerGraceMs?: number;
  /** Where transport problems are logged. Default `console`. */
  logger?: Pick<Console, 'warn' | 'error'>;
}

/** A Telegram {@link ChatAdapter}, plus what operators and tests want to see. */
export interface TelegramAdapter extends ChatAdapter {
  readonly platform: 'telegram';
  /** Webhook mode, once started: the local address the webhook server listens on. */
  readonly webhookAddress?: AddressInfo;
  /** The bot's @username, once started. */
  readonly username?: string;
}

const ALLOWED_UPDATES = ['message', 'callback_query'] as const;
/** How many message→topic and delivery→message facts to remember (for threads and replies). */
const MEMORY = 5000;

function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MEMORY) map.delete(map.keys().next().value as K);
}

/** `tg:-1001234` → `-1001234`. */
function chatIdOf(room: string): number {
  const m = /^tg:(-?\d+)$/.exec(room);
  if (!m) {
    throw new TriageError('CHAT_DELIVERY', `${JSON.stringify(room)} is not a Telegram chat`, {
      fix: 'post to tg:<numeric chat id>, e.g. tg:-1001234567890',
    });
  }
  return Number(m[1]);
}

/** How Telegram reports failures: 429 with `retry_after`, or an error code with a description. */
const TELEGRAM_ERRORS: PlatformErrors = {
  name: 'Telegram',
  retryAfterSeconds: (err) => (err instanceof TelegramError && err.code === 429 ? (err.parameters?.retry_after ?? 1) : undefined),
  refusal(err) {
    if (!(err instanceof TelegramError)) return undefined;
    const fix =
      err.code === 401
        ? 'check the bot token (chat.telegram.token): ask @BotFather for the current one'
        : err.code === 403
          ? 'add the bot to the chat (or unblock it) and give it permission to post'
          : /chat not found/i.test(err.description)
            ? 'check the chat id: add the bot to the chat and use the numeric id, e.g. -1001234567890'
            : 'see the Telegram Bot API description above';
    return { reason: `${err.code} ${err.description}`, fix };
  },
  unreachableFix: 'check that the Telegram Bot API (chat.telegram.apiRoot) is reachable from this machine',
};

/** Maps a telegraf failure to a RateLimitedError (429) or a CHAT_DELIVERY TriageError. */
export const telegramError = (err: unknown, method: string): Error => platformError(TELEGRAM_ERRORS, err, method);

const call = platformCall(TELEGRAM_ERRORS);

const isNotModified = (err: unknown): boolean =>
  err instanceof TelegramError && err.code === 400 && /message is not modified/i.test(err.description);

/** Text of a message as one short line, for click alerts (Telegram: ≤ 200 characters). */
function alertText(msg: ChatMessage): string {
  const text = [msg.title, ...msg.lines].filter(Boolean).join('\n') || msg.summary || '';
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

interface PendingClick {
  queryId: string;
  answered: boolean;
  timer: NodeJS.Timeout;
}

/**
 * Creates the Telegram adapter. Nothing talks to Telegram until `start`.
 *
 *   const tg = createTelegramAdapter({ token, apiRoot, mode: 'polling' });
 *   await tg.start((cmd) => core.handle(cmd));
 */
export function createTelegramAdapter(o: TelegramAdapterOptions): TelegramAdapter {
  const logger = o.logger ?? console;
  const mode = o.mode ?? 'polling';
  const answerWindowMs = o.clickAnswerWindowMs ?? 3000;
  const answerGraceMs = o.clickAnswerGraceMs ?? 1000;
  // webhookReply: false — a method answered in the webhook response body returns no message, and post() needs its id.
  const bot = new Telegraf(o.token, { telegram: { apiRoot: o.apiRoot ?? 'https://api.telegram.org', webhookReply: false } });
  const api = bot.telegram;

  /** `chat:message` → forum topic, for messages posted into topics (replies to them must stay there). */
  const topicOf = new Map<string, number>();
  /** `chat:message` → the thread root it replies to (directly or down a reply chain), so a reply anywhere in a thread names the thread. */
  const rootOf = new Map<string, number>();
  /** delivery id → the user's command message, so a reply can quote it. */
  const commandMessage = new Map<string, number>();
  const clicks = new Map<string, PendingClick>();
  let launched: Promise<void> | undefined;
  let server: http.Server | undefined;
  let webhookAddress: AddressInfo | undefined;
  let running = false;

  const answerClick = (deliveryId: string, text?: string): boolean => {
    const click = clicks.get(deliveryId);
    if (!click || click.answered) return false;
    click.answered = true;
    clearTimeout(click.timer);
    clicks.delete(deliveryId);
    api
      .answerCbQuery(click.queryId, text || undefined, text ? { show_alert: true } : undefined)
      .catch((err: unknown) => logger.warn(`triage: telegram: could not answer a button click: ${telegramError(err, 'answerCallbackQuery').message}`));
    return true;
  };

  const commands = createDispatch({
    platform: 'telegram',
    logger,
    afterEach(cmd) {
      const click = clicks.get(cmd.deliveryId);
      if (!click) return;
      // The core's private replies go out through its outbox just after it returns: give them a moment.
      clearTimeout(click.timer);
      click.timer = setTimeout(() => answerClick(cmd.deliveryId), answerGraceMs);
    },
  });

  bot.use(async (ctx) => {
    const incoming = commandFromUpdate(ctx.update as Update, bot.botInfo?.username);
    if (!incoming) return;
    const { cmd, callbackQueryId, messageId, replyToMessageId } = incoming;
    if (callbackQueryId && !cmd) {
      await api.answerCbQuery(callbackQueryId).catch(() => {});
      return;
    }
    if (!cmd) return;
    if (messageId !== undefined) remember(commandMessage, cmd.deliveryId, messageId);
    if (replyToMessageId !== undefined && !cmd.thread) {
      const chat = cmd.room.slice(3);
      cmd.thread = String(rootOf.get(`${chat}:${replyToMessageId}`) ?? replyToMessageId);
    }
    if (callbackQueryId) {
      if (clicks.has(cmd.deliveryId)) {
        // A redelivered click: the first delivery answers; this one only stops its own spinner.
        await api.answerCbQuery(callbackQueryId).catch(() => {});
      } else {
        clicks.set(cmd.deliveryId, {
          queryId: callbackQueryId,
          answered: false,
          timer: setTimeout(() => answerClick(cmd.deliveryId), answerWindowMs),
        });
      }
    }
    // Handed over without waiting, so one slow command never holds up the poll loop or the webhook response.
    void commands.dispatch(cmd);
  });
  bot.catch((err) => logger.error('triage: telegram: update failed:', err));

  /**
   * telegraf's stop() throws until launch() has got as far as polling (it first deletes any
   * webhook), so a stop right after start keeps asking until polling has begun, or launch gave up.
   */
  const stopPolling = async (launch: Promise<void>) => {
    let settled = false;
    const done = launch.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    while (!settled) {
      try {
        bot.stop('triage stop');
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await done;
  };

  const threadExtra = (chatId: number, thread: TelegramThread) => {
    const topic = thread.topicId ?? (thread.replyTo !== undefined ? topicOf.get(`${chatId}:${thread.replyTo}`) : undefined);
    return {
      topic,
      extra: {
        ...(topic !== undefined ? { message_thread_id: topic } : {}),
        ...(thread.replyTo !== undefined ? { reply_parameters: { message_id: thread.replyTo, allow_sending_without_reply: true } } : {}),
      },
    };
  };

  const send = async (room: string, msg: ChatMessage, thread: TelegramThread, threadLabel?: string): Promise<MessageRef> => {
    const chatId = chatIdOf(room);
    const r = renderTelegram(msg);
    warnDropped(r.droppedButtons.map((b) => b.command));
    const { topic, extra } = threadExtra(chatId, thread);
    const sent = await call('sendMessage', () =>
      api.sendMessage(chatId, r.html, {
        parse_mode: 'HTML',
        link_preview_options: { is_disabled: true },
        ...(r.replyMarkup ? { reply_markup: r.replyMarkup } : {}),
        ...extra,
      }),
    );
    if (topic !== undefined) remember(topicOf, `${chatId}:${sent.message_id}`, topic);
    if (thread.replyTo !== undefined) remember(rootOf, `${chatId}:${sent.message_id}`, rootOf.get(`${chatId}:${thread.replyTo}`) ?? thread.replyTo);
    const label = threadLabel ?? (topic !== undefined ? topicThread(topic) : undefined);
    return { room, id: String(sent.message_id), ...(label ? { thread: label } : {}) };
  };

  const warnDropped = (commands: string[]) => {
    for (const c of commands) logger.warn(`triage: telegram: button ${JSON.stringify(c)} left out: longer than 64 bytes`);
  };

  const adapter: TelegramAdapter = {
    platform: 'telegram',
    maxTextLength: TELEGRAM_MAX_TEXT,
    get webhookAddress() {
      return webhookAddress;
    },
    get username() {
      return bot.botInfo?.username;
    },

    async start(handler) {
      if (running) throw new TriageError('INTERNAL', 'the Telegram adapter is already started', { fix: 'call stop() before starting it again' });
      commands.open(handler);
      bot.botInfo = await call('getMe', () => api.getMe());
      try {
        await api.setMyCommands([...(o.commands ?? TELEGRAM_COMMAND_MENU)]);
      } catch (err) {
        // The menu is a convenience; commands work without it.
        logger.warn(`triage: telegram: could not register the command menu: ${telegramError(err, 'setMyCommands').message}`);
      }
      running = true;
      if (mode === 'polling') {
        launched = bot.launch({ allowedUpdates: [...ALLOWED_UPDATES] });
        launched.catch((err: unknown) => {
          if (running) logger.error(`triage: telegram: long polling stopped: ${telegramError(err, 'getUpdates').message}`);
        });
        return;
      }
      const { url, port, secretToken, host } = mode.webhook;
      const path = new URL(url).pathname || '/';
      const callback = bot.webhookCallback(path, { secretToken });
      server = http.createServer((req, res) => {
        callback(req, res).catch((err: unknown) => {
          logger.error('triage: telegram: webhook request failed:', err);
          if (!res.headersSent) res.writeHead(500).end();
        });
      });
      const s = server;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      webhookAddress = s.address() as AddressInfo;
      await call('setWebhook', () => api.setWebhook(url, { secret_token: secretToken, allowed_updates: [...ALLOWED_UPDATES] }));
    },

    async stop() {
      if (!running) return;
      running = false;
      if (launched) {
        await stopPolling(launched);
        launched = undefined;
      }
      if (server) {
        const s = server;
        server = undefined;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
      }
      await commands.close();
      for (const id of [...clicks.keys()]) answerClick(id);
    },

    post(room, msg, opts) {
      return send(room, msg, parseThread(opts?.thread), opts?.thread);
    },

    async edit(ref, msg) {
      const chatId = chatIdOf(ref.room);
      const r = renderTelegram(msg);
      warnDropped(r.droppedButtons.map((b) => b.command));
      try {
        await api.editMessageText(chatId, Number(ref.id), undefined, r.html, {
          parse_mode: 'HTML',
          link_preview_options: { is_disabled: true },
          ...(r.replyMarkup ? { reply_markup: r.replyMarkup } : {}),
        });
      } catch (err) {
        if (isNotModified(err)) return;
        throw telegramError(err, 'editMessageText');
      }
    },

    async upload(room: string, file: ChatFile, opts?: { thread?: string }) {
      const chatId = chatIdOf(room);
      const { extra } = threadExtra(chatId, parseThread(opts?.thread));
      // telegraf 4.16 sends files as multipart and silently drops object fields it does not know
      // (reply_parameters among them), so the reply target goes as the JSON string the Bot API accepts.
      const multipartExtra = extra.reply_parameters
        ? { ...extra, reply_parameters: JSON.stringify(extra.reply_parameters) as unknown as typeof extra.reply_parameters }
        : extra;
      const caption = renderCaption(file.title);
      // Telegram rejects empty files; an empty log is still worth a (one-space) file.
      const content = Buffer.from(file.content === '' ? ' ' : file.content, 'utf8');
      await call('sendDocument', () =>
        api.sendDocument(chatId, Input.fromBuffer(content, file.filename), {
          ...(caption ? { caption, parse_mode: 'HTML' as const } : {}),
          ...multipartExtra,
        }),
      );
    },

    async replyPrivately(cmd, msg) {
      // A click still waiting for its answer: an alert only the clicking user sees.
      if (cmd.via === 'button' && answerClick(cmd.deliveryId, alertText(msg) || '…')) return;
      const replyTo = commandMessage.get(cmd.deliveryId);
      const thread = parseThread(cmd.thread);
      await send(cmd.room, msg, { ...thread, ...(replyTo !== undefined ? { replyTo } : {}) }, cmd.thread);
    },
  };
  return adapter;
}
