/**
 * The Telegram adapter on its own: real telegraf against FakeTelegram on
 * loopback. What a Telegram user and the core see; the shared behaviour
 * (runs, cards, approvals) is in conformance.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type IncomingCommand, RateLimitedError } from '../../src/bot/adapter.ts';
import { TELEGRAM_COMMAND_MENU } from '../../src/bot/telegram/menu.ts';
import { TELEGRAM_TRUNCATION_NOTE } from '../../src/bot/telegram/render.ts';
import { createTelegramAdapter, type TelegramAdapter, type TelegramAdapterOptions } from '../../src/bot/telegram/telegram-adapter.ts';
import { TriageError } from '../../src/errors.ts';
import { FakeTelegram, makeMessageUpdate, postUpdateToWebhook } from '../support/fake-telegram.ts';
import { rejection } from '../support/wait.ts';
import { freePort } from '../support/processes.ts';

const GROUP = -1001234567890;
const ALICE = 4242;
const quiet = { warn() {}, error() {} };

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A fake Telegram, the real adapter on it, and every command the adapter handed over. */
async function telegramWith(over: Partial<TelegramAdapterOptions> = {}, handle?: (cmd: IncomingCommand) => Promise<void>) {
  const tg = await FakeTelegram.start();
  cleanups.push(() => tg.close());
  const adapter = createTelegramAdapter({ token: tg.token, apiRoot: tg.apiRoot, logger: quiet, ...over });
  const received: IncomingCommand[] = [];
  await adapter.start(async (cmd) => {
    received.push(cmd);
    await handle?.(cmd);
  });
  cleanups.push(() => adapter.stop());
  return { tg, adapter, received };
}



