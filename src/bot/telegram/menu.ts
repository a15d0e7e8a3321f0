/**
 * The command menu Telegram shows when a user types `/` (`setMyCommands`).
 * The words are the SPEC's chat commands, the same as on Slack.
 */
import type { BotCommand } from 'telegraf/types';

/** SPEC command words with a one-line description each (Telegram: ≤ 256 characters). */
export const TELEGRAM_COMMAND_MENU: readonly BotCommand[] = [
  { command: 'diagnose', description: 'Diagnose a target: /diagnose <runbook> <target> [host]' },
  { command: 'runbooks', description: 'List the runbooks' },
  { command: 'targets', description: 'List the targets' },
  { command: 'status', description: 'Show a run: /status [run]' },
  { command: 'cancel', description: 'Cancel a run: /cancel <run>' },
  { command: 'approve', description: 'Approve a step that changes a host: /approve <run> <step>' },
  { command: 'ack', description: 'Acknowledge the incident' },
  { command: 'resolve', description: 'Resolve the incident' },
  { command: 'note', description: 'Add a note to the incident: /note <text>' },
  { command: 'handoff', description: 'Hand on-call over: /handoff [to]' },
  { command: 'digest', description: 'Post the check digest: /digest [now]' },
  { command: 'schedules', description: 'List the scheduled checks' },
  { command: 'help', description: 'How to use Triage' },
];
