/**
 * Slack payloads → {@link IncomingCommand}. Pure functions, no I/O.
 *
 * Identities: users `slack:<user id>`, places `slack:<channel id>`. The
 * delivery id is the payload's `trigger_id` — Slack sends the same payload
 * (same trigger_id) when it retries (`X-Slack-Retry-Num`), so the core can
 * drop the repeat. A click falls back to the action's `action_ts` when a
 * payload has no trigger_id.
 *
 * Deliberately left out: access control (ids pass through untouched) and
 * interactions other than buttons (menus, modals).
 */
import type { IncomingCommand, MessageRef } from '../adapter.ts';

/** The fields of a slash command payload we use. */
export interface SlashCommandPayload {
  command: string;
  text: string;
  user_id: string;
  user_name?: string;
  channel_id: string;
  trigger_id: string;
}

/** `/diagnose` + `502 shop` → a command typed by `slack:<user_id>` in `slack:<channel_id>`. */
export function commandFromSlash(p: SlashCommandPayload): IncomingCommand {
  return {
    platform: 'slack',
    user: `slack:${p.user_id}`,
    userName: p.user_name ?? '',
    room: `slack:${p.channel_id}`,
    text: `${p.command} ${p.text ?? ''}`.trim(),
    via: 'text',
    deliveryId: p.trigger_id,
  };
}

/** The fields of a `block_actions` payload we use. */
export interface BlockActionsPayload {
  type: string;
  trigger_id?: string;
  user: { id: string; username?: string; name?: string };
  channel?: { id: string };
  container?: { message_ts?: string; channel_id?: string; thread_ts?: string };
  message?: { ts: string; thread_ts?: string };
  actions: { type: string; action_id: string; value?: string; action_ts?: string }[];
}

/** A button click → the button's command, as the clicking user. `null` for anything else. */
export function commandFromClick(p: BlockActionsPayload): IncomingCommand | null {
  const action = p.actions?.[0];
  if (p.type !== 'block_actions' || !action || action.type !== 'button' || typeof action.value !== 'string' || !action.value.startsWith('/')) return null;
  const channel = p.channel?.id ?? p.container?.channel_id;
  const ts = p.message?.ts ?? p.container?.message_ts;
  if (!channel || !ts) return null;
  const room = `slack:${channel}`;
  const threadTs = p.message?.thread_ts ?? p.container?.thread_ts;
  // A thread reply's thread_ts is its root; a root's thread_ts equals its own ts.
  const thread = threadTs && threadTs !== ts ? threadTs : undefined;
  const message: MessageRef = { room, id: ts, ...(thread ? { thread } : {}) };
  const deliveryId = p.trigger_id ?? action.action_ts;
  if (!deliveryId) return null;
  return {
    platform: 'slack',
    user: `slack:${p.user.id}`,
    userName: p.user.username ?? p.user.name ?? '',
    room,
    text: action.value,
    via: 'button',
    deliveryId,
    ...(thread ? { thread } : {}),
    message,
  };
}

/** The fields of an `app_mention` event we use. */
export interface MentionEvent {
  type: string;
  user?: string;
  text?: string;
  channel?: string;
  ts?: string;
  /** Set when the mention was written in a thread: the thread's root. */
  thread_ts?: string;
  bot_id?: string;
}

/**
 * `@Triage note rolled back` written in a thread → `/note rolled back` in
 * that thread (Slack has no slash commands in threads, so a mention is how a
 * thread talks to the bot). The delivery id is the envelope's `event_id`,
 * which Slack repeats on retries. `null` for bots and empty mentions.
 */
export function commandFromMention(e: MentionEvent, eventId: string): IncomingCommand | null {
  if (e.type !== 'app_mention' || !e.user || e.bot_id || !e.channel || typeof e.text !== 'string') return null;
  const words = e.text
    .replace(/<@[A-Za-z0-9]+(?:\|[^>]*)?>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
  if (!words) return null;
  return {
    platform: 'slack',
    user: `slack:${e.user}`,
    userName: '',
    room: `slack:${e.channel}`,
    text: words.startsWith('/') ? words : `/${words}`,
    via: 'text',
    deliveryId: eventId,
    ...(e.thread_ts ? { thread: e.thread_ts } : {}),
  };
}
