/**
 * The Slack transport (@slack/bolt): slash commands, button clicks and
 * `@Triage …` mentions (the `app_mention` event, a thread's command) in, Web
 * API calls out. Transport only — it acks, turns payloads into
 * {@link IncomingCommand}s (see `incoming.ts`), renders {@link ChatMessage}s
 * as Block Kit (see `render.ts`) and maps Slack's errors to ours.
 *
 * Receivers: an HTTP receiver on `port` (`POST /slack/events`; Bolt checks the
 * `X-Slack-Signature` v0 HMAC and refuses timestamps older than five minutes
 * with 401), or Socket Mode when an app-level token is given.
 *
 * Every request is acked first — Slack wants an answer within 3 s — and only
 * then handed to the core. Rate limits are not waited out here: the Web API
 * client rejects a 429 at once (`rejectRateLimitedCalls`) and the adapter
 * turns it into a {@link RateLimitedError}, so the core's outbox decides when
 * to try again.
 *
 * Deliberately left out: access control (ids pass through), OAuth installs
 * (one workspace, one bot token), events other than `app_mention` (no
 * message history is read), and dropping Slack's retries (the core dedupes on the delivery id).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, type Logger, LogLevel, webApi } from '@slack/bolt';
import { TriageError } from '../../errors.ts';
import type { ChatAdapter, ChatFile } from '../adapter.ts';
import { createDispatch } from '../dispatch.ts';
import { type PlatformErrors, platformCall, platformError } from '../platform-call.ts';
import { type BlockActionsPayload, commandFromClick, commandFromMention, commandFromSlash, type MentionEvent, type SlashCommandPayload } from './incoming.ts';
import { renderSlack, SLACK_MAX_SECTION } from './render.ts';

/** Options for {@link createSlackAdapter}. Tokens are resolved values, not `env:NAME`. */
export interface SlackAdapterOptions {
  /** Bot token (`xoxb-…`). */
  botToken: string;
  /** Signing secret, checked on every HTTP request. */
  signingSecret: string;
  /** App-level token (`xapp-…`): present = Socket Mode, absent = HTTP receiver. */
  appToken?: string;
  /** HTTP receiver port. Default 3000; `0` picks a free one (tests). */
  port?: number;
  /** HTTP receiver interface. Default: all interfaces. */
  host?: string;
  /** Web API base URL. Default `https://slack.com/api/`. */
  apiUrl?: string;
  /** Where transport problems (and Bolt's own warnings and errors) are logged. Default `console`. */
  logger?: Pick<Console, 'warn' | 'error'>;
}

/** A Slack {@link ChatAdapter}, plus what operators and tests want to see. */
export interface SlackAdapter extends ChatAdapter {
  readonly platform: 'slack';
  /** `http` or `socket`. */
  readonly receiver: 'http' | 'socket';
  /** HTTP receiver, once started: the local address it listens on. */
  readonly address?: AddressInfo;
}

const slackId = (prefixed: string, what: 'channel' | 'user'): string => {
  const m = /^slack:([A-Za-z0-9_-]+)$/.exec(prefixed);
  if (!m) {
    throw new TriageError('CHAT_DELIVERY', `${JSON.stringify(prefixed)} is not a Slack ${what}`, {
      fix: what === 'channel' ? 'post to slack:<channel id>, e.g. slack:C0123ABC' : 'use slack:<user id>, e.g. slack:U0123ABC',
    });
  }
  return m[1];
};

const FIXES: Record<string, string> = {
  not_in_channel: 'invite the bot to the channel (/invite @Triage)',
  channel_not_found: 'check the channel id (chat.slack.allowedChannels, schedules post:) and invite the bot',
  is_archived: 'unarchive the channel or post somewhere else',
  invalid_auth: 'check chat.slack.botToken: it must be the xoxb- token of this workspace',
  not_authed: 'check chat.slack.botToken: it must be the xoxb- token of this workspace',
  token_revoked: 'reinstall the app and update chat.slack.botToken',
  missing_scope: 'add the missing OAuth scope (chat:write, files:write, commands, app_mentions:read) and reinstall the app',
  invalid_blocks: 'a message broke a Block Kit limit; please report it with the run id',
};

/** How Slack's Web API client reports failures: a rate-limited error with `retryAfter`, or a platform error naming Slack's `error`. */
const SLACK_ERRORS: PlatformErrors = {
  name: 'Slack',
  retryAfterSeconds(err) {
    const e = err as { code?: string; retryAfter?: number } | undefined;
    return e?.code === webApi.ErrorCode.RateLimitedError ? (e.retryAfter ?? 1) : undefined;
  },
  refusal(err) {
    const e = err as { code?: string; data?: { error?: string; response_metadata?: { messages?: string[] } } } | undefined;
    if (e?.code !== webApi.ErrorCode.PlatformError) return undefined;
    const error = e.data?.error ?? 'unknown_error';
    const detail = e.data?.response_metadata?.messages?.join('; ');
    return { reason: `${error}${detail ? ` (${detail})` : ''}`, fix: FIXES[error] ?? 'see the Slack API error above' };
  },
  unreachableFix: 'check that the Slack API (chat.slack.apiUrl) is reachable from this machine',
};

/** Maps a Web API failure to a RateLimitedError (429) or a CHAT_DELIVERY TriageError. */
export const slackError = (err: unknown, method: string): Error => platformError(SLACK_ERRORS, err, method);

