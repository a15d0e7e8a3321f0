/**
 * The command menu Telegram shows when a user types `/` (`setMyCommands`),
 * derived from the one command table so the menu, the parser and /help can
 * never disagree.
 */
import type { BotCommand } from 'telegraf/types';
import { COMMANDS } from '../commands.ts';

/** Every chat command with its one-line help and usage (Telegram allows ≤ 256 characters). */
export const TELEGRAM_COMMAND_MENU: readonly BotCommand[] = Object.entries(COMMANDS).map(([command, spec]) => ({
  command,
  description: `${spec.help[0]!.toUpperCase()}${spec.help.slice(1)}: ${spec.usage}`.slice(0, 256),
}));
