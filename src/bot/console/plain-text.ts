/**
 * Renders a {@link ChatMessage} as plain text for terminals and tests: the
 * title, the lines, the preformatted block indented, and the buttons with the
 * command each one sends (type it to "click").
 *
 * Deliberately left out: colour and width handling.
 */
import { escapeLine, escapeText } from '../../escape.ts';
import type { ChatMessage } from '../adapter.ts';

/** The message as plain text, one item per line; control characters from input or a host show as escapes (escape.ts). */
export function renderPlainText(msg: ChatMessage): string {
  const out: string[] = [];
  if (msg.title) out.push(escapeLine(msg.title));
  out.push(...msg.lines.map(escapeLine));
  if (msg.code) out.push(...escapeText(msg.code).split('\n').map((l) => `    ${l}`));
  if (msg.buttons?.length) out.push(msg.buttons.map((b) => escapeLine(`[${b.label}: ${b.command}]`)).join(' '));
  return out.join('\n');
}
