/**
 * FakeTelegram — a loopback stand-in for the Telegram Bot API (https://core.telegram.org/bots/api),
 * good enough to run the real `telegraf` against it.
 *
 *   const tg = await FakeTelegram.start();
 *   const bot = new Telegraf(tg.token, { telegram: { apiRoot: tg.apiRoot } });
 *
 * Serves `POST|GET /bot<token>/<method>` (params as JSON, urlencoded, query string or multipart/form-data).
 * Reproduces the real behaviours a bot trips over: 401 on a wrong token, 404 for unknown methods,
 * "message is too long" (> 4096 chars after entity parsing), "message is not modified", entity-parsing
 * errors for HTML / Markdown / MarkdownV2, BUTTON_DATA_INVALID (callback_data > 64 bytes), editMessageText
 * without reply_markup removing the inline keyboard, 409 for getUpdates while a webhook is set or when a
 * second getUpdates supersedes a pending one, injected 429s with parameters.retry_after.
 *
 * Only binds 127.0.0.1; `close()` destroys every socket (including hung long polls).
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { pollUntil } from './wait.ts';
import { parseMultipart } from './multipart.ts';

// ---------------------------------------------------------------------------------------------------------------
// Public types

export interface TgEntity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
}

export interface TgMessage {
  message_id: number;
  chat_id: number;
  /** Text as the bot sent it (raw, including HTML / Markdown markup). For documents: the caption. */
  text?: string;
  reply_to_message_id?: number;
  message_thread_id?: number;
  /** Current inline keyboard (undefined once removed). */
  reply_markup?: unknown;
  parse_mode?: string;
  document?: { file_name: string; content: string };
  /** Every text this message had, in order (edits[0] is the original; an edit that only drops/changes the
   * keyboard but keeps the same raw text adds no entry). */
  edits: string[];
  from_bot: boolean;
  /** Plain text after entity parsing (what Telegram would show / return as `text`). */
  plain_text?: string;
  entities?: TgEntity[];
  deleted?: boolean;
  date: number;
  edit_date?: number;
}

export type TgUpdate = { update_id: number; [key: string]: unknown };

export interface TgCall {
  method: string;
  params: Record<string, unknown>;
  at: number;
  /** HTTP status returned (0 while a long poll is still pending). */
  status: number;
  /** true when the method was executed from a webhook reply body (telegraf `webhookReply`). */
  viaWebhookReply?: boolean;
}

export type TgFault = { status: 429; retryAfter: number } | { status: 400 | 500; description: string };

