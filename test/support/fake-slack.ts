/**
 * FakeSlack — a loopback stand-in for the Slack Web API (and the "Slack side" of an app's HTTP receiver),
 * good enough to run the real `@slack/bolt` / `@slack/web-api` against it.
 *
 *   const slack = await FakeSlack.start();
 *   const app = new App({ token: slack.botToken, signingSecret: slack.signingSecret,
 *                         clientOptions: { slackApiUrl: slack.apiUrl } });
 *   const server = await app.start({ port: 0, host: '127.0.0.1' });
 *   await slack.slashCommand(`http://127.0.0.1:${port}`, { command: '/diagnose', text: '502', userId: 'U1', channelId: 'C1' });
 *
 * Web API: `POST|GET /api/<method>` (form-urlencoded, JSON or query), auth via `Authorization: Bearer` (or a
 * `token` form field; JSON bodies must use the header, as on real Slack). Errors are HTTP 200 `{ok:false,error}`,
 * except injected rate limits (HTTP 429 + `Retry-After`). Enforces: section text ≤ 3000, ≤ 50 blocks,
 * header ≤ 150, ≤ 25 actions elements, button text ≤ 75 / value ≤ 2000, unique action_id / block_id
 * (→ invalid_blocks, with `errors` + `response_metadata.messages` like Slack), text ≤ 40000 (→ msg_too_long),
 * no content (→ no_text).
 * Also serves the upload URL handed out by files.getUploadURLExternal (`POST /upload/v1/<id>`) and
 * response_url endpoints (`POST /response/<id>`).
 */
import http from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { pollUntil } from './wait.ts';
import { parseMultipart } from './multipart.ts';

// ---------------------------------------------------------------------------------------------------------------
// Public types

export interface SlackMsg {
  ts: string;
  channel: string;
  thread_ts?: string;
  text?: string;
  blocks?: unknown[];
  /** chat.update payloads applied to this message, in order (only the fields each update carried). */
  updates: { text?: string; blocks?: unknown[] }[];
  ephemeral_user?: string;
  attachments?: unknown[];
  /** bot user id that posted it */
  user?: string;
  deleted?: boolean;
  reactions?: string[];
}

export interface SlackCall {
  method: string;
  params: Record<string, unknown>;
  at: number;
  status: number;
}

export interface SlackFile {
  id: string;
  channel?: string;
  thread_ts?: string;
  filename: string;
  content: string;
  title?: string;
  initial_comment?: string;
}

export type SlackFault = { status: 429; retryAfter: number } | { error: string };

export interface SlackChannelInfo {
  id: string;
  name: string;
  is_private?: boolean;
  is_member?: boolean;
  is_archived?: boolean;
}

export interface SlackUserInfo {
  id: string;
  name: string;
  real_name?: string;
  tz?: string;
  email?: string;
  is_bot?: boolean;
}

// ---------------------------------------------------------------------------------------------------------------
// Internals

const TEAM_ID = 'T0TEST';
const TEAM_DOMAIN = 'triage-test';
const BOT_USER_ID = 'U0BOT';
const BOT_ID = 'B0BOT';
const APP_ID = 'A0TRIAGE';

const JSON_FIELDS = new Set(['blocks', 'attachments', 'files', 'metadata']);

type Params = Record<string, unknown>;

class SlackApiError extends Error {
  constructor(
    readonly error: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(error);
  }
}

