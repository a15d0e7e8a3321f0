/**
 * ChatMessage → Slack Block Kit: `mrkdwn` sections (escaped for `&`, `<`,
 * `>`, and control characters as in escape.ts), a bold title, code in ```
 * fences, an actions block of buttons whose
 * `value` is the command, and a `text` fallback for notifications.
 *
 * Slack's limits are kept here, not left to the API to refuse: a section's
 * text is at most 3000 characters (long text is split over several sections,
 * at line breaks where possible), a message has at most 50 blocks (beyond
 * that it is cut, with a line saying so), a button label at most 75.
 *
 * Deliberately left out: rich text blocks, attachments and images.
 */
import { escapeLine, escapeText } from '../../escape.ts';
import type { ChatButton, ChatMessage } from '../adapter.ts';

/** Most characters in one section's text. */
export const SLACK_MAX_SECTION = 3000;
/** Most blocks in one message. */
export const SLACK_MAX_BLOCKS = 50;
/** Most elements in one actions block. */
export const SLACK_MAX_ACTIONS = 25;
const MAX_BUTTON_TEXT = 75;
const MAX_BUTTON_VALUE = 2000;
/** The notification fallback is kept short; the blocks carry the content. */
const MAX_FALLBACK = 3000;
/** Shown as the last block when a message had to be cut. */
export const SLACK_TRUNCATION_NOTE = '… (truncated: too long for one Slack message)';
/** Prefix of every button's action_id; the rest is its position, unique within the message. */
export const SLACK_ACTION_PREFIX = 'triage_button_';

/** A Block Kit block (the subset we produce). */
export type SlackBlock =
  | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
  | { type: 'context'; elements: { type: 'mrkdwn'; text: string }[] }
  | {
      type: 'actions';
      elements: { type: 'button'; action_id: string; text: { type: 'plain_text'; text: string; emoji: boolean }; value: string; style?: 'primary' | 'danger' }[];
    };

/** What `chat.postMessage` / `chat.update` need. */
export interface SlackRendered {
  text: string;
  blocks: SlackBlock[];
  truncated: boolean;
}

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const escapedLength = (ch: string) => (ch === '&' ? 5 : ch === '<' || ch === '>' ? 4 : ch.length);

/**
 * Escapes `text` and splits it into pieces of at most `max` escaped
 * characters: at line breaks when a line fits, else inside the line (never
 * inside an escape sequence or a surrogate pair).
 */
export function escapeAndSplit(text: string, max: number): string[] {
  const pieces: string[] = [];
  let current = '';
  const flush = () => {
    if (current !== '') pieces.push(current);
    current = '';
  };
  for (const line of text.split('\n')) {
    const escaped = escapeMrkdwn(line);
    const joined = current === '' ? escaped : `${current}\n${escaped}`;
    if (joined.length <= max) {
      current = joined;
      continue;
    }
    flush();
    if (escaped.length <= max) {
      current = escaped;
      continue;
    }
    // One line longer than a section: split it by characters.
    for (const ch of line) {
      const e = ch === '&' ? '&amp;' : ch === '<' ? '&lt;' : ch === '>' ? '&gt;' : ch;
      if (current.length + escapedLength(ch) > max) flush();
      current += e;
    }
  }
  flush();
  return pieces;
}

/** Code fences can't be escaped in mrkdwn; a zero-width space keeps ``` in output from closing ours. */
const defuseFences = (code: string) => code.replace(/```/g, '``\u200b`');

function buttonBlock(buttons: ChatButton[], offset: number): SlackBlock {
  return {
    type: 'actions',
    elements: buttons.map((b, i) => ({
      type: 'button' as const,
      action_id: `${SLACK_ACTION_PREFIX}${offset + i}`,
      text: { type: 'plain_text' as const, text: buttonText(escapeLine(b.label)), emoji: true },
      value: b.command.slice(0, MAX_BUTTON_VALUE),
      ...(b.style ? { style: b.style } : {}),
    })),
  };
}

const buttonText = (label: string) => (label.length > MAX_BUTTON_TEXT ? `${label.slice(0, MAX_BUTTON_TEXT - 1)}…` : label || '…');

/** The notification text: `summary`, else title and first line (one line, control characters escaped). */
export function fallbackText(msg: ChatMessage): string {
  const raw = msg.summary ?? [msg.title, msg.lines[0]].filter((s) => s !== undefined && s !== '').join(' — ');
  const text = escapeMrkdwn(escapeLine(raw || msg.code?.split('\n')[0] || '…'));
  return text.length > MAX_FALLBACK ? `${text.slice(0, MAX_FALLBACK - 1)}…` : text;
}

/** Renders a message as blocks within Slack's limits. `maxSection` defaults to 3000. */
export function renderSlack(msg: ChatMessage, maxSection = SLACK_MAX_SECTION): SlackRendered {
  const sections: string[] = [];
  if (msg.title?.trim()) {
    // The title stays on one line and bold; a title longer than a section is cut.
    const [first] = escapeAndSplit(escapeLine(msg.title.replace(/\s+/g, ' ').trim()), maxSection - 2);
    sections.push(`*${first.trim()}*`);
  }
  // Control characters and bidi controls from input or a host show as escapes; each line stays one line.
  const body = escapeAndSplit(msg.lines.map(escapeLine).join('\n'), maxSection);
  // Title and the first lines share a section when they fit.
  if (sections.length > 0 && body.length > 0 && sections[0].length + 1 + body[0].length <= maxSection) {
    sections[0] = `${sections[0]}\n${body.shift()}`;
  }
  sections.push(...body);
  if (msg.code !== undefined && msg.code !== '') {
    const fence = '```\n';
    for (const piece of escapeAndSplit(defuseFences(escapeText(msg.code)), maxSection - 2 * fence.length)) sections.push(`${fence}${piece}\n\`\`\``);
  }

  // Mentions are Slack markup (<@U…>), built from checked ids only, so they are not escaped.
  const mentions = (msg.mentions ?? []).flatMap((m) => (/^slack:[A-Z0-9]+$/i.test(m) ? [`<@${m.slice(6)}>`] : []));
  if (mentions.length) sections.push(mentions.join(' '));

  if (sections.length === 0) sections.push(fallbackText(msg));

  const buttons = msg.buttons ?? [];
  const actionBlocks: SlackBlock[] = [];
  for (let i = 0; i < buttons.length; i += SLACK_MAX_ACTIONS) actionBlocks.push(buttonBlock(buttons.slice(i, i + SLACK_MAX_ACTIONS), i));
  const room = SLACK_MAX_BLOCKS - actionBlocks.length;
  let truncated = false;
  let content: SlackBlock[] = sections.map((text) => ({ type: 'section', text: { type: 'mrkdwn', text } }));
  if (content.length > room) {
    truncated = true;
    content = [...content.slice(0, room - 1), { type: 'context', elements: [{ type: 'mrkdwn', text: SLACK_TRUNCATION_NOTE }] }];
  }
  return { text: fallbackText(msg), blocks: [...content, ...actionBlocks], truncated };
}