export interface TgChatInfo {
  id: number;
  type: 'private' | 'group' | 'supergroup' | 'channel';
  title?: string;
  username?: string;
  first_name?: string;
  is_forum?: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Update builders (usable without a running fake, e.g. for webhook tests)

export interface MakeMessageUpdateOpts {
  updateId: number;
  chatId: number;
  userId: number;
  text: string;
  messageId?: number;
  username?: string;
  chatType?: 'group' | 'supergroup' | 'private';
  threadId?: number;
  date?: number;
  /** the replied-to message, as an API Message object */
  replyTo?: Record<string, unknown>;
  chatTitle?: string;
}

export function defaultChatType(chatId: number): 'group' | 'supergroup' | 'private' {
  if (chatId > 0) return 'private';
  if (chatId <= -1_000_000_000_000) return 'supergroup';
  return 'group';
}

function userObject(userId: number, username?: string): Record<string, unknown> {
  return {
    id: userId,
    is_bot: false,
    first_name: username ?? `User${userId}`,
    ...(username ? { username } : {}),
    language_code: 'en',
  };
}

function chatObject(chat: TgChatInfo): Record<string, unknown> {
  return compact({ ...chat });
}

/** Entities Telegram attaches to plain user text: bot_command, mention, url, hashtag. */
export function detectEntities(text: string): TgEntity[] {
  const out: TgEntity[] = [];
  const re = /(^|\s)(\/[a-zA-Z0-9_]{1,32}(?:@[a-zA-Z0-9_]{3,32})?)|(^|\s)(@[a-zA-Z0-9_]{4,32})|(https?:\/\/[^\s]+)|(^|\s)(#[\p{L}0-9_]+)/gu;
  for (const m of text.matchAll(re)) {
    const idx = m.index ?? 0;
    if (m[2]) out.push({ type: 'bot_command', offset: idx + m[1].length, length: m[2].length });
    else if (m[4]) out.push({ type: 'mention', offset: idx + m[3].length, length: m[4].length });
    else if (m[5]) out.push({ type: 'url', offset: idx, length: m[5].length });
    else if (m[7]) out.push({ type: 'hashtag', offset: idx + m[6].length, length: m[7].length });
  }
  return out;
}

/** Builds a `message` update the way Telegram delivers it. */
export function makeMessageUpdate(opts: MakeMessageUpdateOpts): TgUpdate {
  const chatType = opts.chatType ?? defaultChatType(opts.chatId);
  const chat: TgChatInfo =
    chatType === 'private'
      ? { id: opts.chatId, type: 'private', first_name: opts.username ?? `User${opts.userId}`, username: opts.username }
      : { id: opts.chatId, type: chatType, title: opts.chatTitle ?? `Chat ${opts.chatId}`, ...(opts.threadId !== undefined ? { is_forum: true } : {}) };
  const entities = detectEntities(opts.text);
  const message: Record<string, unknown> = {
    message_id: opts.messageId ?? 1,
    from: userObject(opts.userId, opts.username),
    chat: chatObject(chat),
    date: opts.date ?? Math.floor(Date.now() / 1000),
    text: opts.text,
    ...(entities.length ? { entities } : {}),
    ...(opts.threadId !== undefined ? { message_thread_id: opts.threadId, is_topic_message: true } : {}),
    ...(opts.replyTo ? { reply_to_message: opts.replyTo } : {}),
  };
  return { update_id: opts.updateId, message };
}

export function makeCallbackQueryUpdate(opts: {
  updateId: number;
  userId: number;
  username?: string;
  message: Record<string, unknown>;
  data: string;
  queryId?: string;
}): TgUpdate {
  return {
    update_id: opts.updateId,
    callback_query: {
      id: opts.queryId ?? randomDigits(18),
      from: userObject(opts.userId, opts.username),
      message: opts.message,
      chat_instance: randomDigits(19),
      data: opts.data,
    },
  };
}

/**
 * POSTs an update to a bot webhook the way Telegram does (JSON body, optional
 * `X-Telegram-Bot-Api-Secret-Token`). Loopback URLs only. Resolves with the HTTP status.
 */
export async function postUpdateToWebhook(url: string, update: object, secretToken?: string): Promise<number> {
  return (await postWebhookRaw(url, update, secretToken)).status;
}

async function postWebhookRaw(url: string, update: object, secretToken?: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  assertLoopback(u);
  const body = Buffer.from(JSON.stringify(update));
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': body.length };
  if (secretToken !== undefined) headers['x-telegram-bot-api-secret-token'] = secretToken;
  return await new Promise((resolve, reject) => {
    const req = http.request(
      { method: 'POST', hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`webhook POST to ${url} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Internals

class TgApiError extends Error {
  constructor(
    readonly status: number,
    readonly description: string,
    readonly parameters?: Record<string, unknown>,
  ) {
    super(description);
  }
}

const bad = (description: string) => new TgApiError(400, `Bad Request: ${description}`);
const badEntities = (detail: string) => bad(`can't parse entities: ${detail}`);

const METHODS = [
  'getMe',
  'getUpdates',
  'deleteWebhook',
  'setWebhook',
  'getWebhookInfo',
  'setMyCommands',
  'getMyCommands',
  'deleteMyCommands',
  'sendMessage',
  'editMessageText',
  'editMessageReplyMarkup',
  'answerCallbackQuery',
  'sendDocument',
  'deleteMessage',
  'sendChatAction',
  'getChat',
] as const;
const METHOD_BY_LOWER = new Map<string, string>(METHODS.map((m) => [m.toLowerCase(), m]));

const JSON_FIELDS = new Set([
  'reply_markup',
  'commands',
  'scope',
  'allowed_updates',
  'entities',
  'caption_entities',
  'reply_parameters',
  'link_preview_options',
]);

const MAX_TEXT = 4096;
const MAX_CAPTION = 1024;
const NOT_MODIFIED =
  'message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message';

interface QueueEntry {
  update: TgUpdate;
  delivered: boolean;
  redelivery: boolean;
}

interface PollWaiter {
  res: http.ServerResponse;
  call: TgCall;
  offset: number | undefined;
  limit: number;
  timer: NodeJS.Timeout;
  done: boolean;
}

interface StoredMessage extends TgMessage {
  thread_is_topic?: boolean;
  from_user?: Record<string, unknown>;
  caption_plain?: string;
}

function randomDigits(n: number): string {
  let s = String(1 + (randomBytes(1)[0] % 9));
  while (s.length < n) s += String(randomBytes(1)[0] % 10);
  return s;
}

function compact<T extends Record<string, unknown>>(o: T): T {
  for (const k of Object.keys(o)) if (o[k] === undefined || o[k] === null) delete o[k];
  return o;
}

function assertLoopback(u: URL): void {
  const h = u.hostname.replace(/^\[|\]$/g, '');
  if (!(h === '127.0.0.1' || h === 'localhost' || h === '::1')) {
    throw new Error(`refusing non-loopback URL ${u.toString()} (tests must only talk to 127.0.0.1)`);
  }
  if (u.protocol !== 'http:') throw new Error(`only http: URLs are supported, got ${u.toString()}`);
}

/** Canonical JSON (sorted keys, no null/undefined) for "is it modified?" comparisons. */
function canon(v: unknown): string {
  if (v === undefined || v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined && o[k] !== null)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canon(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function byteOffset(s: string, i: number): number {
  return Buffer.byteLength(s.slice(0, i), 'utf8');
}

// ----- entity parsing (HTML / Markdown / MarkdownV2) -----

const HTML_TAGS: Record<string, string> = {
  b: 'bold',
  strong: 'bold',
  i: 'italic',
  em: 'italic',
  u: 'underline',
  ins: 'underline',
  s: 'strikethrough',
  strike: 'strikethrough',
  del: 'strikethrough',
  span: 'spoiler',
  'tg-spoiler': 'spoiler',
  a: 'text_link',
  code: 'code',
  pre: 'pre',
  blockquote: 'blockquote',
  'tg-emoji': 'custom_emoji',
};

const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'", nbsp: '\u00a0' };

function parseHtml(src: string): { plain: string; entities: TgEntity[] } {
  let plain = '';
  const entities: TgEntity[] = [];
  const stack: { tag: string; offset: number; attrs: Record<string, string> }[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (ch === '<') {
      const close = src.indexOf('>', i);
      if (close < 0) throw badEntities(`Unclosed start tag at byte offset ${byteOffset(src, i)}`);
      const inner = src.slice(i + 1, close);
      if (inner.startsWith('/')) {
        const name = inner.slice(1).trim().toLowerCase();
        const top = stack.pop();
        if (!top) throw badEntities(`Unexpected end tag at byte offset ${byteOffset(src, i)}`);
        if (name !== top.tag) {
          throw badEntities(`Unmatched end tag at byte offset ${byteOffset(src, i)}, expected "</${top.tag}>", found "</${name}>"`);
        }
        const length = plain.length - top.offset;
        const type = HTML_TAGS[top.tag];
        if (length > 0 && !(top.tag === 'a' && !top.attrs.href)) {
          const e: TgEntity = { type, offset: top.offset, length };
          if (top.tag === 'a') e.url = top.attrs.href;
          if (top.tag === 'pre' && top.attrs.language) e.language = top.attrs.language;
          if (top.tag === 'code' && stack.at(-1)?.tag === 'pre' && top.attrs.class?.startsWith('language-')) {
            // <pre><code class="language-x"> → a single pre entity with a language
            const pre = stack.at(-1)!;
            pre.attrs.language = top.attrs.class.slice('language-'.length);
          } else {
            entities.push(e);
          }
        }
      } else {
        const m = /^([a-zA-Z][a-zA-Z0-9-]*)(\s[\s\S]*)?$/.exec(inner);
        const name = (m?.[1] ?? inner.split(/\s/)[0] ?? '').toLowerCase();
        if (!m || !(name in HTML_TAGS)) {
          throw badEntities(`Unsupported start tag "${name}" at byte offset ${byteOffset(src, i)}`);
        }
        const attrs: Record<string, string> = {};
        for (const a of (m[2] ?? '').matchAll(/([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+))/g)) {
          attrs[a[1].toLowerCase()] = a[2] ?? a[3] ?? a[4] ?? '';
        }
        if (name === 'span' && attrs.class !== 'tg-spoiler') {
          throw badEntities(`Tag "span" must have class "tg-spoiler" at byte offset ${byteOffset(src, i)}`);
        }
        stack.push({ tag: name, offset: plain.length, attrs });
      }
      i = close + 1;
      continue;
    }
    if (ch === '&') {
      const m = /^&(#[0-9]{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});/.exec(src.slice(i, i + 12));
      if (m) {
        const ent = m[1];
        let rep: string | undefined;
        if (ent.startsWith('#x')) rep = String.fromCodePoint(Number.parseInt(ent.slice(2), 16));
        else if (ent.startsWith('#')) rep = String.fromCodePoint(Number.parseInt(ent.slice(1), 10));
        else rep = NAMED_ENTITIES[ent.toLowerCase()];
        if (rep !== undefined) {
          plain += rep;
          i += m[0].length;
          continue;
        }
      }
    }
    plain += ch;
    i++;
  }
  if (stack.length) throw badEntities(`Can't find end tag corresponding to start tag "${stack.at(-1)!.tag}"`);
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
  return { plain, entities };
}

const MDV2_RESERVED = '_*[]()~`>#+-=|{}.!';
const MDV2_NAMES: Record<string, string> = {
  '*': 'Bold',
  _: 'Italic',
  __: 'Underline',
  '~': 'Strikethrough',
  '||': 'Spoiler',
  '[': 'TextUrl',
};
const MDV2_TYPES: Record<string, string> = {
  '*': 'bold',
  _: 'italic',
  __: 'underline',
  '~': 'strikethrough',
  '||': 'spoiler',
};

function parseMarkdownV2(src: string): { plain: string; entities: TgEntity[] } {
  let plain = '';
  const entities: TgEntity[] = [];
  const stack: { marker: string; offset: number; at: number }[] = [];
  const reserved = (c: string) => badEntities(`Character '${c}' is reserved and must be escaped with the preceding '\\'`);
  let i = 0;
  let lineStart = true;
  while (i < src.length) {
    const ch = src[i];
    const wasLineStart = lineStart;
    lineStart = ch === '\n';
    if (ch === '\\') {
      const nx = src[i + 1];
      if (nx === undefined) throw reserved('\\');
      plain += nx;
      i += 2;
      continue;
    }
    if (ch === '`') {
      const isPre = src.startsWith('```', i);
      const marker = isPre ? '```' : '`';
      let j = i + marker.length;
      let body = '';
      let found = false;
      while (j < src.length) {
        if (src[j] === '\\' && j + 1 < src.length) {
          body += src[j + 1];
          j += 2;
          continue;
        }
        if (src.startsWith(marker, j)) {
          found = true;
          break;
        }
        body += src[j];
        j++;
      }
      if (!found) throw badEntities(`Can't find end of ${isPre ? 'Pre' : 'Code'} entity at byte offset ${byteOffset(src, i)}`);
      let language: string | undefined;
      if (isPre) {
        const nl = body.indexOf('\n');
        if (nl >= 0 && /^[^\s`]*$/.test(body.slice(0, nl))) {
          language = body.slice(0, nl) || undefined;
          body = body.slice(nl + 1);
        }
      }
      if (body.length) entities.push(compact({ type: isPre ? 'pre' : 'code', offset: plain.length, length: body.length, language }));
      plain += body;
      i = j + marker.length;
      continue;
    }
    let marker: string | undefined;
    if (ch === '*' || ch === '~') marker = ch;
    else if (ch === '_') marker = src[i + 1] === '_' ? '__' : '_';
    else if (ch === '|' && src[i + 1] === '|') marker = '||';
    if (marker) {
      const top = stack.at(-1);
      if (top && top.marker === marker) {
        stack.pop();
        if (plain.length > top.offset) entities.push({ type: MDV2_TYPES[marker], offset: top.offset, length: plain.length - top.offset });
      } else {
        stack.push({ marker, offset: plain.length, at: i });
      }
      i += marker.length;
      continue;
    }
    if (ch === '[') {
      stack.push({ marker: '[', offset: plain.length, at: i });
      i++;
      continue;
    }
    if (ch === ']') {
      const top = stack.at(-1);
      if (top?.marker !== '[') throw reserved(']');
      stack.pop();
      if (src[i + 1] === '(') {
        let j = i + 2;
        let url = '';
        while (j < src.length && src[j] !== ')') {
          if (src[j] === '\\' && j + 1 < src.length) {
            url += src[j + 1];
            j += 2;
            continue;
          }
          url += src[j];
          j++;
        }
        if (j >= src.length) throw badEntities(`Can't find end of a URL at byte offset ${byteOffset(src, i + 1)}`);
        if (plain.length > top.offset) entities.push({ type: 'text_link', offset: top.offset, length: plain.length - top.offset, url });
        i = j + 1;
      } else {
        i++;
      }
      continue;
    }
    if (ch === '>' && wasLineStart) {
      i++;
      continue;
    }
    if (MDV2_RESERVED.includes(ch)) throw reserved(ch);
    plain += ch;
    i++;
  }
  if (stack.length) {
    const top = stack.at(-1)!;
    throw badEntities(`Can't find end of ${MDV2_NAMES[top.marker]} entity at byte offset ${byteOffset(src, top.at)}`);
  }
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
  return { plain, entities };
}

function parseMarkdownLegacy(src: string): { plain: string; entities: TgEntity[] } {
  let plain = '';
  const entities: TgEntity[] = [];
  let i = 0;
  const unclosed = (at: number) => badEntities(`Can't find end of the entity starting at byte offset ${byteOffset(src, at)}`);
  while (i < src.length) {
    const ch = src[i];
    if (ch === '\\' && '_*`['.includes(src[i + 1] ?? '')) {
      plain += src[i + 1];
      i += 2;
      continue;
    }
    if (ch === '*' || ch === '_' || ch === '`') {
      const marker = ch === '`' && src.startsWith('```', i) ? '```' : ch;
      const end = src.indexOf(marker, i + marker.length);
      if (end < 0) throw unclosed(i);
      let body = src.slice(i + marker.length, end);
      let language: string | undefined;
      if (marker === '```') {
        const nl = body.indexOf('\n');
        if (nl >= 0 && /^[^\s`]*$/.test(body.slice(0, nl))) {
          language = body.slice(0, nl) || undefined;
          body = body.slice(nl + 1);
        }
      }
      const type = marker === '*' ? 'bold' : marker === '_' ? 'italic' : marker === '`' ? 'code' : 'pre';
      if (body.length) entities.push(compact({ type, offset: plain.length, length: body.length, language }));
      plain += body;
      i = end + marker.length;
      continue;
    }
    if (ch === '[') {
      const close = src.indexOf(']', i + 1);
      if (close < 0) throw unclosed(i);
      const text = src.slice(i + 1, close);
      if (src[close + 1] === '(') {
        const end = src.indexOf(')', close + 2);
        if (end < 0) throw unclosed(i);
        if (text.length) entities.push({ type: 'text_link', offset: plain.length, length: text.length, url: src.slice(close + 2, end) });
        plain += text;
        i = end + 1;
      } else {
        plain += text;
        i = close + 1;
      }
      continue;
    }
    plain += ch;
    i++;
  }
  return { plain, entities };
}

function parseText(text: string, parseMode: string | undefined): { plain: string; entities: TgEntity[] } {
  const mode = (parseMode ?? '').toLowerCase();
  if (mode === '') return { plain: text, entities: detectEntities(text) };
  if (mode === 'html') return parseHtml(text);
  if (mode === 'markdownv2') return parseMarkdownV2(text);
  if (mode === 'markdown') return parseMarkdownLegacy(text);
  throw bad('unsupported parse_mode');
}

function inlineKeyboardOf(markup: unknown): unknown[][] | undefined {
  if (!markup || typeof markup !== 'object') return undefined;
  const kb = (markup as { inline_keyboard?: unknown }).inline_keyboard;
  return Array.isArray(kb) && kb.length > 0 ? (kb as unknown[][]) : undefined;
}

function validateMarkup(markup: unknown, inlineOnly: boolean): void {
  if (markup === undefined) return;
  if (!markup || typeof markup !== 'object' || Array.isArray(markup)) throw bad("can't parse reply keyboard markup JSON object");
  const m = markup as Record<string, unknown>;
  if (!('inline_keyboard' in m)) {
    if (inlineOnly) throw bad("can't parse inline keyboard markup: field \"inline_keyboard\" must be an Array");
    return;
  }
  const kb = m.inline_keyboard;
  if (!Array.isArray(kb) || !kb.every((row) => Array.isArray(row))) {
    throw bad('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays');
  }
  for (const row of kb as unknown[][]) {
    for (const btn of row) {
      if (!btn || typeof btn !== 'object') throw bad("can't parse inline keyboard button: InlineKeyboardButton should be an Object");
      const b = btn as Record<string, unknown>;
      if (typeof b.text !== 'string') throw bad("can't parse inline keyboard button: Field \"text\" must be of type String");
      const actions = ['url', 'callback_data', 'web_app', 'login_url', 'switch_inline_query', 'switch_inline_query_current_chat', 'switch_inline_query_chosen_chat', 'callback_game', 'pay', 'copy_text'];
      if (!actions.some((a) => b[a] !== undefined)) throw bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard");
      if (b.callback_data !== undefined) {
        const len = Buffer.byteLength(String(b.callback_data), 'utf8');
        if (typeof b.callback_data !== 'string' || len < 1 || len > 64) throw bad('BUTTON_DATA_INVALID');
      }
      if (b.url !== undefined && !/^(https?|tg):\/\/\S+$/i.test(String(b.url))) throw bad('inline keyboard button URL is invalid');
    }
  }
}

function findInlineButton(markup: unknown, data: string): Record<string, unknown> | undefined {
  for (const row of inlineKeyboardOf(markup) ?? []) {
    for (const b of row as Record<string, unknown>[]) if (b && b.callback_data === data) return b;
  }
  return undefined;
}

// ----- request parsing -----


async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function parseParams(url: URL, contentType: string, body: Buffer): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const [k, v] of url.searchParams) params[k] = v;
  const ct = contentType.toLowerCase();
  if (body.length) {
    if (ct.includes('application/json')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        throw bad("can't parse JSON object");
      }
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) Object.assign(params, parsed);
    } else if (ct.includes('multipart/form-data')) {
      const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
      if (!boundary) throw bad('multipart boundary is missing');
      for (const p of parseMultipart(body, boundary[1] ?? boundary[2])) {
        params[p.name] = p.filename !== undefined ? { filename: p.filename, content: p.data.toString('utf8'), size: p.data.length } : p.data.toString('utf8');
      }
    } else {
      for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = v;
    }
  }
  for (const k of Object.keys(params)) {
    const v = params[k];
    if (JSON_FIELDS.has(k) && typeof v === 'string') {
      try {
        params[k] = JSON.parse(v);
      } catch {
        if (k === 'reply_markup') throw bad("can't parse reply keyboard markup JSON object");
        throw bad(`can't parse ${k} JSON object`);
      }
    }
  }
  return params;
}

function optNum(params: Record<string, unknown>, key: string): number | undefined {
  const v = params[key];
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) throw bad(`invalid ${key} specified`);
  return n;
}

function optBool(params: Record<string, unknown>, key: string): boolean {
  const v = params[key];
  return v === true || v === 'true' || v === '1' || v === 1;
}

function optStr(params: Record<string, unknown>, key: string): string | undefined {
  const v = params[key];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : String(v);
}

// ---------------------------------------------------------------------------------------------------------------

export class FakeTelegram {
  readonly apiRoot: string;
  readonly token: string;
  readonly botUser: { id: number; is_bot: true; first_name: string; username: string };

  /** Every API request, in arrival order (including getUpdates polls). */
  readonly calls: TgCall[] = [];
  /** Every update ever produced (by sendText / clickButton), by update_id. */
  readonly updates = new Map<number, TgUpdate>();
  readonly callbackAnswers: { callback_query_id: string; text?: string; show_alert?: boolean; url?: string }[] = [];
  readonly chatActions: { chat_id: number; action: string }[] = [];
  /** Commands by scope key (`default`, `all_group_chats`, `chat:<id>`…) + `|<language_code>` */
  readonly commands = new Map<string, { command: string; description: string }[]>();
  webhook: { url: string; secret_token?: string; allowed_updates?: string[]; max_connections?: number } | undefined;

  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly queue: QueueEntry[] = [];
  private readonly waiters: PollWaiter[] = [];
  private readonly faults = new Map<string, { fault: TgFault; remaining: number }[]>();
  private readonly chats = new Map<number, TgChatInfo>();
  private readonly msgs = new Map<number, StoredMessage[]>();
  private readonly nextMsgId = new Map<number, number>();
  private readonly openQueries = new Map<string, { userId: number }>();
  private allowedUpdates: string[] | undefined;
  private nextUpdateId = 100_000_001;
  private closed = false;

  private constructor(server: http.Server, port: number, token: string) {
    this.server = server;
    this.apiRoot = `http://127.0.0.1:${port}`;
    this.token = token;
    const id = Number(token.split(':')[0]) || 123456;
    this.botUser = { id, is_bot: true, first_name: 'Triage', username: 'triage_test_bot' };
  }

  static async start(opts: { token?: string } = {}): Promise<FakeTelegram> {
    const token = opts.token ?? '123456:TEST-token';
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const fake = new FakeTelegram(server, (server.address() as AddressInfo).port, token);
    server.on('connection', (s: Socket) => {
      fake.sockets.add(s);
      s.on('close', () => fake.sockets.delete(s));
    });
    server.on('request', (req, res) => {
      fake.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) fake.send(res, 500, { ok: false, error_code: 500, description: `Internal Server Error: ${String(err)}` });
        else res.destroy();
      });
    });
    return fake;
  }

  // ----------------------------------------------------------------- user side

  /** A user posts `text` in a chat. Returns the update_id of the queued `message` update. */
  sendText(opts: {
    chatId: number;
    userId: number;
    text: string;
    username?: string;
    chatType?: 'group' | 'supergroup' | 'private';
    threadId?: number;
    replyToMessageId?: number;
  }): number {
    const chat = this.ensureChat(opts.chatId, opts.chatType, opts.threadId !== undefined);
    const messageId = this.allocMessageId(opts.chatId);
    const replyTo = opts.replyToMessageId !== undefined ? this.findMessage(opts.chatId, opts.replyToMessageId) : undefined;
    if (opts.replyToMessageId !== undefined && !replyTo) throw new Error(`sendText: no message ${opts.replyToMessageId} in chat ${opts.chatId}`);
    const updateId = this.nextUpdateId++;
    const update = makeMessageUpdate({
      updateId,
      chatId: opts.chatId,
      userId: opts.userId,
      text: opts.text,
      messageId,
      username: opts.username,
      chatType: chat.type === 'channel' ? 'supergroup' : chat.type,
      threadId: opts.threadId,
      chatTitle: chat.title,
      replyTo: replyTo ? this.toApiMessage(replyTo) : undefined,
    });
    const msg = update.message as Record<string, unknown>;
    msg.chat = chatObject(chat);
    this.store({
      message_id: messageId,
      chat_id: opts.chatId,
      text: opts.text,
      plain_text: opts.text,
      entities: (msg.entities as TgEntity[] | undefined) ?? [],
      edits: [opts.text],
      from_bot: false,
      from_user: msg.from as Record<string, unknown>,
      message_thread_id: opts.threadId,
      thread_is_topic: opts.threadId !== undefined,
      reply_to_message_id: opts.replyToMessageId,
      date: msg.date as number,
    });
    this.enqueue(update);
    return updateId;
  }

  /**
   * A user presses an inline button (callback_data = `data`) under message `messageId`.
   * Throws if the message does not exist, or if it has no such button (pass `stale: true` to simulate a
   * click on a button that is no longer there).
   */
  clickButton(opts: { chatId: number; userId: number; messageId: number; data: string; username?: string; stale?: boolean }): number {
    const m = this.findMessage(opts.chatId, opts.messageId);
    if (!m || m.deleted) throw new Error(`clickButton: no message ${opts.messageId} in chat ${opts.chatId}`);
    if (!opts.stale && !findInlineButton(m.reply_markup, opts.data)) {
      throw new Error(`clickButton: message ${opts.messageId} has no button with callback_data ${JSON.stringify(opts.data)} (markup: ${JSON.stringify(m.reply_markup)})`);
    }
    const updateId = this.nextUpdateId++;
    const queryId = randomDigits(18);
    this.openQueries.set(queryId, { userId: opts.userId });
    this.enqueue(makeCallbackQueryUpdate({ updateId, userId: opts.userId, username: opts.username, message: this.toApiMessage(m), data: opts.data, queryId }));
    return updateId;
  }

  /** Queues the same update (same update_id) again — a duplicate delivery. */
  redeliver(updateId: number): void {
    const update = this.updates.get(updateId);
    if (!update) throw new Error(`redeliver: unknown update ${updateId}`);
    this.queue.push({ update, delivered: false, redelivery: true });
    this.wakeWaiters();
  }

  /** Updates queued and not yet confirmed by the bot (i.e. what getUpdates could still return). */
  pendingUpdates(): TgUpdate[] {
    return this.queue.map((e) => e.update);
  }

  /** POSTs an update (by id) to the webhook registered via setWebhook, with its secret token; executes a
   * webhook-reply method call found in the response body, as Telegram does. */
  async deliverToWebhook(updateId: number): Promise<{ status: number; body: string }> {
    if (!this.webhook) throw new Error('deliverToWebhook: no webhook set (call setWebhook first)');
    const update = this.updates.get(updateId);
    if (!update) throw new Error(`deliverToWebhook: unknown update ${updateId}`);
    const res = await postWebhookRaw(this.webhook.url, update, this.webhook.secret_token);
    if (res.status === 200 && res.body.trim().startsWith('{')) {
      try {
        const payload = JSON.parse(res.body) as Record<string, unknown>;
        if (typeof payload.method === 'string') {
          const { method, ...params } = payload;
          const canonical = METHOD_BY_LOWER.get(method.toLowerCase()) ?? method;
          const call: TgCall = { method: canonical, params, at: Date.now(), status: 0, viaWebhookReply: true };
          this.calls.push(call);
          try {
            await this.exec(canonical, params);
            call.status = 200;
          } catch (e) {
            call.status = e instanceof TgApiError ? e.status : 500;
          }
        }
      } catch {
        /* not JSON — ignore */
      }
    }
    return res;
  }

  /** Registers chat metadata (title, type, forum flag) before use. */
  addChat(chat: TgChatInfo): void {
    this.chats.set(chat.id, { ...chat });
  }

  // ----------------------------------------------------------------- faults

  /** The next `times` calls of `method` fail with the given error (after the token check). */
  failNext(method: string, opts: TgFault, times = 1): void {
    const key = method.toLowerCase();
    const list = this.faults.get(key) ?? [];
    list.push({ fault: opts, remaining: times });
    this.faults.set(key, list);
  }

  // ----------------------------------------------------------------- observations

  /** Bot's messages in that chat, in order (deleted ones excluded unless `includeDeleted`). */
  messages(chatId: number, opts: { includeDeleted?: boolean } = {}): TgMessage[] {
    return (this.msgs.get(chatId) ?? []).filter((m) => m.from_bot && (opts.includeDeleted || !m.deleted));
  }

  /** All messages in the chat (users' and bot's), in order. */
  allMessages(chatId: number): TgMessage[] {
    return [...(this.msgs.get(chatId) ?? [])];
  }

  /** Calls of one method (completed or pending). */
  callsOf(method: string): TgCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  waitFor<T>(pred: () => T | undefined | false | null, timeoutMs = 10_000): Promise<T> {
    return pollUntil(pred, { timeoutMs, what: () => this.describeRecentCalls(), label: 'FakeTelegram.waitFor' });
  }

  describeRecentCalls(n = 15): string {
    const polls = this.calls.filter((c) => c.method === 'getUpdates').length;
    const rest = this.calls.filter((c) => c.method !== 'getUpdates').slice(-n);
    const lines = rest.map((c) => {
      let p = JSON.stringify(c.params);
      if (p.length > 200) p = `${p.slice(0, 200)}…`;
      return `  ${new Date(c.at).toISOString().slice(11, 23)} ${c.method} → ${c.status || 'pending'} ${p}`;
    });
    return `recent Telegram API calls (${polls} getUpdates polls omitted):\n${lines.join('\n') || '  (none)'}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.done = true;
    }
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await closing;
  }

  // ----------------------------------------------------------------- HTTP

  private send(res: http.ServerResponse, status: number, body: unknown): void {
    if (res.headersSent || res.destroyed) return;
    const json = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.apiRoot);
    const body = await readBody(req);
    const m = /^\/bot([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (!m) return this.send(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    const [, token, rawMethod] = m;
    const canonical = METHOD_BY_LOWER.get(rawMethod.toLowerCase());
    const call: TgCall = { method: canonical ?? rawMethod, params: {}, at: Date.now(), status: 0 };
    this.calls.push(call);
    const reply = (status: number, payload: unknown) => {
      call.status = status;
      this.send(res, status, payload);
    };
    if (decodeURIComponent(token) !== this.token) return reply(401, { ok: false, error_code: 401, description: 'Unauthorized' });
    if (req.method !== 'POST' && req.method !== 'GET') return reply(404, { ok: false, error_code: 404, description: 'Not Found' });
    try {
      call.params = parseParams(url, String(req.headers['content-type'] ?? ''), body);
    } catch (e) {
      if (e instanceof TgApiError) return reply(e.status, { ok: false, error_code: e.status, description: e.description });
      throw e;
    }
    if (!canonical) return reply(404, { ok: false, error_code: 404, description: 'Not Found' });

    const fault = this.takeFault(canonical);
    if (fault) {
      if (fault.status === 429) {
        return reply(429, {
          ok: false,
          error_code: 429,
          description: `Too Many Requests: retry after ${fault.retryAfter}`,
          parameters: { retry_after: fault.retryAfter },
        });
      }
      return reply(fault.status, { ok: false, error_code: fault.status, description: fault.description });
    }

    if (canonical === 'getUpdates') return this.getUpdates(call, res);
    try {
      const result = await this.exec(canonical, call.params);
      reply(200, { ok: true, result });
    } catch (e) {
      if (e instanceof TgApiError) {
        return reply(e.status, compact({ ok: false, error_code: e.status, description: e.description, parameters: e.parameters }));
      }
      throw e;
    }
  }

  private takeFault(method: string): TgFault | undefined {
    const list = this.faults.get(method.toLowerCase());
    const head = list?.[0];
    if (!list || !head) return undefined;
    head.remaining--;
    if (head.remaining <= 0) list.shift();
    return head.fault;
  }

  // ----------------------------------------------------------------- getUpdates / long polling

  private enqueue(update: TgUpdate): void {
    this.updates.set(update.update_id, update);
    this.queue.push({ update, delivered: false, redelivery: false });
    this.wakeWaiters();
  }

  /** Drops confirmed updates (update_id < offset) and returns the next batch. */
  private takeBatch(offset: number | undefined, limit: number): TgUpdate[] {
    if (offset !== undefined && offset < 0) {
      // negative offset: only the last |offset| updates are kept
      const keep = Math.max(0, this.queue.length + offset);
      this.queue.splice(0, keep);
    } else if (offset !== undefined) {
      for (let i = this.queue.length - 1; i >= 0; i--) {
        const e = this.queue[i];
        // a re-queued duplicate that was not handed out yet survives the offset (otherwise it could never arrive)
        if (e.update.update_id < offset && (e.delivered || !e.redelivery)) this.queue.splice(i, 1);
      }
    }
    if (this.allowedUpdates?.length) {
      const allowed = new Set(this.allowedUpdates);
      for (let i = this.queue.length - 1; i >= 0; i--) {
        const type = Object.keys(this.queue[i].update).find((k) => k !== 'update_id');
        if (type && !allowed.has(type)) this.queue.splice(i, 1);
      }
    }
    const batch: QueueEntry[] = [];
    for (const e of this.queue) {
      if (batch.length >= limit) break;
      // a duplicate is always handed out alone, so that telegraf's "offset = last.update_id + 1" confirms exactly it
      if (e.redelivery && !e.delivered) {
        if (batch.length === 0) batch.push(e);
        break;
      }
      batch.push(e);
    }
    for (const e of batch) e.delivered = true;
    return batch.map((e) => e.update);
  }

  private getUpdates(call: TgCall, res: http.ServerResponse): void {
    const params = call.params;
    let offset: number | undefined;
    let limit: number;
    let timeout: number;
    try {
      offset = optNum(params, 'offset');
      limit = Math.min(100, Math.max(1, optNum(params, 'limit') ?? 100));
      timeout = Math.max(0, optNum(params, 'timeout') ?? 0);
    } catch (e) {
      const err = e as TgApiError;
      call.status = 400;
      this.send(res, 400, { ok: false, error_code: 400, description: err.description });
      return;
    }
    if (this.webhook) {
      call.status = 409;
      this.send(res, 409, {
        ok: false,
        error_code: 409,
        description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
      });
      return;
    }
    if (Array.isArray(params.allowed_updates)) this.allowedUpdates = params.allowed_updates as string[];
    // a newer getUpdates terminates a pending one, as on the real server
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.done = true;
      w.call.status = 409;
      this.send(w.res, 409, {
        ok: false,
        error_code: 409,
        description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
      });
    }
    const batch = this.takeBatch(offset, limit);
    if (batch.length > 0 || timeout === 0) {
      call.status = 200;
      this.send(res, 200, { ok: true, result: batch });
      return;
    }
    const waiter: PollWaiter = {
      res,
      call,
      offset,
      limit,
      done: false,
      timer: setTimeout(() => this.finishWaiter(waiter, []), timeout * 1000),
    };
    res.on('close', () => {
      if (!waiter.done) {
        // client aborted (e.g. telegraf bot.stop())
        waiter.done = true;
        clearTimeout(waiter.timer);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        call.status = 499;
      }
    });
    this.waiters.push(waiter);
  }

  private finishWaiter(w: PollWaiter, result: TgUpdate[]): void {
    if (w.done) return;
    w.done = true;
    clearTimeout(w.timer);
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
    w.call.status = 200;
    this.send(w.res, 200, { ok: true, result });
  }

  private wakeWaiters(): void {
    for (const w of [...this.waiters]) {
      if (w.done) continue;
      const batch = this.takeBatch(w.offset, w.limit);
      if (batch.length) this.finishWaiter(w, batch);
    }
  }

  // ----------------------------------------------------------------- chats & messages

  private ensureChat(chatId: number, type?: 'group' | 'supergroup' | 'private', forum = false): TgChatInfo {
    let chat = this.chats.get(chatId);
    if (!chat) {
      const t = type ?? defaultChatType(chatId);
      chat = t === 'private' ? { id: chatId, type: t, first_name: `User${chatId}` } : { id: chatId, type: t, title: `Chat ${chatId}` };
      this.chats.set(chatId, chat);
    }
    if (forum && chat.type === 'supergroup') chat.is_forum = true;
    return chat;
  }

  private resolveChatId(params: Record<string, unknown>, key = 'chat_id'): number {
    const v = params[key];
    if (v === undefined || v === null || v === '') throw bad('chat_id is empty');
    if (typeof v === 'string' && v.startsWith('@')) {
      for (const c of this.chats.values()) if (c.username && `@${c.username}` === v) return c.id;
      throw bad('chat not found');
    }
    const n = typeof v === 'number' ? v : Number(v);
    if (!Number.isInteger(n) || n === 0) throw bad('chat not found');
    return n;
  }

  private allocMessageId(chatId: number): number {
    const id = this.nextMsgId.get(chatId) ?? 1;
    this.nextMsgId.set(chatId, id + 1);
    return id;
  }

  private store(m: StoredMessage): void {
    const list = this.msgs.get(m.chat_id) ?? [];
    list.push(m);
    this.msgs.set(m.chat_id, list);
  }

  private findMessage(chatId: number, messageId: number): StoredMessage | undefined {
    return (this.msgs.get(chatId) ?? []).find((m) => m.message_id === messageId);
  }

  private toApiMessage(m: StoredMessage, withReply = true): Record<string, unknown> {
    const chat = this.ensureChat(m.chat_id);
    const out: Record<string, unknown> = {
      message_id: m.message_id,
      from: m.from_bot ? { ...this.botUser } : m.from_user,
      chat: chatObject(chat),
      date: m.date,
    };
    if (m.message_thread_id !== undefined) {
      out.message_thread_id = m.message_thread_id;
      if (m.thread_is_topic) out.is_topic_message = true;
    }
    if (withReply && m.reply_to_message_id !== undefined) {
      const r = this.findMessage(m.chat_id, m.reply_to_message_id);
      if (r) out.reply_to_message = this.toApiMessage(r, false);
    }
    if (m.edit_date) out.edit_date = m.edit_date;
    if (m.document) {
      out.document = {
        file_id: `BQAC${m.chat_id}_${m.message_id}`,
        file_unique_id: `AgAD${m.message_id}`,
        file_name: m.document.file_name,
        mime_type: 'application/octet-stream',
        file_size: Buffer.byteLength(m.document.content),
      };
      if (m.plain_text) {
        out.caption = m.plain_text;
        if (m.entities?.length) out.caption_entities = m.entities;
      }
    } else {
      out.text = m.plain_text ?? m.text ?? '';
      if (m.entities?.length) out.entities = m.entities;
    }
    if (inlineKeyboardOf(m.reply_markup)) out.reply_markup = m.reply_markup;
    return out;
  }

  private replyTarget(chatId: number, params: Record<string, unknown>): number | undefined {
    const rp = params.reply_parameters as { message_id?: unknown; allow_sending_without_reply?: unknown } | undefined;
    const id = rp && typeof rp === 'object' ? Number(rp.message_id) : optNum(params, 'reply_to_message_id');
    if (id === undefined || Number.isNaN(id)) return undefined;
    const allow = (rp && rp.allow_sending_without_reply === true) || optBool(params, 'allow_sending_without_reply');
    const target = this.findMessage(chatId, id);
    if (!target || target.deleted) {
      if (allow) return undefined;
      throw bad('message to be replied not found');
    }
    return id;
  }

  private getEditable(params: Record<string, unknown>): StoredMessage {
    if (params.inline_message_id !== undefined) throw bad('inline messages are not supported by FakeTelegram');
    const chatId = this.resolveChatId(params);
    const messageId = optNum(params, 'message_id');
    if (messageId === undefined) throw bad('message identifier is not specified');
    const m = this.findMessage(chatId, messageId);
    if (!m || m.deleted) throw bad('message to edit not found');
    if (!m.from_bot) throw bad("message can't be edited");
    return m;
  }

  // ----------------------------------------------------------------- method implementations

  private async exec(method: string, params: Record<string, unknown>): Promise<unknown> {
    switch (method) {
      case 'getMe':
        return { ...this.botUser, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false };

      case 'deleteWebhook':
        this.webhook = undefined;
        if (optBool(params, 'drop_pending_updates')) this.queue.splice(0);
        return true;

      case 'setWebhook': {
        const url = optStr(params, 'url') ?? '';
        const secret = optStr(params, 'secret_token');
        if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) throw bad('secret token contains unallowed characters');
        if (url === '') {
          this.webhook = undefined;
          return true;
        }
        try {
          new URL(url);
        } catch {
          throw bad('bad webhook: invalid webhook URL specified');
        }
        this.webhook = compact({
          url,
          secret_token: secret,
          allowed_updates: Array.isArray(params.allowed_updates) ? (params.allowed_updates as string[]) : undefined,
          max_connections: optNum(params, 'max_connections'),
        });
        if (optBool(params, 'drop_pending_updates')) this.queue.splice(0);
        return true;
      }

      case 'getWebhookInfo':
        return compact({
          url: this.webhook?.url ?? '',
          has_custom_certificate: false,
          pending_update_count: this.queue.length,
          max_connections: this.webhook ? (this.webhook.max_connections ?? 40) : undefined,
          allowed_updates: this.webhook?.allowed_updates,
        });

      case 'setMyCommands': {
        const cmds = params.commands;
        if (!Array.isArray(cmds)) throw bad('parameter "commands" must be an Array');
        if (cmds.length > 100) throw bad('too many commands specified');
        const clean: { command: string; description: string }[] = [];
        for (const c of cmds as Record<string, unknown>[]) {
          const command = String(c?.command ?? '');
          const description = String(c?.description ?? '');
          if (!/^[a-z0-9_]{1,32}$/.test(command)) throw bad('BOT_COMMAND_INVALID');
          if (description.length < 1 || description.length > 256) throw bad('command description must be non-empty');
          clean.push({ command, description });
        }
        this.commands.set(this.commandsKey(params), clean);
        return true;
      }

      case 'getMyCommands':
        return this.commands.get(this.commandsKey(params)) ?? [];

      case 'deleteMyCommands':
        this.commands.delete(this.commandsKey(params));
        return true;

      case 'sendChatAction': {
        const chatId = this.resolveChatId(params);
        const action = optStr(params, 'action');
        if (!action) throw bad('action is empty');
        this.chatActions.push({ chat_id: chatId, action });
        return true;
      }

      case 'getChat': {
        const chatId = this.resolveChatId(params);
        const chat = this.chats.get(chatId);
        if (!chat) throw bad('chat not found');
        return chatObject(chat);
      }

      case 'sendMessage': {
        const chatId = this.resolveChatId(params);
        const text = optStr(params, 'text') ?? '';
        const parseMode = optStr(params, 'parse_mode');
        const parsed = parseText(text, parseMode);
        if (parsed.plain.trim().length === 0) throw bad('message text is empty');
        if (parsed.plain.length > MAX_TEXT) throw bad('message is too long');
        validateMarkup(params.reply_markup, false);
        const replyTo = this.replyTarget(chatId, params);
        this.ensureChat(chatId);
        const threadId = optNum(params, 'message_thread_id');
        const m: StoredMessage = {
          message_id: this.allocMessageId(chatId),
          chat_id: chatId,
          text,
          plain_text: parsed.plain,
          entities: parsed.entities,
          parse_mode: parseMode,
          reply_to_message_id: replyTo,
          message_thread_id: threadId,
          thread_is_topic: threadId !== undefined,
          reply_markup: inlineKeyboardOf(params.reply_markup) ? params.reply_markup : undefined,
          edits: [text],
          from_bot: true,
          date: Math.floor(Date.now() / 1000),
        };
        this.store(m);
        return this.toApiMessage(m);
      }

      case 'editMessageText': {
        const m = this.getEditable(params);
        if (m.document) throw bad('there is no text in the message to edit');
        const text = optStr(params, 'text') ?? '';
        const parseMode = optStr(params, 'parse_mode');
        const parsed = parseText(text, parseMode);
        if (parsed.plain.trim().length === 0) throw bad('message text is empty');
        if (parsed.plain.length > MAX_TEXT) throw bad('MESSAGE_TOO_LONG');
        validateMarkup(params.reply_markup, true);
        // Omitting reply_markup in editMessageText removes the inline keyboard (real behaviour).
        const newMarkup = inlineKeyboardOf(params.reply_markup) ? params.reply_markup : undefined;
        const sameText = parsed.plain === m.plain_text && canon(parsed.entities) === canon(m.entities ?? []);
        if (sameText && canon(newMarkup) === canon(m.reply_markup)) throw bad(NOT_MODIFIED);
        m.text = text;
        m.plain_text = parsed.plain;
        m.entities = parsed.entities;
        m.parse_mode = parseMode;
        m.reply_markup = newMarkup;
        if (m.edits.at(-1) !== text) m.edits.push(text); // a markup-only change is not a new text
        m.edit_date = Math.floor(Date.now() / 1000);
        return this.toApiMessage(m);
      }

      case 'editMessageReplyMarkup': {
        const m = this.getEditable(params);
        validateMarkup(params.reply_markup, true);
        const newMarkup = inlineKeyboardOf(params.reply_markup) ? params.reply_markup : undefined;
        if (canon(newMarkup) === canon(m.reply_markup)) throw bad(NOT_MODIFIED);
        m.reply_markup = newMarkup;
        m.edit_date = Math.floor(Date.now() / 1000);
        return this.toApiMessage(m);
      }

      case 'answerCallbackQuery': {
        const id = optStr(params, 'callback_query_id');
        if (!id || !this.openQueries.has(id)) throw bad('query is too old and response timeout expired or query ID is invalid');
        const text = optStr(params, 'text');
        if (text !== undefined && text.length > 200) throw bad('MESSAGE_TOO_LONG');
        this.callbackAnswers.push(compact({ callback_query_id: id, text, show_alert: optBool(params, 'show_alert') || undefined, url: optStr(params, 'url') }));
        return true;
      }

      case 'sendDocument': {
        const chatId = this.resolveChatId(params);
        const doc = params.document;
        let document: { file_name: string; content: string };
        if (doc && typeof doc === 'object' && 'filename' in doc) {
          const d = doc as { filename: string; content: string; size: number };
          if (d.size === 0) throw bad('file must be non-empty');
          document = { file_name: d.filename, content: d.content };
        } else if (typeof doc === 'string' && doc.length) {
          document = { file_name: doc.split('/').pop() ?? doc, content: '' };
        } else {
          throw bad('there is no document in the request');
        }
        const caption = optStr(params, 'caption') ?? '';
        const parseMode = optStr(params, 'parse_mode');
        const parsed = caption ? parseText(caption, parseMode) : { plain: '', entities: [] };
        if (parsed.plain.length > MAX_CAPTION) throw bad('message caption is too long');
        validateMarkup(params.reply_markup, false);
        const replyTo = this.replyTarget(chatId, params);
        this.ensureChat(chatId);
        const threadId = optNum(params, 'message_thread_id');
        const m: StoredMessage = {
          message_id: this.allocMessageId(chatId),
          chat_id: chatId,
          text: caption || undefined,
          plain_text: parsed.plain || undefined,
          entities: parsed.entities,
          parse_mode: parseMode,
          document,
          reply_to_message_id: replyTo,
          message_thread_id: threadId,
          thread_is_topic: threadId !== undefined,
          reply_markup: inlineKeyboardOf(params.reply_markup) ? params.reply_markup : undefined,
          edits: caption ? [caption] : [],
          from_bot: true,
          date: Math.floor(Date.now() / 1000),
        };
        this.store(m);
        return this.toApiMessage(m);
      }

      case 'deleteMessage': {
        const chatId = this.resolveChatId(params);
        const messageId = optNum(params, 'message_id');
        const m = messageId === undefined ? undefined : this.findMessage(chatId, messageId);
        if (!m || m.deleted) throw bad('message to delete not found');
        m.deleted = true;
        return true;
      }

      default:
        throw new TgApiError(404, 'Not Found');
    }
  }

  private commandsKey(params: Record<string, unknown>): string {
    const scope = params.scope as { type?: string; chat_id?: unknown; user_id?: unknown } | undefined;
    let key = scope?.type ?? 'default';
    if (scope?.chat_id !== undefined) key += `:${scope.chat_id}`;
    if (scope?.user_id !== undefined) key += `:${scope.user_id}`;
    return `${key}|${optStr(params, 'language_code') ?? ''}`;
  }
}