function newTriggerId(): string {
  return `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(8).toString('hex')}`;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function str(params: Params, key: string): string | undefined {
  const v = params[key];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : String(v);
}

function assertLoopback(u: URL): void {
  const h = u.hostname.replace(/^\[|\]$/g, '');
  if (!(h === '127.0.0.1' || h === 'localhost' || h === '::1')) {
    throw new Error(`refusing non-loopback URL ${u.toString()} (tests must only talk to 127.0.0.1)`);
  }
  if (u.protocol !== 'http:') throw new Error(`only http: URLs are supported, got ${u.toString()}`);
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}


// ----- Block Kit validation (the subset of real limits that bots actually hit) -----

class BlockValidator {
  readonly errors: string[] = [];
  private readonly blockIds = new Set<string>();
  private readonly actionIds = new Set<string>();

  private err(msg: string, p: string): void {
    this.errors.push(`${msg} [json-pointer:${p}]`);
  }

  private text(t: unknown, p: string, max: number, plainOnly = false): void {
    if (!isObj(t)) { this.err('must be an object', p); return; }
    if (t.type !== 'plain_text' && t.type !== 'mrkdwn') { this.err('must be either "plain_text" or "mrkdwn"', `${p}/type`); return; }
    if (plainOnly && t.type !== 'plain_text') { this.err('must be "plain_text"', `${p}/type`); return; }
    if (typeof t.text !== 'string') { this.err('must be a string', `${p}/text`); return; }
    if (t.text.length < 1) { this.err('must be more than 0 characters', `${p}/text`); return; }
    if (t.text.length > max) this.err(`must be less than ${max + 1} characters`, `${p}/text`);
  }

  private actionId(e: Record<string, unknown>, p: string): void {
    if (e.action_id === undefined) return;
    const id = String(e.action_id);
    if (id.length < 1 || id.length > 255) { this.err('must be between 1 and 255 characters', `${p}/action_id`); return; }
    if (this.actionIds.has(id)) this.err(`action_id "${id}" already exists`, `${p}/action_id`);
    this.actionIds.add(id);
  }

  element(e: unknown, p: string): void {
    if (!isObj(e) || typeof e.type !== 'string') { this.err('missing required field: type', p); return; }
    this.actionId(e, p);
    switch (e.type) {
      case 'button':
        this.text(e.text, `${p}/text`, 75, true);
        if (e.value !== undefined && String(e.value).length > 2000) this.err('must be less than 2001 characters', `${p}/value`);
        if (e.url !== undefined && String(e.url).length > 3000) this.err('must be less than 3001 characters', `${p}/url`);
        if (e.style !== undefined && e.style !== 'primary' && e.style !== 'danger') this.err('must be either "primary" or "danger"', `${p}/style`);
        break;
      case 'image':
        if (typeof e.image_url !== 'string' && !isObj(e.slack_file)) this.err('missing required field: image_url', p);
        if (typeof e.alt_text !== 'string') this.err('missing required field: alt_text', p);
        break;
      case 'static_select':
      case 'multi_static_select':
        if (!Array.isArray(e.options) && !Array.isArray(e.option_groups)) this.err('missing required field: options', p);
        else if (Array.isArray(e.options) && e.options.length > 100) this.err('must provide an array with no more than 100 items', `${p}/options`);
        break;
      case 'overflow':
        if (!Array.isArray(e.options) || e.options.length < 1 || e.options.length > 5) this.err('must provide an array with between 1 and 5 items', `${p}/options`);
        break;
      default:
        break;
    }
  }

  block(b: unknown, p: string): void {
    if (!isObj(b) || typeof b.type !== 'string') { this.err('missing required field: type', p); return; }
    if (b.block_id !== undefined) {
      const id = String(b.block_id);
      if (id.length < 1 || id.length > 255) this.err('must be between 1 and 255 characters', `${p}/block_id`);
      else if (this.blockIds.has(id)) this.err(`block_id "${id}" already exists`, `${p}/block_id`);
      this.blockIds.add(id);
    }
    switch (b.type) {
      case 'section': {
        if (b.text === undefined && b.fields === undefined) { this.err('must provide either text or fields', p); return; }
        if (b.text !== undefined) this.text(b.text, `${p}/text`, 3000);
        if (b.fields !== undefined) {
          if (!Array.isArray(b.fields) || b.fields.length < 1 || b.fields.length > 10) this.err('must provide an array with between 1 and 10 items', `${p}/fields`);
          else for (const [j, f] of b.fields.entries()) this.text(f, `${p}/fields/${j}`, 2000);
        }
        if (b.accessory !== undefined) this.element(b.accessory, `${p}/accessory`);
        break;
      }
      case 'header':
        this.text(b.text, `${p}/text`, 150, true);
        break;
      case 'divider':
        break;
      case 'context':
        if (!Array.isArray(b.elements) || b.elements.length < 1 || b.elements.length > 10) {
          this.err('must provide an array with between 1 and 10 items', `${p}/elements`);
        } else {
          for (const [j, e] of b.elements.entries()) {
            if (isObj(e) && e.type === 'image') this.element(e, `${p}/elements/${j}`);
            else this.text(e, `${p}/elements/${j}`, 3000);
          }
        }
        break;
      case 'actions':
        if (!Array.isArray(b.elements) || b.elements.length < 1 || b.elements.length > 25) {
          this.err('must provide an array with between 1 and 25 items', `${p}/elements`);
        } else {
          for (const [j, e] of b.elements.entries()) this.element(e, `${p}/elements/${j}`);
        }
        break;
      case 'image':
        if (typeof b.image_url !== 'string' && !isObj(b.slack_file)) this.err('missing required field: image_url', p);
        if (typeof b.alt_text !== 'string') this.err('missing required field: alt_text', p);
        else if (b.alt_text.length > 2000) this.err('must be less than 2001 characters', `${p}/alt_text`);
        if (b.title !== undefined) this.text(b.title, `${p}/title`, 2000, true);
        break;
      case 'markdown':
        if (typeof b.text !== 'string' || b.text.length < 1) this.err('missing required field: text', p);
        else if (b.text.length > 12000) this.err('must be less than 12001 characters', `${p}/text`);
        break;
      case 'rich_text':
        if (!Array.isArray(b.elements)) this.err('missing required field: elements', p);
        break;
      case 'input':
        this.text(b.label, `${p}/label`, 2000, true);
        if (b.element === undefined) this.err('missing required field: element', p);
        else this.element(b.element, `${p}/element`);
        break;
      case 'file':
      case 'video':
      case 'table':
      case 'call':
      case 'context_actions':
        break;
      default:
        this.err('failed to match all allowed schemas', p);
    }
  }

  blocks(blocks: unknown[]): void {
    if (blocks.length > 50) this.err('must provide an array with no more than 50 items', '/blocks');
    for (const [i, b] of blocks.entries()) this.block(b, `/blocks/${i}`);
  }
}

function invalidBlocks(errors: string[]): SlackApiError {
  return new SlackApiError('invalid_blocks', { errors, response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) } });
}

