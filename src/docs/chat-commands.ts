/**
 * The chat command table in docs/chat.md, generated from the command table in
 * `src/bot/commands.ts` (the one the parser, `/help`, Telegram's `/` menu
 * and the Slack manifest come from): usage, what it does, an example, and
 * the least role that may use it.
 *
 * Deliberately left out: which commands are not built yet — that is prose
 * next to the table, which a test holds to the chat core's router.
 */
import { COMMANDS } from '../bot/commands.ts';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** The command table as Markdown. */
export function chatCommandsMarkdown(): string {
  const lines = ['| command | what it does | least role |', '| --- | --- | --- |'];
  for (const spec of Object.values(COMMANDS)) {
    const example = spec.example ? `, e.g. \`${cell(spec.example)}\`` : '';
    lines.push(`| \`${cell(spec.usage)}\` | ${cell(spec.help)}${example} | ${spec.role} |`);
  }
  return lines.join('\n');
}
