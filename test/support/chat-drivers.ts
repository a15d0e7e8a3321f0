/**
 * Chat drivers: the same story told on Telegram and on Slack.
 *
 *   const chat = await startTelegramDriver(world);   // or startSlackDriver
 *   await chat.send('responder', '/diagnose 502 shop');
 *   const card = await chat.waitForFinalCard();
 *   expect(card).toContain('cause: service-down');
 *
 * Each driver starts the loopback fake of its platform, then the whole bot
 * through `startDeployment` (the CLI's composition root) — the real adapter
 * (telegraf / Bolt), a real ChatCore with its on-call side, RunQueue,
 * AuditLog, an embedded worker and the schedule worker on the real Redis
 * under a unique prefix — and reads back only what the fake recorded, i.e. what people in
 * the chat would see. Nothing of telegraf or Bolt is mocked.
 *
 * Deliberately left out: anything platform-specific in the interface; a test
 * that needs it belongs in telegram.test.ts / slack.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { type AuditEntry, AuditLog } from '../../src/bot/audit.ts';
import { type Deployment, type DeploymentOptions, startDeployment } from '../../src/cli/bot.ts';
import { parseConfig } from '../../src/config.ts';
import { RunQueue } from '../../src/queue/producer.ts';
import { connectRedis, type RedisHandle } from '../../src/queue/redis.ts';
import { RunbookLibrary } from '../../src/runbooks/loader.ts';
import { purgePrefix } from './cli.ts';
import { freePort } from './processes.ts';
import { pollUntil } from './wait.ts';
import { FakeSlack, type SlackMsg } from './fake-slack.ts';
import { FakeTelegram, type TgMessage } from './fake-telegram.ts';

/** The people in the story. */
export type Person = 'operator' | 'responder' | 'stranger';

/** One thing the bot sent, as the platform recorded it. */
export interface Delivery {
  op: 'post' | 'edit' | 'upload' | 'private' | 'other';
  /** When the platform received it (ms since epoch). */
  at: number;
  /** HTTP status (Telegram) / 429 or 200 (Slack). */
  status: number;
}

