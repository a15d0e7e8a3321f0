/**
 * ChatMessage → Telegram: HTML `parse_mode` text and an inline keyboard.
 *
 * Every field is escaped (`&`, `<`, `>`, and control characters as in
 * escape.ts), the title is bold and `code` goes
 * in a `<pre>` block. Telegram counts its 4096-character limit after entity
 * parsing, so lengths are measured on the plain text and a message that would
 * not fit is cut (code first, then lines) with a line saying so — never in
 * the middle of an HTML entity or a surrogate pair.
 *
 * Deliberately left out: Markdown modes (their escaping rules break on
 * ordinary command output) and button styles (not in the Bot API we target).
 */
import type { InlineKeyboardButton, InlineKeyboardMarkup } from 'telegraf/types';
import { escapeLine, escapeText } from '../../escape.ts';
import type { ChatButton, ChatMessage } from '../adapter.ts';

/** Telegram's limit for a message text, counted after entity parsing. */
export const TELEGRAM_MAX_TEXT = 4096;
/** Telegram's limit for a document caption. */
export const TELEGRAM_MAX_CAPTION = 1024;
/** Telegram's limit for `callback_data`, in bytes. */
export const TELEGRAM_MAX_CALLBACK_DATA = 64;

/** What `sendMessage` / `editMessageText` need. */
export interface TelegramRendered {
  /** HTML for `parse_mode: 'HTML'`. */
  html: string;
  /** Length of the text Telegram will show (what its limit counts). */
  plainLength: number;
  /** True when the message was cut to fit. */
  truncated: boolean;
  /** Absent when the message has no (valid) buttons; omitting it on edit removes the keyboard. */
  replyMarkup?: InlineKeyboardMarkup;
  /** Buttons dropped because their command exceeds 64 bytes. */
  droppedButtons: ChatButton[];
}

/** Escapes the three characters Telegram's HTML mode requires. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cuts `text` to at most `max` UTF-16 units without splitting a surrogate pair. */
export function cutSafely(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 0) return '';
  const code = text.charCodeAt(max - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? max - 1 : max);
}

/** Appended to a message that was cut. */
export const TELEGRAM_TRUNCATION_NOTE = `… (truncated to fit Telegram's ${TELEGRAM_MAX_TEXT}-character limit)`;

/** Renders a message; `max` defaults to Telegram's 4096. */
export function renderTelegram(msg: ChatMessage, max = TELEGRAM_MAX_TEXT): TelegramRendered {
  // Control characters and bidi controls from input or a host show as escapes; the title and each line stay one line.
  const title = escapeLine(msg.title ?? '');
  let lines = msg.lines.map(escapeLine).join('\n');
  let code = escapeText(msg.code ?? '');
  // The plain text is `title \n lines \n code`, empty parts and their newline left out.
  const plainLength = () => [title, lines, code].filter((p) => p !== '').join('\n').length;
  const total = plainLength();
  let truncated = false;
  if (total > max) {
    truncated = true;
    const note = TELEGRAM_TRUNCATION_NOTE;
    // Room for the note on its own line; cut code first (the core sends long output as files), then lines.
    let excess = total - max + note.length + 1;
    const fromCode = Math.min(excess, code.length);
    code = cutSafely(code, code.length - fromCode);
    excess -= fromCode;
    if (excess > 0) lines = cutSafely(lines, Math.max(0, lines.length - excess));
    lines = lines === '' ? note : `${lines}\n${note}`;
    // Titles are short by contract; if one is not, the final cut below still keeps the limit.
  }
  const parts: string[] = [];
  if (title) parts.push(`<b>${escapeHtml(title)}</b>`);
  if (lines) parts.push(escapeHtml(lines));
  if (code) parts.push(`<pre>${escapeHtml(code)}</pre>`);
  const mentions = (msg.mentions ?? []).flatMap((m) => (/^tg:\d+$/.test(m) ? [`<a href="tg://user?id=${m.slice(3)}">${m}</a>`] : []));
  if (mentions.length) parts.push(mentions.join(' '));
  let html = parts.join('\n');
  let shown = plainLength();
  if (shown > max) {
    // Only reachable with an over-long title: fall back to plain escaped text.
    const plain = cutSafely([title, lines, code].filter((p) => p !== '').join('\n'), max);
    html = escapeHtml(plain);
    shown = plain.length;
  }
  if (shown === 0) {
    // Telegram rejects empty messages; an empty ChatMessage still shows something.
    html = '…';
    shown = 1;
  }
  const { markup, dropped } = keyboard(msg.buttons ?? []);
  return { html, plainLength: shown, truncated, droppedButtons: dropped, ...(markup ? { replyMarkup: markup } : {}) };
}

/** Buttons in rows of at most three; callback_data is the command line. */
function keyboard(buttons: ChatButton[]): { markup?: InlineKeyboardMarkup; dropped: ChatButton[] } {
  const dropped: ChatButton[] = [];
  const ok: InlineKeyboardButton[] = [];
  for (const b of buttons) {
    if (Buffer.byteLength(b.command, 'utf8') > TELEGRAM_MAX_CALLBACK_DATA || b.command === '') {
      dropped.push(b);
      continue;
    }
    ok.push({ text: escapeLine(b.label), callback_data: b.command });
  }
  if (ok.length === 0) return { dropped };
  const rows: InlineKeyboardButton[][] = [];
  for (let i = 0; i < ok.length; i += 3) rows.push(ok.slice(i, i + 3));
  return { markup: { inline_keyboard: rows }, dropped };
}

/** A document caption: the file's title, escaped and cut to 1024 characters. */
export function renderCaption(title: string | undefined): string | undefined {
  if (!title) return undefined;
  return escapeHtml(cutSafely(escapeLine(title), TELEGRAM_MAX_CAPTION));
}
