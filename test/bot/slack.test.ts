/**
 * The Slack adapter on its own: real Bolt (HTTP receiver) and web-api against
 * FakeSlack on loopback. What a Slack user and the core see; the shared
 * behaviour (runs, cards, approvals) is in conformance.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type IncomingCommand, RateLimitedError } from '../../src/bot/adapter.ts';
import { SLACK_MAX_BLOCKS, SLACK_TRUNCATION_NOTE } from '../../src/bot/slack/render.ts';
import { createSlackAdapter, type SlackAdapter } from '../../src/bot/slack/slack-adapter.ts';
import { TriageError } from '../../src/errors.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { rejection } from '../support/wait.ts';

const CHANNEL = 'C0INCIDENT';
const ALICE = 'U0ALICE';
const quiet = { warn() {}, error() {} };

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A fake Slack, the real adapter on it (HTTP receiver on a free loopback port), and every command it handed over. */
async function slackWith(handle?: (cmd: IncomingCommand, adapter: SlackAdapter) => Promise<void>) {
  const slack = await FakeSlack.start();
  cleanups.push(() => slack.close());
  const adapter = createSlackAdapter({
    botToken: slack.botToken,
    signingSecret: slack.signingSecret,
    apiUrl: slack.apiUrl,
    port: 0,
    host: '127.0.0.1',
    logger: quiet,
  });
  const received: IncomingCommand[] = [];
  await adapter.start(async (cmd) => {
    received.push(cmd);
    await handle?.(cmd, adapter);
  });
  cleanups.push(() => adapter.stop());
  const appUrl = `http://127.0.0.1:${adapter.address!.port}`;
  return { slack, adapter, received, appUrl };
}


const sectionTexts = (blocks: unknown[] | undefined) =>
  (blocks ?? []).flatMap((b) => ((b as { type: string }).type === 'section' ? [(b as { text: { text: string } }).text.text] : []));