/** Validates message content params; returns the normalized content. */
function readContent(params: Params, opts: { requireContent: boolean }): { text?: string; blocks?: unknown[]; attachments?: unknown[] } {
  const text = str(params, 'text');
  let blocks: unknown[] | undefined;
  let attachments: unknown[] | undefined;
  if (params.blocks !== undefined && params.blocks !== '') {
    if (!Array.isArray(params.blocks)) throw new SlackApiError('invalid_blocks_format');
    blocks = params.blocks;
    const v = new BlockValidator();
    v.blocks(blocks);
    if (v.errors.length) throw invalidBlocks(v.errors);
  }
  if (params.attachments !== undefined && params.attachments !== '') {
    if (!Array.isArray(params.attachments)) throw new SlackApiError('invalid_attachments');
    attachments = params.attachments;
    if (attachments.length > 100) throw new SlackApiError('too_many_attachments');
  }
  if (opts.requireContent && !text && !blocks?.length && !attachments?.length) throw new SlackApiError('no_text');
  if (text !== undefined && text.length > 40000) throw new SlackApiError('msg_too_long');
  return { text, blocks, attachments };
}

function findButton(blocks: unknown[] | undefined, actionId: string): { block_id: string; element: Record<string, unknown> } | undefined {
  for (const [i, b] of (blocks ?? []).entries()) {
    if (!isObj(b)) continue;
    const blockId = typeof b.block_id === 'string' ? b.block_id : `blk${i}`;
    const candidates: unknown[] = [];
    if (Array.isArray(b.elements)) candidates.push(...b.elements);
    if (b.accessory !== undefined) candidates.push(b.accessory);
    for (const e of candidates) if (isObj(e) && e.action_id === actionId) return { block_id: blockId, element: e };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------

export class FakeSlack {
  readonly apiUrl: string;
  readonly baseUrl: string;
  readonly botToken: string;
  readonly signingSecret: string;
  readonly botUserId = BOT_USER_ID;
  readonly botId = BOT_ID;
  readonly teamId = TEAM_ID;

  /** Every Web API request (plus `upload` for upload-URL posts and `response_url` for response_url posts). */
  readonly calls: SlackCall[] = [];
  readonly responses: { url: string; body: unknown }[] = [];
  readonly files: SlackFile[] = [];

  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  private readonly msgs: SlackMsg[] = [];
  private readonly faults = new Map<string, { fault: SlackFault; remaining: number }[]>();
  private readonly channels = new Map<string, SlackChannelInfo>();
  private readonly users = new Map<string, SlackUserInfo>();
  private readonly pendingUploads = new Map<string, { id: string; filename: string; length: number; title?: string; content?: Buffer }>();
  private readonly uploadKeys = new Map<string, string>();
  private tsCounter = 1_700_000_000_000_100n;
  private fileSeq = 1;
  private closed = false;
  /** When true, conversations.info / chat.postMessage reject channels not registered with addChannel(). */
  strictChannels = false;

  private constructor(server: http.Server, port: number, botToken: string, signingSecret: string) {
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${port}`;
    this.apiUrl = `${this.baseUrl}/api/`;
    this.botToken = botToken;
    this.signingSecret = signingSecret;
  }

  static async start(opts: { botToken?: string; signingSecret?: string } = {}): Promise<FakeSlack> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const fake = new FakeSlack(
      server,
      (server.address() as AddressInfo).port,
      opts.botToken ?? 'xoxb-0000-test-token',
      opts.signingSecret ?? 'test-signing-secret-0123456789abcdef',
    );
    server.on('connection', (s: Socket) => {
      fake.sockets.add(s);
      s.on('close', () => fake.sockets.delete(s));
    });
    server.on('request', (req, res) => {
      fake.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) fake.json(res, 500, { ok: false, error: 'internal_error', detail: String(err) });
        else res.destroy();
      });
    });
    return fake;
  }

  // ----------------------------------------------------------------- workspace setup

  addChannel(info: SlackChannelInfo): void {
    this.channels.set(info.id, { is_member: true, is_archived: false, is_private: false, ...info });
  }

  addUser(info: SlackUserInfo): void {
    this.users.set(info.id, { ...info });
  }

  // ----------------------------------------------------------------- user side (signed requests to the app)

  /** Signs `rawBody` like Slack: `v0=` + hex HMAC-SHA256(secret, `v0:${ts}:${rawBody}`). */
  sign(rawBody: string, timestampSec: number, secret = this.signingSecret): string {
    return `v0=${createHmac('sha256', secret).update(`v0:${timestampSec}:${rawBody}`).digest('hex')}`;
  }

  /** A user runs a slash command. appUrl may be the app's base URL (→ /slack/events) or the full endpoint URL. */
  async slashCommand(
    appUrl: string,
    opts: {
      command: string;
      text: string;
      userId: string;
      channelId: string;
      userName?: string;
      retryNum?: number;
      badSignature?: boolean;
      timestampOffsetSec?: number;
      /** A retry carries the original payload: pass the first delivery's trigger_id (and response_url). */
      triggerId?: string;
      responseUrl?: string;
    },
  ): Promise<{ status: number; body: string; ms: number; responseUrl: string; triggerId: string }> {
    const responseUrl = opts.responseUrl ?? this.newResponseUrl();
    const triggerId = opts.triggerId ?? newTriggerId();
    const form = new URLSearchParams({
      token: 'legacy-verification-token',
      team_id: TEAM_ID,
      team_domain: TEAM_DOMAIN,
      channel_id: opts.channelId,
      channel_name: this.channelInfo(opts.channelId)?.name ?? 'general',
      user_id: opts.userId,
      user_name: opts.userName ?? opts.userId.toLowerCase(),
      command: opts.command,
      text: opts.text,
      api_app_id: APP_ID,
      is_enterprise_install: 'false',
      response_url: responseUrl,
      trigger_id: triggerId,
    });
    const res = await this.postSigned(appUrl, form.toString(), 'application/x-www-form-urlencoded', opts);
    return { ...res, responseUrl, triggerId };
  }

  /** A user clicks a button (block_actions) on a message this fake holds. Throws if the message or the
   * action_id does not exist, unless `stale: true`. */
  async clickButton(
    appUrl: string,
    opts: {
      userId: string;
      channelId: string;
      messageTs: string;
      actionId: string;
      value: string;
      userName?: string;
      retryNum?: number;
      badSignature?: boolean;
      stale?: boolean;
      /** A retry carries the original payload: pass the first delivery's trigger_id. */
      triggerId?: string;
    },
  ): Promise<{ status: number; body: string; ms: number; responseUrl: string; triggerId: string }> {
    const channel = this.channelKey(opts.channelId);
    const msg = this.msgs.find((m) => m.channel === channel && m.ts === opts.messageTs && !m.deleted);
    if (!msg && !opts.stale) throw new Error(`clickButton: no message ${opts.messageTs} in ${opts.channelId}`);
    const found = findButton(msg?.blocks, opts.actionId);
    if (!found && !opts.stale) {
      throw new Error(`clickButton: message ${opts.messageTs} has no element with action_id ${JSON.stringify(opts.actionId)}`);
    }
    const responseUrl = this.newResponseUrl();
    const el = found?.element;
    const action: Record<string, unknown> = {
      action_id: opts.actionId,
      block_id: found?.block_id ?? 'stale',
      text: isObj(el?.text) ? el.text : { type: 'plain_text', text: opts.value, emoji: true },
      value: opts.value,
      type: (el?.type as string | undefined) ?? 'button',
      action_ts: `${(Date.now() / 1000).toFixed(6)}`,
    };
    if (el?.style !== undefined) action.style = el.style;
    const user = { id: opts.userId, username: opts.userName ?? opts.userId.toLowerCase(), name: opts.userName ?? opts.userId.toLowerCase(), team_id: TEAM_ID };
    const payload = {
      type: 'block_actions',
      user,
      api_app_id: APP_ID,
      token: 'legacy-verification-token',
      container: { type: 'message', message_ts: opts.messageTs, channel_id: channel, is_ephemeral: !!msg?.ephemeral_user },
      trigger_id: opts.triggerId ?? newTriggerId(),
      team: { id: TEAM_ID, domain: TEAM_DOMAIN },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: channel, name: this.channelInfo(channel)?.name ?? 'general' },
      message: msg ? this.apiMessage(msg) : undefined,
      state: { values: {} },
      response_url: responseUrl,
      actions: [action],
    };
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const res = await this.postSigned(appUrl, body, 'application/x-www-form-urlencoded', opts);
    return { ...res, responseUrl, triggerId: payload.trigger_id };
  }

  /** Delivers an Events API `event_callback` (e.g. `{ type: 'app_mention', user, text, channel, ts }`). */
  async sendEvent(
    appUrl: string,
    event: Record<string, unknown>,
    opts: { retryNum?: number; badSignature?: boolean; timestampOffsetSec?: number } = {},
  ): Promise<{ status: number; body: string; ms: number }> {
    const envelope = {
      token: 'legacy-verification-token',
      team_id: TEAM_ID,
      api_app_id: APP_ID,
      event: { event_ts: this.nextTs(), ...event },
      type: 'event_callback',
      event_id: `Ev${randomBytes(5).toString('hex').toUpperCase()}`,
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ enterprise_id: null, team_id: TEAM_ID, user_id: BOT_USER_ID, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
    };
    return await this.postSigned(appUrl, JSON.stringify(envelope), 'application/json', opts);
  }

  private newResponseUrl(): string {
    return `${this.baseUrl}/response/${TEAM_ID}/${Date.now()}/${randomBytes(12).toString('hex')}`;
  }

  private async postSigned(
    appUrl: string,
    body: string,
    contentType: string,
    opts: { retryNum?: number; badSignature?: boolean; timestampOffsetSec?: number },
  ): Promise<{ status: number; body: string; ms: number }> {
    const u = new URL(appUrl);
    assertLoopback(u);
    if (u.pathname === '/' || u.pathname === '') u.pathname = '/slack/events';
    const ts = Math.floor(Date.now() / 1000) + (opts.timestampOffsetSec ?? 0);
    const signature = this.sign(body, ts, opts.badSignature ? `${this.signingSecret}-wrong` : this.signingSecret);
    const buf = Buffer.from(body);
    const headers: Record<string, string | number> = {
      'content-type': contentType,
      'content-length': buf.length,
      'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': signature,
    };
    if (opts.retryNum !== undefined) {
      headers['x-slack-retry-num'] = String(opts.retryNum);
      headers['x-slack-retry-reason'] = 'http_timeout';
    }
    const started = performance.now();
    return await new Promise((resolve, reject) => {
      const req = http.request(
        { method: 'POST', hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: Math.round(performance.now() - started) }),
          );
          res.on('error', reject);
        },
      );
      req.setTimeout(30_000, () => req.destroy(new Error(`POST ${u.toString()} timed out`)));
      req.on('error', reject);
      req.end(buf);
    });
  }

  // ----------------------------------------------------------------- faults

  /** The next `times` calls of `method` fail. `method` is a Web API method name, or `upload` (the upload URL)
   * or `response_url`. 429 → HTTP 429 + Retry-After; `{error}` → HTTP 200 `{ok:false,error}` (404 for response_url). */
  failNext(method: string, opts: SlackFault, times = 1): void {
    const list = this.faults.get(method) ?? [];
    list.push({ fault: opts, remaining: times });
    this.faults.set(method, list);
  }

  // ----------------------------------------------------------------- observations

  /** Channel messages in order (thread replies included, with thread_ts; ephemerals with ephemeral_user).
   * Deleted messages are excluded unless `includeDeleted`. A user id (U…) resolves to its DM channel. */
  messages(channel: string, opts: { includeDeleted?: boolean } = {}): SlackMsg[] {
    const key = this.channelKey(channel);
    return this.msgs.filter((m) => m.channel === key && (opts.includeDeleted || !m.deleted));
  }

  callsOf(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  waitFor<T>(pred: () => T | undefined | false | null, timeoutMs = 10_000): Promise<T> {
    return pollUntil(pred, { timeoutMs, what: () => this.describeRecentCalls(), label: 'FakeSlack.waitFor' });
  }

  describeRecentCalls(n = 15): string {
    const lines = this.calls.slice(-n).map((c) => {
      const { token: _t, ...rest } = c.params;
      let p = JSON.stringify(rest);
      if (p.length > 200) p = `${p.slice(0, 200)}…`;
      return `  ${new Date(c.at).toISOString().slice(11, 23)} ${c.method} → ${c.status} ${p}`;
    });
    return `recent Slack calls:\n${lines.join('\n') || '  (none)'}\nresponse_url posts: ${this.responses.length}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await closing;
  }

  // ----------------------------------------------------------------- HTTP

  private json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    const json = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json), ...headers });
    res.end(json);
  }

  private takeFault(method: string): SlackFault | undefined {
    const list = this.faults.get(method);
    const head = list?.[0];
    if (!list || !head) return undefined;
    head.remaining--;
    if (head.remaining <= 0) list.shift();
    return head.fault;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.baseUrl);
    const body = await readBody(req);
    const contentType = String(req.headers['content-type'] ?? '').toLowerCase();

    if (url.pathname.startsWith('/upload/v1/')) return this.handleUpload(url, contentType, body, res);
    if (url.pathname.startsWith('/response/')) return this.handleResponseUrl(url, body, res);

    const m = /^\/api\/([A-Za-z0-9_.]+)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    const method = m[1];
    const call: SlackCall = { method, params: {}, at: Date.now(), status: 0 };
    this.calls.push(call);
    const reply = (status: number, payload: unknown, headers?: Record<string, string>) => {
      call.status = status;
      this.json(res, status, payload, headers);
    };

    const params: Params = {};
    for (const [k, v] of url.searchParams) params[k] = v;
    const isJson = contentType.includes('application/json');
    if (body.length) {
      if (isJson) {
        try {
          const parsed: unknown = JSON.parse(body.toString('utf8'));
          if (isObj(parsed)) Object.assign(params, parsed);
        } catch {
          return reply(200, { ok: false, error: 'invalid_json' });
        }
      } else if (contentType.includes('multipart/form-data')) {
        const b = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(String(req.headers['content-type']));
        for (const p of b ? parseMultipart(body, b[1] ?? b[2]) : []) params[p.name] = p.filename !== undefined ? p.data : p.data.toString('utf8');
      } else {
        for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = v;
      }
    }
    for (const k of Object.keys(params)) {
      const v = params[k];
      if (JSON_FIELDS.has(k) && typeof v === 'string' && v.length) {
        try {
          params[k] = JSON.parse(v);
        } catch {
          /* leave as string: the method reports *_format errors */
        }
      }
    }
    call.params = params;

    // auth
    const authz = String(req.headers.authorization ?? '');
    const bearer = /^Bearer\s+(.+)$/i.exec(authz)?.[1];
    const token = bearer ?? (isJson ? undefined : str(params, 'token'));
    if (!token) return reply(200, { ok: false, error: 'not_authed' });
    if (token !== this.botToken) return reply(200, { ok: false, error: 'invalid_auth' });

    const fault = this.takeFault(method);
    if (fault) {
      if ('status' in fault) return reply(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(fault.retryAfter) });
      return reply(200, { ok: false, error: fault.error });
    }

    try {
      const result = this.exec(method, params);
      reply(200, { ok: true, ...result });
    } catch (e) {
      if (e instanceof SlackApiError) return reply(200, { ok: false, error: e.error, ...e.extra });
      throw e;
    }
  }

  private handleUpload(url: URL, contentType: string, body: Buffer, res: http.ServerResponse): void {
    const call: SlackCall = { method: 'upload', params: { url: url.toString(), bytes: body.length }, at: Date.now(), status: 0 };
    this.calls.push(call);
    const fault = this.takeFault('upload');
    if (fault) {
      call.status = 'status' in fault ? 429 : 500;
      res.writeHead(call.status, 'status' in fault ? { 'retry-after': String(fault.retryAfter) } : {});
      res.end('status' in fault ? 'ratelimited' : fault.error);
      return;
    }
    const key = url.pathname.slice('/upload/v1/'.length);
    const fileId = this.uploadKeys.get(key);
    const pending = fileId ? this.pendingUploads.get(fileId) : undefined;
    if (!pending) {
      call.status = 404;
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    let data = body;
    if (contentType.includes('multipart/form-data')) {
      const b = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
      const parts = b ? parseMultipart(body, b[1] ?? b[2]) : [];
      data = (parts.find((p) => p.filename !== undefined) ?? parts[0])?.data ?? Buffer.alloc(0);
    }
    pending.content = Buffer.from(data);
    call.params = { ...call.params, file_id: pending.id, filename: pending.filename, bytes: data.length };
    call.status = 200;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`OK - ${data.length}`);
  }

  private handleResponseUrl(url: URL, body: Buffer, res: http.ServerResponse): void {
    let parsed: unknown = body.toString('utf8');
    try {
      parsed = JSON.parse(parsed as string);
    } catch {
      /* keep raw */
    }
    const call: SlackCall = { method: 'response_url', params: isObj(parsed) ? parsed : { body: parsed }, at: Date.now(), status: 0 };
    this.calls.push(call);
    const fault = this.takeFault('response_url');
    if (fault) {
      call.status = 'status' in fault ? 429 : 404;
      res.writeHead(call.status, { 'content-type': 'text/plain', ...('status' in fault ? { 'retry-after': String(fault.retryAfter) } : {}) });
      res.end('status' in fault ? 'ratelimited' : fault.error);
      return;
    }
    this.responses.push({ url: url.toString(), body: parsed });
    call.status = 200;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  }

  // ----------------------------------------------------------------- workspace model

  private nextTs(): string {
    const v = this.tsCounter;
    this.tsCounter += 100n;
    const s = v.toString();
    return `${s.slice(0, -6)}.${s.slice(-6)}`;
  }

  /** User ids map to a DM channel id (D…), as chat.postMessage does on real Slack. */
  private channelKey(channel: string): string {
    if (/^[UW][A-Z0-9]+$/.test(channel)) return `D${channel.slice(1)}`;
    if (channel.startsWith('#')) {
      for (const c of this.channels.values()) if (`#${c.name}` === channel) return c.id;
    }
    return channel;
  }

  private channelInfo(id: string): SlackChannelInfo | undefined {
    const known = this.channels.get(id);
    if (known) return known;
    if (this.strictChannels || !/^[CGD][A-Z0-9]+$/.test(id)) return undefined;
    return { id, name: id.startsWith('D') ? id : `chan-${id.toLowerCase()}`, is_private: id.startsWith('G'), is_member: true, is_archived: false };
  }

  private requireChannel(params: Params, key = 'channel'): SlackChannelInfo {
    const raw = str(params, key);
    if (!raw) throw new SlackApiError('channel_not_found');
    const id = this.channelKey(raw);
    const info = this.channelInfo(id);
    if (!info) throw new SlackApiError('channel_not_found');
    return info;
  }

  private apiMessage(m: SlackMsg): Record<string, unknown> {
    const out: Record<string, unknown> = {
      type: 'message',
      subtype: undefined,
      text: m.text ?? '',
      user: m.user ?? BOT_USER_ID,
      bot_id: BOT_ID,
      app_id: APP_ID,
      team: TEAM_ID,
      ts: m.ts,
      bot_profile: { id: BOT_ID, app_id: APP_ID, name: 'Triage', deleted: false, team_id: TEAM_ID },
    };
    if (m.thread_ts) out.thread_ts = m.thread_ts;
    if (m.blocks) out.blocks = m.blocks;
    if (m.attachments) out.attachments = m.attachments;
    if (m.updates.length) out.edited = { user: BOT_USER_ID, ts: m.ts };
    delete out.subtype;
    return out;
  }

  private findMsg(channel: string, ts: string | undefined): SlackMsg | undefined {
    return this.msgs.find((m) => m.channel === channel && m.ts === ts && !m.deleted && !m.ephemeral_user);
  }

  private exec(method: string, params: Params): Record<string, unknown> {
    switch (method) {
      case 'api.test':
        return { args: params };

      case 'auth.test':
        return {
          url: `https://${TEAM_DOMAIN}.slack.com/`,
          team: 'Triage Test',
          user: 'triage',
          team_id: TEAM_ID,
          user_id: BOT_USER_ID,
          bot_id: BOT_ID,
          is_enterprise_install: false,
        };

      case 'chat.postMessage': {
        const ch = this.requireChannel(params);
        if (ch.is_archived) throw new SlackApiError('is_archived');
        if (ch.is_member === false) throw new SlackApiError('not_in_channel');
        const content = readContent(params, { requireContent: true });
        const threadTs = str(params, 'thread_ts') || undefined;
        const m: SlackMsg = {
          ts: this.nextTs(),
          channel: ch.id,
          thread_ts: threadTs,
          text: content.text,
          blocks: content.blocks,
          attachments: content.attachments,
          updates: [],
          user: BOT_USER_ID,
        };
        this.msgs.push(m);
        return { channel: ch.id, ts: m.ts, message: this.apiMessage(m) };
      }

      case 'chat.postEphemeral': {
        const ch = this.requireChannel(params);
        const user = str(params, 'user');
        if (!user) throw new SlackApiError('user_not_found');
        if (ch.is_member === false) throw new SlackApiError('not_in_channel');
        const content = readContent(params, { requireContent: true });
        const m: SlackMsg = {
          ts: this.nextTs(),
          channel: ch.id,
          thread_ts: str(params, 'thread_ts') || undefined,
          text: content.text,
          blocks: content.blocks,
          attachments: content.attachments,
          updates: [],
          ephemeral_user: user,
          user: BOT_USER_ID,
        };
        this.msgs.push(m);
        return { message_ts: m.ts };
      }

      case 'chat.update': {
        const ch = this.requireChannel(params);
        const ts = str(params, 'ts');
        const m = this.findMsg(ch.id, ts);
        if (!m) throw new SlackApiError('message_not_found');
        const content = readContent(params, { requireContent: false });
        const hasBlocks = params.blocks !== undefined && params.blocks !== '';
        if (content.text === undefined && !hasBlocks && content.attachments === undefined) throw new SlackApiError('no_text');
        const upd: { text?: string; blocks?: unknown[] } = {};
        if (content.text !== undefined) {
          m.text = content.text;
          upd.text = content.text;
        }
        // omitted blocks are kept; `blocks: []` removes them (real chat.update semantics)
        if (hasBlocks) {
          m.blocks = content.blocks?.length ? content.blocks : undefined;
          upd.blocks = content.blocks ?? [];
        }
        if (content.attachments !== undefined) m.attachments = content.attachments;
        m.updates.push(upd);
        return { channel: ch.id, ts: m.ts, text: m.text ?? '', message: this.apiMessage(m) };
      }

      case 'chat.delete': {
        const ch = this.requireChannel(params);
        const m = this.findMsg(ch.id, str(params, 'ts'));
        if (!m) throw new SlackApiError('message_not_found');
        m.deleted = true;
        return { channel: ch.id, ts: m.ts };
      }

      case 'chat.getPermalink': {
        const ch = this.requireChannel(params);
        const ts = str(params, 'message_ts');
        const m = this.msgs.find((x) => x.channel === ch.id && x.ts === ts && !x.deleted);
        if (!m) throw new SlackApiError('message_not_found');
        const base = `https://${TEAM_DOMAIN}.slack.com/archives/${ch.id}/p${m.ts.replace('.', '')}`;
        return { channel: ch.id, permalink: m.thread_ts ? `${base}?thread_ts=${m.thread_ts}&cid=${ch.id}` : base };
      }

      case 'reactions.add': {
        const ch = this.requireChannel(params);
        const m = this.findMsg(ch.id, str(params, 'timestamp'));
        if (!m) throw new SlackApiError('message_not_found');
        const name = str(params, 'name');
        if (!name) throw new SlackApiError('invalid_name');
        m.reactions ??= [];
        if (m.reactions.includes(name)) throw new SlackApiError('already_reacted');
        m.reactions.push(name);
        return {};
      }

      case 'conversations.info': {
        const ch = this.requireChannel(params);
        const isDm = ch.id.startsWith('D');
        return {
          channel: {
            id: ch.id,
            name: ch.name,
            is_channel: !isDm && !ch.is_private,
            is_group: !!ch.is_private,
            is_im: isDm,
            is_private: !!ch.is_private,
            is_archived: !!ch.is_archived,
            is_general: ch.name === 'general',
            is_member: ch.is_member !== false,
            is_shared: false,
            is_ext_shared: false,
            is_org_shared: false,
            created: 1_600_000_000,
            creator: 'U0CREATOR',
            name_normalized: ch.name,
            topic: { value: '', creator: '', last_set: 0 },
            purpose: { value: '', creator: '', last_set: 0 },
            context_team_id: TEAM_ID,
          },
        };
      }

      case 'users.info': {
        const id = str(params, 'user');
        if (!id) throw new SlackApiError('user_not_found');
        const known = this.users.get(id);
        if (!known && !/^[UW][A-Z0-9]+$/.test(id)) throw new SlackApiError('user_not_found');
        const u: SlackUserInfo = known ?? { id, name: id.toLowerCase(), real_name: `User ${id}`, tz: 'UTC' };
        return {
          user: {
            id: u.id,
            team_id: TEAM_ID,
            name: u.name,
            deleted: false,
            real_name: u.real_name ?? u.name,
            tz: u.tz ?? 'UTC',
            tz_label: 'Coordinated Universal Time',
            tz_offset: 0,
            is_admin: false,
            is_owner: false,
            is_bot: !!u.is_bot,
            is_app_user: false,
            updated: 1_700_000_000,
            profile: {
              real_name: u.real_name ?? u.name,
              display_name: u.name,
              email: u.email,
              team: TEAM_ID,
            },
          },
        };
      }

      case 'conversations.history':
      case 'conversations.replies': {
        const ch = this.requireChannel(params);
        const ts = str(params, 'ts');
        let list = this.msgs.filter((m) => m.channel === ch.id && !m.deleted && !m.ephemeral_user);
        if (method === 'conversations.replies') {
          if (!ts || !list.some((m) => m.ts === ts)) throw new SlackApiError('thread_not_found');
          list = list.filter((m) => m.ts === ts || m.thread_ts === ts);
        } else {
          list = list.filter((m) => !m.thread_ts || m.thread_ts === m.ts).reverse();
        }
        return { messages: list.map((m) => this.apiMessage(m)), has_more: false, response_metadata: { next_cursor: '' } };
      }

      case 'files.getUploadURLExternal': {
        const filename = str(params, 'filename');
        const length = Number(str(params, 'length'));
        if (!filename) throw new SlackApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: filename'] } });
        if (!Number.isInteger(length) || length < 1) {
          throw new SlackApiError('invalid_arguments', { response_metadata: { messages: ['[ERROR] missing required field: length'] } });
        }
        const id = `F0${String(this.fileSeq++).padStart(8, '0')}`;
        const key = `${id}-${randomBytes(8).toString('hex')}`;
        this.pendingUploads.set(id, { id, filename, length });
        this.uploadKeys.set(key, id);
        return { upload_url: `${this.baseUrl}/upload/v1/${key}`, file_id: id };
      }

      case 'files.completeUploadExternal': {
        const files = params.files;
        if (!Array.isArray(files) || files.length === 0) throw new SlackApiError('invalid_arguments');
        const channelRaw = str(params, 'channel_id') ?? str(params, 'channels');
        const channel = channelRaw ? this.requireChannel({ channel: channelRaw }).id : undefined;
        const threadTs = str(params, 'thread_ts') || undefined;
        const initial = str(params, 'initial_comment');
        const ready = files.map((f) => {
          const id = isObj(f) ? String(f.id ?? '') : '';
          const p = this.pendingUploads.get(id);
          if (!p?.content) throw new SlackApiError('file_not_found');
          return { p, title: isObj(f) && typeof f.title === 'string' ? f.title : undefined };
        });
        const out: Record<string, unknown>[] = [];
        for (const { p, title } of ready) {
          this.pendingUploads.delete(p.id);
          const content = p.content!.toString('utf8');
          this.files.push({ id: p.id, channel, thread_ts: threadTs, filename: p.filename, content, title: title ?? p.filename, initial_comment: initial });
          out.push({
            id: p.id,
            created: Math.floor(Date.now() / 1000),
            timestamp: Math.floor(Date.now() / 1000),
            name: p.filename,
            title: title ?? p.filename,
            mimetype: 'text/plain',
            filetype: 'text',
            user: BOT_USER_ID,
            size: p.content!.length,
            url_private: `https://files.slack.com/files-pri/${TEAM_ID}-${p.id}/${encodeURIComponent(p.filename)}`,
            permalink: `https://${TEAM_DOMAIN}.slack.com/files/${BOT_USER_ID}/${p.id}/${encodeURIComponent(p.filename)}`,
            channels: channel ? [channel] : [],
          });
        }
        return { files: out };
      }

      default:
        throw new SlackApiError('unknown_method', { req_method: method });
    }
  }
}