/** What a conformance test can do and see, on any platform. */
export interface ChatDriver {
  readonly platform: 'telegram' | 'slack';
  /** Types a command as `who`. Resolves once the platform delivered it to the bot (Slack: acked). */
  send(who: Person, text: string): Promise<void>;
  /** Clicks the button labelled `label` (or `label …`) on the newest message that has one, waiting for it to appear. */
  click(who: Person, label: string): Promise<void>;
  /** The newest run card as plain text; `''` before there is one. */
  card(): string;
  /** The newest run card as it was posted, then after each edit. */
  cardVersions(): string[];
  /** Labels of the newest card's buttons. */
  cardButtons(): string[];
  /** How many run cards the bot posted. */
  cardCount(): number;
  /** What was posted in the newest card's thread. */
  thread(): { messages: string[]; files: { filename: string; content: string }[] };
  /** What the bot showed outside cards and their threads: replies, refusals, alerts, ephemerals. */
  notices(): string[];
  /** Delivers the last command or click again, as the platform does on a retry (same update_id / trigger_id). */
  redeliverLast(): Promise<void>;
  /** The next `op` the bot makes is refused with 429 and retry-after `seconds`. */
  fail429Next(op: 'post' | 'edit', seconds: number): void;
  /** Every call the bot made to the platform, in order. */
  deliveries(): Delivery[];
  /** Runs queued so far. */
  runCount(): Promise<number>;
  audit(): Promise<AuditEntry[]>;
  /** Waits until `pred` returns something other than undefined, null, false or ''. */
  waitFor<T>(pred: () => T | undefined | false | null, timeoutMs?: number): Promise<T>;
  /** Waits for the newest card to be final and everything queued to be delivered; returns the card. */
  waitForFinalCard(timeoutMs?: number): Promise<string>;
  /** Lines the bot logged, for failure messages. */
  readonly logged: string[];
  /** Every message the bot posted in the room (not private ones), oldest first, as people read them now. */
  posts(): Post[];
  /** Replies of the thread whose root is the newest post matching `root`. */
  threadOf(root: (text: string) => boolean): string[];
  /** Types `text` in the thread of the newest post matching `root` (Telegram: a reply; Slack: `@Triage …` in the thread). */
  sendInThread(who: Person, root: (text: string) => boolean, text: string): Promise<void>;
  /** Clicks the button labelled `label` on the newest post matching `on`. */
  clickOn(who: Person, on: (text: string) => boolean, label: string): Promise<void>;
  /** The running deployment (its on-call side, for the clock and schedules). */
  deployment(): Deployment;
  /** Stops the bot and starts it again on the same Redis prefix (what survives a restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** A message as the room shows it. */
export interface Post {
  id: string;
  /** Root of the thread it is in, if any. */
  thread?: string;
  text: string;
  buttons: string[];
}

/** A temp dir of runbooks and the config around them, shared by both drivers. */
export interface StoryWorld {
  runbooks: Record<string, object>;
  /** `hosts`, `targets`, `access` (chat is added by the driver). */
  config: Record<string, unknown>;
  /** Extra deployment options (on-call clock, schedule test hooks). */
  deployment?: Pick<DeploymentOptions, 'oncall' | 'scheduleEveryMs'>;
  /** Use this Redis prefix (a second bot of the same deployment). */
  prefix?: string;
}

/** Footer of a run card (see run-card.ts): `run r_… · <phase or status> · …`. */
const CARD_FOOTER = /(?:^|\n)run r_[a-z0-9]+ · /;
const FINAL_FOOTER = /(?:^|\n)run r_[a-z0-9]+ · (healthy|unhealthy|error|cancelled|failed) · /;

export const TG_GROUP = -1001234567890;
export const SLACK_CHANNEL = 'C0INCIDENT';
/** Platform ids of the people; `access.roles` in the story config uses them. */
export const PEOPLE = {
  telegram: { operator: 1001, responder: 1002, stranger: 1003 },
  slack: { operator: 'U0OPERATOR', responder: 'U0RESPONDER', stranger: 'U0STRANGER' },
} as const;
const NAMES: Record<Person, string> = { operator: 'olga', responder: 'rick', stranger: 'mallory' };

/** `access:` for the story: responder and operator on both platforms, the stranger on neither. */
export function storyAccess(): Record<string, unknown> {
  return {
    roles: {
      responder: [`tg:${PEOPLE.telegram.responder}`, `slack:${PEOPLE.slack.responder}`],
      operator: [`tg:${PEOPLE.telegram.operator}`, `slack:${PEOPLE.slack.operator}`],
    },
  };
}

function waitFor<T>(pred: () => T | undefined | false | null, timeoutMs: number, describe: () => string): Promise<T> {
  return pollUntil(pred, { timeoutMs, what: describe, everyMs: 10 });
}

const unescapeEntities = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
/** Telegram HTML as the user reads it. */
const htmlToPlain = (html: string) => unescapeEntities(html.replace(/<[^>]+>/g, ''));
/** Slack blocks as the user reads them (sections and context, code fences kept). */
function blocksToPlain(blocks: unknown[] | undefined, text?: string): string {
  if (!blocks?.length) return unescapeEntities(text ?? '');
  const parts: string[] = [];
  for (const b of blocks as { type: string; text?: { text: string }; elements?: { text?: string }[] }[]) {
    if (b.type === 'section' && b.text) parts.push(b.text.text);
    if (b.type === 'context') for (const e of b.elements ?? []) if (e.text) parts.push(e.text);
  }
  return unescapeEntities(parts.join('\n')).replace(/^\*(.*?)\*(\n|$)/, '$1$2');
}

/** Everything both drivers share: the bot, Redis, the temp dir. */
interface Backstage {
  bot: Deployment;
  start(): Promise<Deployment>;
  handle: RedisHandle;
  observer: RunQueue;
  auditLog: AuditLog;
  redis: Redis;
  prefix: string;
  dir: string;
  logged: string[];
}

async function startBackstage(world: StoryWorld, chat: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<Backstage> {
  const dir = mkdtempSync(join(tmpdir(), 'triage-chat-'));
  const runbookDir = join(dir, 'runbooks');
  mkdirSync(runbookDir);
  for (const [name, rb] of Object.entries(world.runbooks)) writeFileSync(join(runbookDir, `${name}.yaml`), stringify(rb));
  const configPath = join(dir, 'triage.yaml');
  const text = stringify({ ...world.config, chat });
  writeFileSync(configPath, text);
  const loaded = parseConfig(text, configPath, env);
  const library = RunbookLibrary.load({ dirs: [runbookDir], builtin: false });
  const handle = await connectRedis({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
  const prefix = world.prefix ?? `t-${randomUUID().slice(0, 8)}`;
  const logged: string[] = [];
  const start = () => startDeployment({
    ...world.deployment,
    loaded,
    env,
    redis: handle,
    prefix,
    library,
    withWorker: true,
    listenHost: '127.0.0.1',
    log: (line) => logged.push(line),
    core: {
      // Fast but still paced, so edits coalesce as they do in production (1 op/s there).
      pacing: { telegram: { minIntervalMs: 50, perMinute: 0 }, slack: { minIntervalMs: 50 } },
      delivery: { attempts: 3, backoffMs: 50 },
      liveCard: { endGraceMs: 5000, reconnectDelayMs: 100 },
    },
    worker: { stalledIntervalMs: 5000, lockDurationMs: 10_000 },
    stopGraceMs: 2000,
  });
  const bot = await start();
  const redis = handle.client();
  redis.on('error', () => {});
  return { bot, start, handle, observer: new RunQueue({ redis: handle, prefix }), auditLog: new AuditLog(redis, prefix), redis, prefix, dir, logged };
}

/** What both drivers read the same way: runs, audit, waiting for the final card, and shutting down. */
function backstageParts(
  backstage: Backstage,
  describe: () => string,
  card: () => string,
  closeFake: () => Promise<void>,
): Pick<ChatDriver, 'runCount' | 'audit' | 'waitFor' | 'waitForFinalCard' | 'close' | 'deployment' | 'restart' | 'threadOf'> {
  const wait: ChatDriver['waitFor'] = (pred, timeoutMs = 30_000) => waitFor(pred, timeoutMs, describe);
  return {
    runCount: async () => (await backstage.observer.recent(1000)).length,
    deployment: () => backstage.bot,
    async restart() {
      await backstage.bot.stop();
      backstage.bot = await backstage.start();
    },
    threadOf: () => [],
    audit: () => backstage.auditLog.list({ count: 1000 }),
    waitFor: wait,
    async waitForFinalCard(timeoutMs = 30_000) {
      await wait(() => FINAL_FOOTER.test(card()), timeoutMs);
      await backstage.bot.core.flush(10_000);
      return card();
    },
    async close() {
      await stopBackstage(backstage);
      await closeFake();
    },
  };
}

async function stopBackstage(b: Backstage): Promise<void> {
  await b.bot.stop();
  await b.observer.close();
  b.redis.disconnect();
  await purgePrefix(b.prefix);
  await b.handle.stop();
  rmSync(b.dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------
// Telegram

/** The bot on FakeTelegram (long polling), in a supergroup. */
export async function startTelegramDriver(world: StoryWorld): Promise<ChatDriver> {
  const tg = await FakeTelegram.start();
  const env = { TRIAGE_TG_TOKEN: tg.token };
  let backstage: Backstage;
  try {
    backstage = await startBackstage(world, { telegram: { token: 'env:TRIAGE_TG_TOKEN', apiRoot: tg.apiRoot, allowedChats: [TG_GROUP] } }, env);
  } catch (e) {
    await tg.close();
    throw e;
  }
  let lastUpdate: number | undefined;
  const bot = () => tg.messages(TG_GROUP);
  const isCard = (m: TgMessage) => !m.document && CARD_FOOTER.test(m.plain_text ?? '');
  const newestCard = () => bot().filter(isCard).at(-1);
  const describe = () => `${tg.describeRecentCalls()}\nbot log:\n${backstage.logged.join('\n')}`;
  const driver: ChatDriver = {
    platform: 'telegram',
    logged: backstage.logged,
    async send(who, text) {
      lastUpdate = tg.sendText({ chatId: TG_GROUP, userId: PEOPLE.telegram[who], username: NAMES[who], text });
    },
    async click(who, label) {
      const found = await driver.waitFor(() => {
        for (const m of [...bot()].reverse()) {
          const rows = (m.reply_markup as { inline_keyboard?: { text: string; callback_data: string }[][] } | undefined)?.inline_keyboard ?? [];
          const b = rows.flat().find((x) => x.text === label || x.text.startsWith(`${label} `));
          if (b) return { m, b };
        }
        return undefined;
      });
      lastUpdate = tg.clickButton({ chatId: TG_GROUP, userId: PEOPLE.telegram[who], username: NAMES[who], messageId: found.m.message_id, data: found.b.callback_data });
    },
    card: () => newestCard()?.plain_text ?? '',
    cardVersions: () => (newestCard()?.edits ?? []).map(htmlToPlain),
    cardButtons: () =>
      ((newestCard()?.reply_markup as { inline_keyboard?: { text: string }[][] } | undefined)?.inline_keyboard ?? []).flat().map((b) => b.text),
    cardCount: () => bot().filter(isCard).length,
    thread() {
      const card = newestCard();
      if (!card) return { messages: [], files: [] };
      const replies = bot().filter((m) => m.reply_to_message_id === card.message_id);
      return {
        messages: replies.filter((m) => !m.document).map((m) => m.plain_text ?? ''),
        files: replies.flatMap((m) => (m.document ? [{ filename: m.document.file_name, content: m.document.content }] : [])),
      };
    },
    notices() {
      const cards = new Set(bot().filter(isCard).map((m) => m.message_id));
      const inThreads = (m: TgMessage) => m.reply_to_message_id !== undefined && cards.has(m.reply_to_message_id);
      const messages = bot().filter((m) => !cards.has(m.message_id) && !inThreads(m)).map((m) => m.plain_text ?? '');
      return [...messages, ...tg.callbackAnswers.flatMap((a) => (a.text ? [a.text] : []))];
    },
    async redeliverLast() {
      if (lastUpdate === undefined) throw new Error('nothing was sent yet');
      tg.redeliver(lastUpdate);
    },
    fail429Next(op, seconds) {
      tg.failNext(op === 'post' ? 'sendMessage' : 'editMessageText', { status: 429, retryAfter: seconds });
    },
    deliveries: () =>
      tg.calls
        .filter((c) => c.method !== 'getUpdates')
        .map((c) => ({
          op: c.method === 'sendMessage' ? 'post' : c.method === 'editMessageText' ? 'edit' : c.method === 'sendDocument' ? 'upload' : c.method === 'answerCallbackQuery' ? 'private' : 'other',
          at: c.at,
          status: c.status,
        })),
    ...backstageParts(backstage, describe, () => driver.card(), () => tg.close()),
    posts: () =>
      bot().map((m) => ({
        id: String(m.message_id),
        ...(m.reply_to_message_id !== undefined ? { thread: String(m.reply_to_message_id) } : {}),
        text: m.document ? `[file ${m.document.file_name}]` : (m.plain_text ?? ''),
        buttons: ((m.reply_markup as { inline_keyboard?: { text: string }[][] } | undefined)?.inline_keyboard ?? []).flat().map((b) => b.text),
      })),
    threadOf: (root) => threadIn(driver.posts(), root),
    async sendInThread(who, root, text) {
      const r = await driver.waitFor(() => driver.posts().filter((p) => !p.thread && root(p.text)).at(-1));
      lastUpdate = tg.sendText({ chatId: TG_GROUP, userId: PEOPLE.telegram[who], username: NAMES[who], text, replyToMessageId: Number(r.id) });
    },
    async clickOn(who, on, label) {
      const found = await driver.waitFor(() => {
        for (const m of [...bot()].reverse()) {
          if (!on(m.plain_text ?? '')) continue;
          const rows = (m.reply_markup as { inline_keyboard?: { text: string; callback_data: string }[][] } | undefined)?.inline_keyboard ?? [];
          const b = rows.flat().find((x) => x.text === label);
          if (b) return { m, b };
        }
        return undefined;
      });
      lastUpdate = tg.clickButton({ chatId: TG_GROUP, userId: PEOPLE.telegram[who], username: NAMES[who], messageId: found.m.message_id, data: found.b.callback_data });
    },
  };
  return driver;
}

// ---------------------------------------------------------------------------
// Slack

/** The bot on FakeSlack (HTTP receiver on a loopback port), in one channel. */
export async function startSlackDriver(world: StoryWorld): Promise<ChatDriver> {
  const slack = await FakeSlack.start();
  const port = await freePort();
  const env = { TRIAGE_SLACK_BOT: slack.botToken, TRIAGE_SLACK_SIGNING: slack.signingSecret };
  let backstage: Backstage;
  try {
    backstage = await startBackstage(
      world,
      { slack: { botToken: 'env:TRIAGE_SLACK_BOT', signingSecret: 'env:TRIAGE_SLACK_SIGNING', port, apiUrl: slack.apiUrl, allowedChannels: [SLACK_CHANNEL] } },
      env,
    );
  } catch (e) {
    await slack.close();
    throw e;
  }
  const appUrl = `http://127.0.0.1:${port}`;
  let last: (() => Promise<unknown>) | undefined;
  const channel = () => slack.messages(SLACK_CHANNEL);
  const plain = (m: SlackMsg) => blocksToPlain(m.blocks, m.text);
  const isCard = (m: SlackMsg) => !m.thread_ts && !m.ephemeral_user && CARD_FOOTER.test(plain(m));
  const newestCard = () => channel().filter(isCard).at(-1);
  const describe = () => `${slack.describeRecentCalls()}\nbot log:\n${backstage.logged.join('\n')}`;
  const expectAck = (res: { status: number }) => {
    if (res.status !== 200) throw new Error(`the bot answered Slack with HTTP ${res.status}`);
  };
  const driver: ChatDriver = {
    platform: 'slack',
    logged: backstage.logged,
    async send(who, text) {
      const [command, ...rest] = text.split(' ');
      const opts = { command: command!, text: rest.join(' '), userId: PEOPLE.slack[who], userName: NAMES[who], channelId: SLACK_CHANNEL };
      const first = await slack.slashCommand(appUrl, opts);
      expectAck(first);
      last = () => slack.slashCommand(appUrl, { ...opts, retryNum: 1, triggerId: first.triggerId, responseUrl: first.responseUrl });
    },
    async click(who, label) {
      const found = await driver.waitFor(() => {
        for (const m of [...channel()].reverse()) {
          for (const b of (m.blocks ?? []) as { type: string; elements?: { action_id: string; value: string; text: { text: string } }[] }[]) {
            if (b.type !== 'actions') continue;
            const el = b.elements?.find((e) => e.text.text === label || e.text.text.startsWith(`${label} `));
            if (el) return { m, el };
          }
        }
        return undefined;
      });
      const opts = { userId: PEOPLE.slack[who], userName: NAMES[who], channelId: SLACK_CHANNEL, messageTs: found.m.ts, actionId: found.el.action_id, value: found.el.value };
      const first = await slack.clickButton(appUrl, opts);
      expectAck(first);
      last = () => slack.clickButton(appUrl, { ...opts, retryNum: 1, triggerId: first.triggerId, stale: true });
    },
    card: () => {
      const m = newestCard();
      return m ? plain(m) : '';
    },
    cardVersions() {
      const m = newestCard();
      if (!m) return [];
      // The posted content is not kept once updated: rebuild it from the postMessage call.
      const post = slack.callsOf('chat.postMessage').find((c) => c.status === 200 && isPostOf(c.params, m));
      const first = post ? blocksToPlain(parseBlocks(post.params.blocks), String(post.params.text ?? '')) : undefined;
      return [...(first ? [first] : []), ...m.updates.map((u) => blocksToPlain(u.blocks, u.text))];
    },
    cardButtons: () =>
      ((newestCard()?.blocks ?? []) as { type: string; elements?: { text: { text: string } }[] }[])
        .filter((b) => b.type === 'actions')
        .flatMap((b) => (b.elements ?? []).map((e) => e.text.text)),
    cardCount: () => channel().filter(isCard).length,
    thread() {
      const card = newestCard();
      if (!card) return { messages: [], files: [] };
      return {
        messages: channel().filter((m) => m.thread_ts === card.ts && !m.ephemeral_user).map(plain),
        files: slack.files.filter((f) => f.thread_ts === card.ts).map((f) => ({ filename: f.filename, content: f.content })),
      };
    },
    notices() {
      const cards = new Set(channel().filter(isCard).map((m) => m.ts));
      return channel()
        .filter((m) => !cards.has(m.ts) && !(m.thread_ts && cards.has(m.thread_ts) && !m.ephemeral_user))
        .map(plain);
    },
    async redeliverLast() {
      if (!last) throw new Error('nothing was sent yet');
      expectAck((await last()) as { status: number });
    },
    fail429Next(op, seconds) {
      slack.failNext(op === 'post' ? 'chat.postMessage' : 'chat.update', { status: 429, retryAfter: seconds });
    },
    deliveries: () =>
      slack.calls.map((c) => ({
        op:
          c.method === 'chat.postMessage'
            ? 'post'
            : c.method === 'chat.update'
              ? 'edit'
              : c.method === 'files.completeUploadExternal'
                ? 'upload'
                : c.method === 'chat.postEphemeral'
                  ? 'private'
                  : 'other',
        at: c.at,
        status: c.status,
      })),
    ...backstageParts(backstage, describe, () => driver.card(), () => slack.close()),
    posts: () =>
      channel()
        .filter((m) => !m.ephemeral_user)
        .map((m) => ({
          id: m.ts,
          ...(m.thread_ts && m.thread_ts !== m.ts ? { thread: m.thread_ts } : {}),
          text: plain(m),
          buttons: ((m.blocks ?? []) as { type: string; elements?: { text: { text: string } }[] }[])
            .filter((b) => b.type === 'actions')
            .flatMap((b) => (b.elements ?? []).map((e) => e.text.text)),
        })),
    threadOf: (root) => threadIn(driver.posts(), root),
    async sendInThread(who, root, text) {
      const r = await driver.waitFor(() => driver.posts().filter((p) => !p.thread && root(p.text)).at(-1));
      const event = { type: 'app_mention', user: PEOPLE.slack[who], text: `<@U0TRIAGEBOT> ${text.replace(/^\//, '')}`, channel: SLACK_CHANNEL, ts: `${Date.now() / 1000}`, thread_ts: r.id };
      const first = await slack.sendEvent(appUrl, event);
      expectAck(first);
      last = () => slack.sendEvent(appUrl, event, { retryNum: 1 });
    },
    async clickOn(who, on, label) {
      const found = await driver.waitFor(() => {
        for (const m of [...channel()].reverse()) {
          if (!on(plain(m))) continue;
          for (const b of (m.blocks ?? []) as { type: string; elements?: { action_id: string; value: string; text: { text: string } }[] }[]) {
            const el = b.type === 'actions' ? b.elements?.find((e) => e.text.text === label) : undefined;
            if (el) return { m, el };
          }
        }
        return undefined;
      });
      const opts = { userId: PEOPLE.slack[who], userName: NAMES[who], channelId: SLACK_CHANNEL, messageTs: found.m.ts, actionId: found.el.action_id, value: found.el.value };
      expectAck(await slack.clickButton(appUrl, opts));
    },
  };
  return driver;
}

function parseBlocks(v: unknown): unknown[] | undefined {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string' && v.startsWith('[')) return JSON.parse(v) as unknown[];
  return undefined;
}

/** The postMessage call that created card `m`: top level in its channel and naming its run id. */
function isPostOf(params: Record<string, unknown>, m: SlackMsg): boolean {
  const runId = /run (r_[a-z0-9]+)/.exec(blocksToPlain(m.blocks, m.text))?.[1];
  return params.channel === m.channel && !params.thread_ts && !!runId && JSON.stringify(params).includes(runId);
}

/** Replies in the thread of the newest top-level post matching `root`. */
function threadIn(posts: Post[], root: (text: string) => boolean): string[] {
  const r = posts.filter((p) => !p.thread && root(p.text)).at(-1);
  return r ? posts.filter((p) => p.thread === r.id).map((p) => p.text) : [];
}

/** Both drivers, for `describe.each`. */
export const DRIVERS: { platform: 'telegram' | 'slack'; start: (world: StoryWorld) => Promise<ChatDriver> }[] = [
  { platform: 'telegram', start: startTelegramDriver },
  { platform: 'slack', start: startSlackDriver },
];
