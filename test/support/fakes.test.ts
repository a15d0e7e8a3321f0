/**
 * Proves the loopback fakes against the REAL libraries: telegraf 4.16 (polling + webhook) against
 * FakeTelegram, @slack/bolt 5 (HTTPReceiver) and @slack/web-api against FakeSlack.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel, webApi } from '@slack/bolt';
import { Input, Markup, Telegraf, TelegramError } from 'telegraf';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeSlack } from './fake-slack.ts';
import { FakeTelegram, makeMessageUpdate, postUpdateToWebhook } from './fake-telegram.ts';
import { rejection } from './wait.ts';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  // LIFO: bots/apps stop before the fakes close
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const CHAT = -1001234567890; // a supergroup
const USER = 4242;

async function startFakeTelegram(): Promise<FakeTelegram> {
  const tg = await FakeTelegram.start();
  cleanups.push(() => tg.close());
  return tg;
}

/** Starts telegraf long polling (launch() only resolves when stopped, so it is not awaited). */
function launch(bot: Telegraf, tg: FakeTelegram): Promise<void> {
  const launched = bot.launch();
  launched.catch(() => {});
  cleanups.push(async () => {
    try {
      bot.stop('test end');
    } catch {
      /* not running */
    }
    await launched.catch(() => {});
  });
  return tg.waitFor(() => tg.calls.some((c) => c.method === 'getUpdates')).then(() => undefined);
}

