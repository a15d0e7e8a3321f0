/**
 * Telegram update → {@link IncomingCommand}. Pure functions, no I/O.
 *
 * Identities: users `tg:<from.id>`, places `tg:<chat.id>`, delivery id the
 * `update_id` (Telegram repeats it on redelivery). A command typed in a forum
 * topic carries `thread: 'topic:<message_thread_id>'`, so replies go back into
 * that topic; a plain number as a thread means "reply to that message".
 *
 * Deliberately left out: deciding who may do what (the core does access
 * control — chat and user ids are passed through untouched).
 */
import type { Update } from 'telegraf/types';
import type { IncomingCommand, MessageRef } from '../adapter.ts';

/** Thread value for a forum topic. */
export const topicThread = (threadId: number): string => `topic:${threadId}`;

/** Where a Telegram post goes: a forum topic and/or a message to reply to. */
export interface TelegramThread {
  topicId?: number;
  replyTo?: number;
}

/** Parses a {@link MessageRef.thread} / `post` thread value. Unknown shapes mean "no thread". */
export function parseThread(thread: string | undefined): TelegramThread {
  if (!thread) return {};
  const topic = /^topic:(\d+)$/.exec(thread);
  if (topic) return { topicId: Number(topic[1]) };
  if (/^\d+$/.test(thread)) return { replyTo: Number(thread) };
  return {};
}

/** `/diagnose@triage_bot 502 shop` → `/diagnose 502 shop`; `null` when addressed to another bot. */
export function normaliseCommandText(text: string, botUsername: string | undefined): string | null {
  const trimmed = text.trim();
  const m = /^(\/[A-Za-z0-9_]+)@([A-Za-z0-9_]+)(?=\s|$)/.exec(trimmed);
  if (!m) return trimmed;
  if (botUsername && m[2].toLowerCase() !== botUsername.toLowerCase()) return null;
  return m[1] + trimmed.slice(m[0].length);
}

type AnyMessage = {
  message_id: number;
  chat: { id: number };
  from?: { id: number; username?: string; first_name?: string; last_name?: string };
  text?: string;
  message_thread_id?: number;
  is_topic_message?: boolean;
  reply_to_message?: { message_id: number };
};

function nameOf(from: AnyMessage['from']): string {
  if (!from) return '';
  if (from.username) return `@${from.username}`;
  return [from.first_name, from.last_name].filter(Boolean).join(' ');
}

function threadOf(m: AnyMessage): string | undefined {
  return m.is_topic_message && m.message_thread_id !== undefined ? topicThread(m.message_thread_id) : undefined;
}

/** A command and what the adapter needs to answer it. */
export interface TelegramIncoming {
  /** Absent for a click that carries no command (it is only answered). */
  cmd?: IncomingCommand;
  /** Set for button clicks. */
  callbackQueryId?: string;
  /** The user's own message (text commands), for replies to it. */
  messageId?: number;
  /**
   * The message a text command replies to, outside forum topics: Telegram's
   * thread. The adapter maps it to the thread's root (the run card or
   * handoff message) and sets `cmd.thread`.
   */
  replyToMessageId?: number;
}

/**
 * Turns an update into a command, or `null` when it is not one (plain chat
 * text, edits, service messages, commands for another bot, buttons on messages
 * too old for Telegram to include).
 */
export function commandFromUpdate(update: Update, botUsername?: string): TelegramIncoming | null {
  const deliveryId = String(update.update_id);
  if ('message' in update && update.message) {
    const m = update.message as AnyMessage;
    if (typeof m.text !== 'string' || !m.text.trimStart().startsWith('/') || !m.from) return null;
    const text = normaliseCommandText(m.text, botUsername);
    if (text === null) return null;
    const thread = threadOf(m);
    return {
      cmd: {
        platform: 'telegram',
        user: `tg:${m.from.id}`,
        userName: nameOf(m.from),
        room: `tg:${m.chat.id}`,
        text,
        via: 'text',
        deliveryId,
        ...(thread ? { thread } : {}),
      },
      messageId: m.message_id,
      ...(!thread && m.reply_to_message ? { replyToMessageId: m.reply_to_message.message_id } : {}),
    };
  }
  if ('callback_query' in update && update.callback_query) {
    const q = update.callback_query as { id: string; from: AnyMessage['from'] & { id: number }; data?: string; message?: AnyMessage };
    if (typeof q.data !== 'string' || !q.message || !q.data.startsWith('/')) {
      return { callbackQueryId: q.id };
    }
    const m = q.message;
    const thread = threadOf(m);
    const message: MessageRef = { room: `tg:${m.chat.id}`, id: String(m.message_id), ...(thread ? { thread } : {}) };
    return {
      cmd: {
        platform: 'telegram',
        user: `tg:${q.from.id}`,
        userName: nameOf(q.from),
        room: message.room,
        text: normaliseCommandText(q.data, undefined) ?? q.data,
        via: 'button',
        deliveryId,
        ...(thread ? { thread } : {}),
        message,
      },
      callbackQueryId: q.id,
    };
  }
  return null;
}