describe('Telegram adapter', () => {
  it('hands a typed /diagnose to the core as one command from tg:<user> in tg:<chat>', async () => {
    const { tg, received } = await telegramWith();
    const updateId = tg.sendText({ chatId: GROUP, userId: ALICE, username: 'alice', text: '/diagnose@triage_test_bot 502 shop' });
    tg.sendText({ chatId: GROUP, userId: ALICE, text: 'just chatting, not a command' });
    tg.sendText({ chatId: GROUP, userId: ALICE, text: '/diagnose@some_other_bot 502 shop' });
    await tg.waitFor(() => received.length === 1 && tg.pendingUpdates().length === 0);
    expect(received).toEqual([
      {
        platform: 'telegram',
        user: `tg:${ALICE}`,
        userName: '@alice',
        room: `tg:${GROUP}`,
        text: '/diagnose 502 shop',
        via: 'text',
        deliveryId: String(updateId),
      },
    ]);
  });

  it('registers the SPEC command list as the / menu when it starts', async () => {
    const { tg } = await telegramWith();
    expect(tg.commands.get('default|')).toEqual(TELEGRAM_COMMAND_MENU);
    expect(TELEGRAM_COMMAND_MENU.map((c) => c.command)).toEqual([
      'diagnose', 'runbooks', 'targets', 'status', 'cancel', 'approve', 'help', 'ack', 'resolve', 'note', 'incidents', 'oncall', 'handoff', 'digest', 'schedules',
    ]);
    // the menu comes from the parser's own table: usage shown is what the parser accepts
    expect(TELEGRAM_COMMAND_MENU.find((c) => c.command === 'approve')?.description).toContain('/approve <run> <host>:<step>');
  });

  it('renders a card as HTML with every field escaped, and a button that sends its command', async () => {
    const { tg, adapter, received } = await telegramWith({ clickAnswerGraceMs: 10 });
    const ref = await adapter.post(`tg:${GROUP}`, {
      title: '<b>502</b> & shop',
      lines: ['cause: service-down', 'nginx said <upstream> & gave up'],
      code: 'curl: (7) <html> & </pre>',
      buttons: [{ label: 'Cancel', command: '/cancel r_abc123', style: 'danger' }],
    });
    const [card] = tg.messages(GROUP);
    expect(card.parse_mode).toBe('HTML');
    expect(card.plain_text).toBe('<b>502</b> & shop\ncause: service-down\nnginx said <upstream> & gave up\ncurl: (7) <html> & </pre>');
    expect(card.entities?.map((e) => e.type)).toEqual(['bold', 'pre']);
    expect(card.reply_markup).toEqual({ inline_keyboard: [[{ text: 'Cancel', callback_data: '/cancel r_abc123' }]] });

    const click = tg.clickButton({ chatId: GROUP, userId: ALICE, messageId: Number(ref.id), data: '/cancel r_abc123' });
    await tg.waitFor(() => received.length === 1 && tg.callbackAnswers.length === 1);
    expect(received[0]).toMatchObject({
      user: `tg:${ALICE}`,
      room: `tg:${GROUP}`,
      text: '/cancel r_abc123',
      via: 'button',
      deliveryId: String(click),
      message: { room: `tg:${GROUP}`, id: ref.id },
    });
  });

  it('cuts a message longer than 4096 characters and says so', async () => {
    const { tg, adapter } = await telegramWith();
    await adapter.post(`tg:${GROUP}`, { title: 'step output', lines: ['tail of the log:'], code: '<x> & '.repeat(2000) });
    const [msg] = tg.messages(GROUP);
    expect(msg.plain_text!.length).toBeLessThanOrEqual(4096);
    expect(msg.plain_text).toContain(TELEGRAM_TRUNCATION_NOTE);
    expect(msg.plain_text!.startsWith('step output\ntail of the log:')).toBe(true);
    expect(adapter.maxTextLength).toBe(4096);
  });

  it('edits a card in place; an edit with the same content is not an error; a card without buttons loses its keyboard', async () => {
    const { tg, adapter } = await telegramWith();
    const card = { title: '502 shop', lines: ['running…'], buttons: [{ label: 'Cancel', command: '/cancel r_abc123' }] };
    const ref = await adapter.post(`tg:${GROUP}`, card);
    await adapter.edit(ref, card);
    await adapter.edit(ref, { title: '502 shop', lines: ['service-down'] });
    const [msg] = tg.messages(GROUP);
    expect(msg.edits).toHaveLength(2);
    expect(msg.plain_text).toBe('502 shop\nservice-down');
    expect(msg.reply_markup).toBeUndefined();
  });

  it('posts thread messages and files as replies to the card, inside the forum topic the command came from', async () => {
    const { tg, adapter, received } = await telegramWith();
    tg.sendText({ chatId: GROUP, userId: ALICE, text: '/diagnose 502 shop', threadId: 77 });
    await tg.waitFor(() => received.length === 1);
    expect(received[0].thread).toBe('topic:77');
    const card = await adapter.post(received[0].room, { title: 'card', lines: [] }, { thread: received[0].thread });
    await adapter.post(card.room, { title: 'step port', lines: ['pass'] }, { thread: card.id });
    await adapter.upload(card.room, { filename: 'port.txt', content: 'x\n'.repeat(10), title: 'port output' }, { thread: card.id });
    const [posted, step, file] = tg.messages(GROUP);
    expect(posted.message_thread_id).toBe(77);
    expect(step).toMatchObject({ message_thread_id: 77, reply_to_message_id: posted.message_id });
    expect(file).toMatchObject({ message_thread_id: 77, reply_to_message_id: posted.message_id, text: 'port output' });
    expect(file.document).toEqual({ file_name: 'port.txt', content: 'x\n'.repeat(10) });
  });

  it('turns a 429 into a RateLimitedError carrying retry_after in ms, and other refusals into CHAT_DELIVERY', async () => {
    const { tg, adapter } = await telegramWith();
    tg.failNext('sendMessage', { status: 429, retryAfter: 7 });
    const limited = await rejection(adapter.post(`tg:${GROUP}`, { lines: ['hi'] }));
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(7000);
    tg.failNext('editMessageText', { status: 400, description: 'Bad Request: chat not found' });
    const refused = await rejection(adapter.edit({ room: `tg:${GROUP}`, id: '1' }, { lines: ['x'] }));
    expect(refused).toBeInstanceOf(TriageError);
    expect((refused as TriageError).code).toBe('CHAT_DELIVERY');
    expect((refused as TriageError).message).not.toContain(tg.token);
  });

  it('answers a refused click with an alert only the clicking user sees', async () => {
    let adapterRef: TelegramAdapter | undefined;
    const { tg, adapter } = await telegramWith({}, async (cmd) => {
      if (cmd.via === 'button') await adapterRef!.replyPrivately!(cmd, { lines: ['Only operators may approve steps that change a host.'] });
    });
    adapterRef = adapter;
    const ref = await adapter.post(`tg:${GROUP}`, { lines: ['approve?'], buttons: [{ label: 'Approve', command: '/approve r_abc123 restart' }] });
    tg.clickButton({ chatId: GROUP, userId: ALICE, messageId: Number(ref.id), data: '/approve r_abc123 restart' });
    const answer = await tg.waitFor(() => tg.callbackAnswers[0]);
    expect(answer).toMatchObject({ text: 'Only operators may approve steps that change a host.', show_alert: true });
    expect(tg.messages(GROUP)).toHaveLength(1);
  });

  it('webhook mode: only requests carrying the secret token are handled', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/telegram`;
    const { tg, received } = await telegramWith({ mode: { webhook: { url, port, secretToken: 'hook_S3cret', host: '127.0.0.1' } } });
    expect(tg.webhook).toEqual({ url, secret_token: 'hook_S3cret', allowed_updates: ['message', 'callback_query'] });

    const forged = makeMessageUpdate({ updateId: 1, chatId: GROUP, userId: 666, text: '/diagnose 502 shop' });
    expect(await postUpdateToWebhook(url, forged, 'wrong')).toBe(403);
    expect(await postUpdateToWebhook(url, forged)).toBe(403);
    expect(await postUpdateToWebhook(`http://127.0.0.1:${port}/elsewhere`, forged, 'hook_S3cret')).toBe(403);

    const id = tg.sendText({ chatId: GROUP, userId: ALICE, text: '/runbooks' });
    expect((await tg.deliverToWebhook(id)).status).toBe(200);
    await tg.waitFor(() => received.length === 1);
    expect(received.map((c) => [c.user, c.text])).toEqual([[`tg:${ALICE}`, '/runbooks']]);
  });
});
