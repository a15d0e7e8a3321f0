/**
 * Renders a {@link ChatMessage} as plain text for terminals and tests: the
 * title, the lines, the preformatted block indented, and the buttons with the
 * command each one sends (type it to "click").
 *
 * Deliberately left out: colour and width handling.
 */
import type { ChatMessage } from '../adapter.ts';

/** The message as plain text, one item per line. */
export function renderPlainText(msg: ChatMessage): string {
  const out: string[] = [];
  if (msg.title) out.push(msg.title);
  out.push(...msg.lines);
  if (msg.code) out.push(...msg.code.split('\n').map((l) => `    ${l}`));
  if (msg.buttons?.length) out.push(msg.buttons.map((b) => `[${b.label}: ${b.command}]`).join(' '));
  return out.join('\n');
}