// =================================================================================================================
describe('FakeTelegram with real telegraf', () => {
  it('answers /ping over long polling, edits the reply, handles a button click and a duplicate delivery', async () => {
    const tg = await startFakeTelegram();
    const bot = new Telegraf(tg.token, { telegram: { apiRoot: tg.apiRoot } });
    const seen: number[] = [];
    bot.use(async (ctx, next) => {
      seen.push(ctx.update.update_id);
      await next();
    });
    bot.command('ping', async (ctx) => {
      const kb = Markup.inlineKeyboard([Markup.button.callback('Ack', 'ack:1')]);
      const m = await ctx.reply('pong…', kb);
      await ctx.telegram.editMessageText(ctx.chat.id, m.message_id, undefined, 'pong ✅', kb);
    });
    bot.action('ack:1', async (ctx) => {
      await ctx.answerCbQuery('acknowledged');
      await ctx.editMessageReplyMarkup(undefined);
    });
    await launch(bot, tg);

    const updateId = tg.sendText({ chatId: CHAT, userId: USER, username: 'alice', text: '/ping@triage_test_bot' });
    const reply = await tg.waitFor(() => tg.messages(CHAT).find((m) => m.edits.length === 2));
    expect(reply.edits).toEqual(['pong…', 'pong ✅']);
    expect(reply.text).toBe('pong ✅');
    expect(reply.from_bot).toBe(true);
    expect(reply.message_id).toBe(2); // message ids are per chat; the user's /ping was 1
    expect(reply.reply_markup).toEqual({ inline_keyboard: [[{ text: 'Ack', callback_data: 'ack:1', hide: false }]] });

    tg.clickButton({ chatId: CHAT, userId: USER, messageId: reply.message_id, data: 'ack:1' });
    await tg.waitFor(() => tg.callbackAnswers.length === 1 && reply.reply_markup === undefined);
    expect(tg.callbackAnswers[0].text).toBe('acknowledged');
    expect(() => tg.clickButton({ chatId: CHAT, userId: USER, messageId: reply.message_id, data: 'ack:1' })).toThrow(/no button/);

    // duplicate delivery: the same update_id reaches the bot twice
    tg.redeliver(updateId);
    await tg.waitFor(() => seen.filter((id) => id === updateId).length === 2);
    await tg.waitFor(() => tg.messages(CHAT).length === 2);

    const sends = tg.callsOf('sendMessage');
    expect(sends[0].params).toMatchObject({ chat_id: CHAT, text: 'pong…' });
    expect(sends.every((c) => c.status === 200)).toBe(true);
  });

  it('telegraf surfaces an injected 429 as TelegramError with parameters.retry_after (no retry)', async () => {
    const tg = await startFakeTelegram();
    const bot = new Telegraf(tg.token, { telegram: { apiRoot: tg.apiRoot } });

    tg.failNext('sendMessage', { status: 429, retryAfter: 7 });
    const err = await rejection(bot.telegram.sendMessage(CHAT, 'hello'));
    expect(err).toBeInstanceOf(TelegramError);
    const te = err as TelegramError;
    expect(te.code).toBe(429);
    expect(te.description).toBe('Too Many Requests: retry after 7');
    expect(te.parameters?.retry_after).toBe(7);
    expect(te.message).toBe('429: Too Many Requests: retry after 7');
    expect(te.on).toMatchObject({ method: 'sendMessage', payload: { chat_id: CHAT, text: 'hello' } });
    expect(tg.callsOf('sendMessage').map((c) => c.status)).toEqual([429]); // telegraf does not retry API calls
    await bot.telegram.sendMessage(CHAT, 'hello'); // fault consumed
    expect(tg.messages(CHAT).map((m) => m.text)).toEqual(['hello']);

    // 5xx: telegraf ignores the JSON body and reports the HTTP status text
    tg.failNext('sendMessage', { status: 500, description: 'Internal Server Error: boom' });
    const e500 = (await rejection(bot.telegram.sendMessage(CHAT, 'x'))) as TelegramError;
    expect(e500.code).toBe(500);
    expect(e500.description).toBe('Internal Server Error');

    tg.failNext('sendMessage', { status: 400, description: 'Bad Request: chat not found' });
    const e400 = (await rejection(bot.telegram.sendMessage(CHAT, 'x'))) as TelegramError;
    expect([e400.code, e400.description]).toEqual([400, 'Bad Request: chat not found']);
  });

  it('telegraf polling waits retry_after after a 429 on getUpdates, then keeps going', async () => {
    const tg = await startFakeTelegram();
    const bot = new Telegraf(tg.token, { telegram: { apiRoot: tg.apiRoot } });
    bot.command('ping', (ctx) => ctx.reply('pong'));
    tg.failNext('getUpdates', { status: 429, retryAfter: 1 });
    await launch(bot, tg);
    tg.sendText({ chatId: CHAT, userId: USER, text: '/ping' });
    await tg.waitFor(() => tg.messages(CHAT)[0]);
    const polls = tg.callsOf('getUpdates');
    expect(polls[0].status).toBe(429);
    expect(polls[1].at - polls[0].at).toBeGreaterThanOrEqual(950);
  });

  it('reproduces real Bot API errors', async () => {
    const tg = await startFakeTelegram();
    const bot = new Telegraf(tg.token, { telegram: { apiRoot: tg.apiRoot } });
    const tgApi = bot.telegram;
    const desc = async (p: Promise<unknown>) => {
      const e = (await rejection(p)) as TelegramError;
      return `${e.code} ${e.description}`;
    };

    expect(await desc(tgApi.sendMessage(CHAT, 'x'.repeat(4097)))).toBe('400 Bad Request: message is too long');
    const ok = await tgApi.sendMessage(CHAT, 'x'.repeat(4096));
    expect(ok.message_id).toBe(1);
    expect(await desc(tgApi.editMessageText(CHAT, ok.message_id, undefined, 'x'.repeat(4096)))).toMatch(/^400 Bad Request: message is not modified/);
    expect(await desc(tgApi.editMessageText(CHAT, 99, undefined, 'y'))).toBe('400 Bad Request: message to edit not found');
    // length is counted after entity parsing
    await tgApi.sendMessage(CHAT, `<b>${'y'.repeat(4096)}</b>`, { parse_mode: 'HTML' });
    expect(await desc(tgApi.sendMessage(CHAT, 'a <br> b', { parse_mode: 'HTML' }))).toBe(
      '400 Bad Request: can\'t parse entities: Unsupported start tag "br" at byte offset 2',
    );
    expect(await desc(tgApi.sendMessage(CHAT, 'HTTP 502.', { parse_mode: 'MarkdownV2' }))).toBe(
      "400 Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
    );
    expect(await desc(tgApi.sendMessage(CHAT, 'svc_a down', { parse_mode: 'Markdown' }))).toMatch(/Can't find end of the entity/);
    expect(await desc(tgApi.sendMessage(CHAT, 'x', Markup.inlineKeyboard([Markup.button.callback('b', 'd'.repeat(65))])))).toBe(
      '400 Bad Request: BUTTON_DATA_INVALID',
    );
    expect(await desc(tgApi.callApi('fooBar' as 'getMe', {}))).toBe('404 Not Found');

    const wrong = new Telegraf('999:wrong', { telegram: { apiRoot: tg.apiRoot } });
    expect(await desc(wrong.telegram.getMe())).toBe('401 Unauthorized');

    // multipart upload
    const doc = await tgApi.sendDocument(CHAT, Input.fromBuffer(Buffer.from('line1\nline2'), 'report.txt'), { caption: 'report' });
    expect(doc.document.file_name).toBe('report.txt');
    const stored = tg.messages(CHAT).at(-1)!;
    expect(stored.document).toEqual({ file_name: 'report.txt', content: 'line1\nline2' });
    expect(stored.text).toBe('report');

    // commands round trip, delete
    await tgApi.setMyCommands([{ command: 'diagnose', description: 'Diagnose a service' }]);
    expect(await tgApi.getMyCommands()).toEqual([{ command: 'diagnose', description: 'Diagnose a service' }]);
    expect(await desc(tgApi.setMyCommands([{ command: 'Bad-Cmd', description: 'x' }]))).toBe('400 Bad Request: BOT_COMMAND_INVALID');
    expect(await tgApi.deleteMessage(CHAT, doc.message_id)).toBe(true);
    expect(tg.messages(CHAT).some((m) => m.message_id === doc.message_id)).toBe(false);
    expect(await desc(tgApi.deleteMessage(CHAT, doc.message_id))).toBe('400 Bad Request: message to delete not found');
  });

  it('webhook mode: setWebhook records url + secret, updates are POSTed with the secret header', async () => {
    const tg = await startFakeTelegram();
    const bot = new Telegraf(tg.token, { telegram: { apiRoot: tg.apiRoot } });
    bot.command('ping', (ctx) => ctx.reply('pong'));
    bot.action('go', (ctx) => ctx.answerCbQuery('going')); // answered via the webhook response body (webhookReply)
    const server = http.createServer(bot.webhookCallback('/tg-hook', { secretToken: 's3cret_T0ken' }));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tg-hook`;

    await bot.telegram.setWebhook(url, { secret_token: 's3cret_T0ken' });
    expect(tg.webhook).toEqual({ url, secret_token: 's3cret_T0ken' });
    expect((await bot.telegram.getWebhookInfo()).url).toBe(url);
    const conflict = (await rejection(bot.telegram.callApi('getUpdates', {}))) as TelegramError;
    expect(conflict.code).toBe(409);

    const id = tg.sendText({ chatId: CHAT, userId: USER, text: '/ping' });
    expect((await tg.deliverToWebhook(id)).status).toBe(200);
    expect(tg.messages(CHAT).map((m) => m.text)).toEqual(['pong']);

    const update = makeMessageUpdate({ updateId: 1, chatId: CHAT, userId: USER, text: '/ping' });
    expect(await postUpdateToWebhook(url, update, 'wrong')).toBe(403);
    expect(tg.messages(CHAT)).toHaveLength(1);

    await bot.telegram.sendMessage(CHAT, 'pick', Markup.inlineKeyboard([Markup.button.callback('Go', 'go')]));
    const click = tg.clickButton({ chatId: CHAT, userId: USER, messageId: tg.messages(CHAT)[1].message_id, data: 'go' });
    await tg.deliverToWebhook(click);
    expect(tg.callbackAnswers.map((a) => a.text)).toEqual(['going']);
    expect(tg.calls.find((c) => c.method === 'answerCallbackQuery')?.viaWebhookReply).toBe(true);
    await bot.telegram.deleteWebhook();
    expect(tg.webhook).toBeUndefined();
  });

  it('close() ends a hung long poll', async () => {
    const tg = await FakeTelegram.start();
    const pending = fetch(`${tg.apiRoot}/bot${tg.token}/getUpdates?timeout=50`).then(
      (r) => r.status,
      (e: unknown) => e,
    );
    await tg.waitFor(() => tg.calls.some((c) => c.method === 'getUpdates'));
    const t0 = Date.now();
    await tg.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
  });
});

// =================================================================================================================
describe('FakeSlack with real @slack/bolt and @slack/web-api', () => {
  async function startFakeSlack(): Promise<FakeSlack> {
    const slack = await FakeSlack.start();
    cleanups.push(() => slack.close());
    return slack;
  }

  it('Bolt HTTPReceiver answers a signed slash command: ack, postMessage, update, uploadV2, respond; bad signatures get 401', async () => {
    const slack = await startFakeSlack();
    const app = new App({
      token: slack.botToken,
      signingSecret: slack.signingSecret,
      clientOptions: { slackApiUrl: slack.apiUrl },
      logLevel: LogLevel.ERROR,
    });
    const retryNums: (number | undefined)[] = [];
    app.command('/diagnose', async ({ command, ack, client, respond, context }) => {
      retryNums.push(context.retryNum);
      await ack({ response_type: 'ephemeral', text: `Diagnosing ${command.text}…` });
      const posted = await client.chat.postMessage({
        channel: command.channel_id,
        text: `Diagnosing ${command.text}`,
        blocks: [
          { type: 'section', text: { type: 'mrkdwn', text: `*Diagnosing* ${command.text}` } },
          { type: 'actions', elements: [{ type: 'button', action_id: 'ack', text: { type: 'plain_text', text: 'Ack' }, value: 'inc-1' }] },
        ],
      });
      await client.chat.update({ channel: command.channel_id, ts: posted.ts!, text: 'Diagnosis done' });
      await client.files.uploadV2({ channel_id: command.channel_id, thread_ts: posted.ts!, filename: 'report.txt', content: 'all good', title: 'Report' });
      await respond({ response_type: 'ephemeral', text: 'report uploaded' });
    });
    app.action('ack', async ({ ack, respond, body }) => {
      await ack();
      await respond({ replace_original: false, text: `acked by ${body.user.id}` });
    });
    // Bolt 5's default HTTPReceiver: start(listenOptions) → http.Server; port 0 on loopback
    const server = await app.start({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => app.stop());
    const appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const res = await slack.slashCommand(appUrl, { command: '/diagnose', text: '502 wushipay', userId: 'U123', channelId: 'C0INC' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ response_type: 'ephemeral', text: 'Diagnosing 502 wushipay…' });
    expect(res.ms).toBeLessThan(3000);

    const file = await slack.waitFor(() => slack.files[0]);
    const [msg] = slack.messages('C0INC');
    expect(msg.ts).toMatch(/^1700000000\.\d{6}$/);
    expect(msg.text).toBe('Diagnosis done');
    expect(msg.updates).toEqual([{ text: 'Diagnosis done' }]);
    expect(msg.blocks).toHaveLength(2); // chat.update without blocks keeps them
    expect(file).toMatchObject({ channel: 'C0INC', thread_ts: msg.ts, filename: 'report.txt', content: 'all good', title: 'Report' });
    await slack.waitFor(() => slack.responses.length === 1);
    expect(slack.responses[0].url).toBe(res.responseUrl);
    expect(slack.responses[0].body).toEqual({ response_type: 'ephemeral', text: 'report uploaded' });
    expect(slack.calls.map((c) => c.method)).toEqual([
      'auth.test',
      'chat.postMessage',
      'chat.update',
      'files.getUploadURLExternal',
      'upload',
      'files.completeUploadExternal',
      'response_url',
    ]);

    const click = await slack.clickButton(appUrl, { userId: 'U123', channelId: 'C0INC', messageTs: msg.ts, actionId: 'ack', value: 'inc-1' });
    expect(click.status).toBe(200);
    await slack.waitFor(() => slack.responses.find((r) => r.url === click.responseUrl));
    expect(slack.responses[1].body).toMatchObject({ text: 'acked by U123' });

    // retries carry X-Slack-Retry-Num
    await slack.slashCommand(appUrl, { command: '/diagnose', text: 'again', userId: 'U123', channelId: 'C0INC', retryNum: 1 });
    await slack.waitFor(() => retryNums.length === 2);
    expect(retryNums).toEqual([undefined, 1]);

    const bad = await slack.slashCommand(appUrl, { command: '/diagnose', text: 'x', userId: 'U1', channelId: 'C0INC', badSignature: true });
    expect(bad.status).toBe(401);
    const stale = await slack.slashCommand(appUrl, { command: '/diagnose', text: 'x', userId: 'U1', channelId: 'C0INC', timestampOffsetSec: -600 });
    expect(stale.status).toBe(401);
    expect(retryNums).toHaveLength(2);
  });

  it('WebClient waits Retry-After and retries a 429; rejectRateLimitedCalls surfaces WebAPIRateLimitedError', async () => {
    const slack = await startFakeSlack();
    const client = new webApi.WebClient(slack.botToken, {
      slackApiUrl: slack.apiUrl,
      retryConfig: { retries: 2, minTimeout: 0, maxTimeout: 10 },
      logLevel: webApi.LogLevel.ERROR,
    });
    const rateLimited: number[] = [];
    client.on(webApi.WebClientEvent.RATE_LIMITED, (sec: number) => rateLimited.push(sec));
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    const t0 = Date.now();
    const res = await client.chat.postMessage({ channel: 'C1', text: 'hi' });
    expect(res.ok).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(rateLimited).toEqual([1]);
    expect(slack.callsOf('chat.postMessage').map((c) => c.status)).toEqual([429, 200]);
    expect(slack.messages('C1')).toHaveLength(1);

    // retries exhausted → the caller sees a WebAPIRequestError wrapping "A rate limit was exceeded"
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 0 }, 3);
    const exhausted = (await rejection(client.chat.postMessage({ channel: 'C1', text: 'hi' }))) as webApi.WebAPIRequestError;
    expect(exhausted.code).toBe(webApi.ErrorCode.RequestError);
    expect(exhausted.original.message).toMatch(/^A rate limit was exceeded \(url: .*chat\.postMessage, retry-after: 0\)$/);
    expect(slack.callsOf('chat.postMessage').map((c) => c.status)).toEqual([429, 200, 429, 429, 429]);

    const strict = new webApi.WebClient(slack.botToken, { slackApiUrl: slack.apiUrl, rejectRateLimitedCalls: true, logLevel: webApi.LogLevel.ERROR });
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 30 });
    const rl = (await rejection(strict.chat.postMessage({ channel: 'C1', text: 'hi' }))) as webApi.WebAPIRateLimitedError;
    expect(rl.code).toBe(webApi.ErrorCode.RateLimitedError);
    expect(rl.retryAfter).toBe(30);

    slack.failNext('chat.postMessage', { error: 'channel_not_found' });
    const pe = (await rejection(client.chat.postMessage({ channel: 'C1', text: 'hi' }))) as webApi.WebAPIPlatformError;
    expect(pe.code).toBe(webApi.ErrorCode.PlatformError);
    expect(pe.data.error).toBe('channel_not_found');
  });

  it('enforces auth and the Block Kit / text limits', async () => {
    const slack = await startFakeSlack();
    // web-api logs response_metadata "[ERROR]" messages via logger.error; keep the test output quiet
    const quiet = { debug() {}, info() {}, warn() {}, error() {}, setLevel() {}, getLevel: () => webApi.LogLevel.ERROR, setName() {} };
    const client = new webApi.WebClient(slack.botToken, { slackApiUrl: slack.apiUrl, logger: quiet, retryConfig: { retries: 0 } });
    const errorOf = async (p: Promise<unknown>) => ((await rejection(p)) as webApi.WebAPIPlatformError).data;

    const wrong = new webApi.WebClient('xoxb-wrong', { slackApiUrl: slack.apiUrl, logLevel: webApi.LogLevel.ERROR, retryConfig: { retries: 0 } });
    expect((await errorOf(wrong.auth.test())).error).toBe('invalid_auth');

    const section = (n: number) => ({ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(n) } });
    await client.chat.postMessage({ channel: 'C1', text: 't', blocks: [section(3000)] });
    const tooLong = await errorOf(client.chat.postMessage({ channel: 'C1', text: 't', blocks: [section(3001)] }));
    expect(tooLong.error).toBe('invalid_blocks');
    expect(tooLong.response_metadata?.messages?.[0]).toBe('[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]');
    const tooMany = Array.from({ length: 51 }, () => ({ type: 'divider' }));
    expect((await errorOf(client.chat.postMessage({ channel: 'C1', text: 't', blocks: tooMany }))).error).toBe('invalid_blocks');
    expect((await errorOf(client.chat.postMessage({ channel: 'C1', text: 'x'.repeat(40001) }))).error).toBe('msg_too_long');
    expect((await errorOf(client.chat.postMessage({ channel: 'C1', text: '' }))).error).toBe('no_text');
    const { ts } = await client.chat.postMessage({ channel: 'C1', text: 'ok' });
    expect((await errorOf(client.chat.update({ channel: 'C1', ts: ts!, text: 't', blocks: [section(3001)] }))).error).toBe('invalid_blocks');
    expect((await errorOf(client.chat.update({ channel: 'C1', ts: '1.000000', text: 't' }))).error).toBe('message_not_found');

    const eph = await client.chat.postEphemeral({ channel: 'C1', user: 'U9', text: 'only you' });
    expect(slack.messages('C1').find((m) => m.ts === eph.message_ts)?.ephemeral_user).toBe('U9');
    await client.chat.postMessage({ channel: 'C1', thread_ts: ts, text: 'in thread' });
    expect(slack.messages('C1').at(-1)).toMatchObject({ thread_ts: ts, text: 'in thread' });
    await client.chat.delete({ channel: 'C1', ts: ts! });
    expect(slack.messages('C1').some((m) => m.ts === ts)).toBe(false);
    expect((await client.conversations.info({ channel: 'C1' })).channel?.id).toBe('C1');
    expect((await client.users.info({ user: 'U9' })).user?.id).toBe('U9');
    // ts strictly increasing
    const all = slack.messages('C1', { includeDeleted: true }).map((m) => m.ts);
    expect([...all].sort()).toEqual(all);
  });
});