const call = platformCall(SLACK_ERRORS);

/** Bolt's logger interface over ours: warnings and errors only. */
function boltLogger(logger: Pick<Console, 'warn' | 'error'>): Logger {
  return {
    debug() {},
    info() {},
    warn: (...msg: unknown[]) => logger.warn('triage: slack (bolt):', ...msg),
    error: (...msg: unknown[]) => logger.error('triage: slack (bolt):', ...msg),
    setLevel() {},
    getLevel: () => LogLevel.WARN,
    setName() {},
  };
}

/**
 * Creates the Slack adapter. Nothing talks to Slack until `start`.
 *
 *   const slack = createSlackAdapter({ botToken, signingSecret, port: 3000 });
 *   await slack.start((cmd) => core.handle(cmd));
 */
export function createSlackAdapter(o: SlackAdapterOptions): SlackAdapter {
  const logger = o.logger ?? console;
  const apiUrl = o.apiUrl ?? 'https://slack.com/api/';
  const socket = o.appToken !== undefined;
  // The outbox owns retries: no waiting out 429s and no 30-minute backoff inside web-api.
  const clientOptions = { slackApiUrl: apiUrl, rejectRateLimitedCalls: true, retryConfig: { retries: 0 } };
  const app = new App({
    token: o.botToken,
    signingSecret: o.signingSecret,
    clientOptions,
    logger: boltLogger(logger),
    deferInitialization: true,
    ...(socket ? { socketMode: true, appToken: o.appToken, installerOptions: { clientOptions } } : {}),
  });
  const client = app.client;
  const commands = createDispatch({ platform: 'slack', logger });
  let running = false;
  let address: AddressInfo | undefined;

  app.command(/^\/.+/, async ({ command, ack }) => {
    await ack();
    await commands.dispatch(commandFromSlash(command as SlashCommandPayload));
  });
  app.action(/.*/, async ({ ack, body }) => {
    await ack();
    const cmd = commandFromClick(body as unknown as BlockActionsPayload);
    if (cmd) await commands.dispatch(cmd);
  });
  // Slack has no slash commands in threads: `@Triage note …` written in a thread is the thread's command.
  app.event('app_mention', async ({ event, body }) => {
    const cmd = commandFromMention(event as unknown as MentionEvent, String((body as { event_id?: string }).event_id ?? (event as { event_ts?: string }).event_ts ?? ''));
    if (cmd) await commands.dispatch(cmd);
  });
  app.error(async (err) => {
    logger.error('triage: slack: request failed:', err);
  });

  const adapter: SlackAdapter = {
    platform: 'slack',
    receiver: socket ? 'socket' : 'http',
    maxTextLength: SLACK_MAX_SECTION,
    get address() {
      return address;
    },

    async start(handler) {
      if (running) throw new TriageError('INTERNAL', 'the Slack adapter is already started', { fix: 'call stop() before starting it again' });
      commands.open(handler);
      // auth.test: a wrong token fails here, with a fix, instead of on the first command.
      await call('auth.test', () => app.init());
      if (socket) {
        await call('apps.connections.open', () => app.start());
      } else {
        const server = (await app.start({ port: o.port ?? 3000, ...(o.host ? { host: o.host } : {}) })) as Server;
        address = server.address() as AddressInfo;
      }
      running = true;
    },

    async stop() {
      if (!running) return;
      running = false;
      await app.stop().catch((err: unknown) => logger.warn(`triage: slack: stop: ${String(err)}`));
      await commands.close();
      address = undefined;
    },

    async post(room, msg, opts) {
      const channel = slackId(room, 'channel');
      const r = renderSlack(msg);
      const res = await call('chat.postMessage', () =>
        client.chat.postMessage({
          channel,
          text: r.text,
          blocks: r.blocks,
          unfurl_links: false,
          unfurl_media: false,
          ...(opts?.thread ? { thread_ts: opts.thread } : {}),
        }),
      );
      return { room, id: String(res.ts), ...(opts?.thread ? { thread: opts.thread } : {}) };
    },

    async edit(ref, msg) {
      const r = renderSlack(msg);
      await call('chat.update', () => client.chat.update({ channel: slackId(ref.room, 'channel'), ts: ref.id, text: r.text, blocks: r.blocks }));
    },

    async upload(room: string, file: ChatFile, opts?: { thread?: string }) {
      const channel = slackId(room, 'channel');
      // Slack refuses empty files; an empty log is still worth a (one-space) file.
      const content = file.content === '' ? ' ' : file.content;
      const title = file.title ?? file.filename;
      await call('files.uploadV2', () =>
        opts?.thread
          ? client.files.uploadV2({ channel_id: channel, thread_ts: opts.thread, content, filename: file.filename, title })
          : client.files.uploadV2({ channel_id: channel, content, filename: file.filename, title }),
      );
    },

    async replyPrivately(cmd, msg) {
      const r = renderSlack(msg);
      await call('chat.postEphemeral', () =>
        client.chat.postEphemeral({
          channel: slackId(cmd.room, 'channel'),
          user: slackId(cmd.user, 'user'),
          text: r.text,
          blocks: r.blocks,
          ...(cmd.thread ? { thread_ts: cmd.thread } : {}),
        }),
      );
    },
  };
  return adapter;
}