describe('Slack adapter', () => {
  it('hands /diagnose to the core as one command from slack:<user> in slack:<channel>, keyed by trigger_id', async () => {
    const { slack, received, appUrl } = await slackWith();
    const res = await slack.slashCommand(appUrl, { command: '/diagnose', text: '502 shop', userId: ALICE, userName: 'alice', channelId: CHANNEL });
    expect(res.status).toBe(200);
    await slack.waitFor(() => received.length === 1);
    expect(received[0]).toEqual({
      platform: 'slack',
      user: `slack:${ALICE}`,
      userName: 'alice',
      room: `slack:${CHANNEL}`,
      text: '/diagnose 502 shop',
      via: 'text',
      deliveryId: res.triggerId,
    });
  });

  it('a request with a bad signature is refused with 401 and never reaches the core', async () => {
    const { slack, received, appUrl } = await slackWith();
    const res = await slack.slashCommand(appUrl, { command: '/diagnose', text: '502 shop', userId: 'U0MALLORY', channelId: CHANNEL, badSignature: true });
    expect(res.status).toBe(401);
    expect(received).toEqual([]);
  });

  it('a replayed request with a timestamp older than five minutes is refused with 401', async () => {
    const { slack, received, appUrl } = await slackWith();
    const res = await slack.slashCommand(appUrl, { command: '/diagnose', text: '502 shop', userId: ALICE, channelId: CHANNEL, timestampOffsetSec: -6 * 60 });
    expect(res.status).toBe(401);
    expect(received).toEqual([]);
  });

  it('acks the slash command before the run it starts has finished', async () => {
    let finishRun!: () => void;
    const runFinished = new Promise<void>((r) => {
      finishRun = r;
    });
    const events: string[] = [];
    const { slack, appUrl } = await slackWith(async () => {
      events.push('run started');
      await runFinished;
      events.push('run finished');
    });
    const res = await slack.slashCommand(appUrl, { command: '/diagnose', text: '502 shop', userId: ALICE, channelId: CHANNEL });
    events.push(`acked ${res.status}`);
    finishRun();
    await slack.waitFor(() => events.includes('run finished'));
    expect(events).toEqual(['run started', 'acked 200', 'run finished']);
  });

  it("Slack's retry of the same payload carries the same delivery id (the core drops it)", async () => {
    const { slack, received, appUrl } = await slackWith();
    const first = await slack.slashCommand(appUrl, { command: '/diagnose', text: '502 shop', userId: ALICE, channelId: CHANNEL });
    await slack.slashCommand(appUrl, { command: '/diagnose', text: '502 shop', userId: ALICE, channelId: CHANNEL, retryNum: 1, triggerId: first.triggerId });
    await slack.waitFor(() => received.length === 2);
    expect(received.map((c) => c.deliveryId)).toEqual([first.triggerId, first.triggerId]);
  });

  it('renders a card as Block Kit: bold title, escaped text, code fence, buttons whose value is the command', async () => {
    const { slack, adapter, received, appUrl } = await slackWith();
    const ref = await adapter.post(`slack:${CHANNEL}`, {
      title: '502 shop <@U0ALL> & co',
      lines: ['cause: service-down', '<!channel> nothing listens on :8000'],
      code: 'curl: (7) ``` <html>',
      buttons: [
        { label: 'Cancel', command: '/cancel r_abc123', style: 'danger' },
        { label: 'Re-run', command: '/diagnose 502 shop' },
      ],
    });
    const [card] = slack.messages(CHANNEL);
    expect(card.text).toBe('502 shop &lt;@U0ALL&gt; &amp; co — cause: service-down');
    expect(sectionTexts(card.blocks)).toEqual([
      '*502 shop &lt;@U0ALL&gt; &amp; co*\ncause: service-down\n&lt;!channel&gt; nothing listens on :8000',
      '```\ncurl: (7) ``\u200b` &lt;html&gt;\n```',
    ]);
    const actions = card.blocks!.at(-1) as { type: string; elements: { action_id: string; value: string; style?: string }[] };
    expect(actions.type).toBe('actions');
    expect(actions.elements.map((e) => [e.value, e.style])).toEqual([
      ['/cancel r_abc123', 'danger'],
      ['/diagnose 502 shop', undefined],
    ]);

    const click = await slack.clickButton(appUrl, { userId: ALICE, channelId: CHANNEL, messageTs: ref.id, actionId: actions.elements[0].action_id, value: '/cancel r_abc123' });
    expect(click.status).toBe(200);
    await slack.waitFor(() => received.length === 1);
    expect(received[0]).toMatchObject({
      user: `slack:${ALICE}`,
      room: `slack:${CHANNEL}`,
      text: '/cancel r_abc123',
      via: 'button',
      deliveryId: click.triggerId,
      message: { room: `slack:${CHANNEL}`, id: ref.id },
    });
  });

  it('splits long text into sections of at most 3000 characters and cuts at 50 blocks, saying so', async () => {
    const { slack, adapter } = await slackWith();
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i} ${'x'.repeat(60)} & <more>`);
    await adapter.post(`slack:${CHANNEL}`, { title: 'long', lines });
    const [msg] = slack.messages(CHANNEL);
    const texts = sectionTexts(msg.blocks);
    expect(texts.length).toBeGreaterThan(1);
    expect(Math.max(...texts.map((t) => t.length))).toBeLessThanOrEqual(3000);
    expect(texts.join('\n')).toContain('line 399');

    const huge = Array.from({ length: 60 }, () => 'y'.repeat(2999));
    await adapter.post(`slack:${CHANNEL}`, { lines: huge, buttons: [{ label: 'Cancel', command: '/cancel r_abc123' }] });
    const cut = slack.messages(CHANNEL)[1];
    expect(cut.blocks).toHaveLength(SLACK_MAX_BLOCKS);
    expect(JSON.stringify(cut.blocks!.at(-2))).toContain(SLACK_TRUNCATION_NOTE);
    expect((cut.blocks!.at(-1) as { type: string }).type).toBe('actions');
    expect(adapter.maxTextLength).toBe(3000);
  });

  it('uploads long output as a file in the card thread, and posts step details in that thread', async () => {
    const { slack, adapter } = await slackWith();
    const card = await adapter.post(`slack:${CHANNEL}`, { title: '502 shop', lines: ['running'] });
    await adapter.post(card.room, { title: 'step logs', lines: ['fail'] }, { thread: card.id });
    const output = 'Traceback (most recent call last):\n'.repeat(500);
    await adapter.upload(card.room, { filename: 'logs.txt', content: output, title: 'logs on web1' }, { thread: card.id });
    const [, step] = slack.messages(CHANNEL);
    expect(step.thread_ts).toBe(card.id);
    expect(slack.files).toEqual([
      expect.objectContaining({ channel: CHANNEL, thread_ts: card.id, filename: 'logs.txt', content: output, title: 'logs on web1' }),
    ]);
  });

  it('edits the card with chat.update; a card without buttons loses them', async () => {
    const { slack, adapter } = await slackWith();
    const ref = await adapter.post(`slack:${CHANNEL}`, { title: '502 shop', lines: ['running'], buttons: [{ label: 'Cancel', command: '/cancel r_abc123' }] });
    await adapter.edit(ref, { title: '502 shop', lines: ['service-down'] });
    const [card] = slack.messages(CHANNEL);
    expect(card.updates).toHaveLength(1);
    expect(card.blocks?.map((b) => (b as { type: string }).type)).toEqual(['section']);
  });

  it('a private reply is an ephemeral message only the user sees', async () => {
    const { slack, received, appUrl } = await slackWith(async (cmd, adapter) => {
      await adapter.replyPrivately!(cmd, { lines: ['You may not run /diagnose here.'] });
    });
    await slack.slashCommand(appUrl, { command: '/diagnose', text: '502 shop', userId: 'U0MALLORY', channelId: CHANNEL });
    const eph = await slack.waitFor(() => slack.messages(CHANNEL).find((m) => m.ephemeral_user));
    expect(received).toHaveLength(1);
    expect(eph).toMatchObject({ ephemeral_user: 'U0MALLORY', text: 'You may not run /diagnose here.' });
  });

  it('a 429 becomes a RateLimitedError with Retry-After in ms, not retried inside web-api; other refusals are CHAT_DELIVERY', async () => {
    const { slack, adapter } = await slackWith();
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 4 });
    const limited = await rejection(adapter.post(`slack:${CHANNEL}`, { lines: ['hi'] }));
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(4000);
    expect(slack.callsOf('chat.postMessage').map((c) => c.status)).toEqual([429]);

    slack.failNext('chat.postMessage', { error: 'not_in_channel' });
    const refused = (await rejection(adapter.post(`slack:${CHANNEL}`, { lines: ['hi'] }))) as TriageError;
    expect(refused).toBeInstanceOf(TriageError);
    expect(refused.code).toBe('CHAT_DELIVERY');
    expect(refused.fix).toMatch(/invite the bot/);
  });

  it('with an app-level token it is built for Socket Mode (not started: that needs a Slack websocket)', () => {
    const adapter = createSlackAdapter({ botToken: 'xoxb-1-2', signingSecret: 's', appToken: 'xapp-1-A0-1-abc', logger: quiet });
    expect(adapter.receiver).toBe('socket');
    expect(createSlackAdapter({ botToken: 'xoxb-1-2', signingSecret: 's', logger: quiet }).receiver).toBe('http');
  });
});
