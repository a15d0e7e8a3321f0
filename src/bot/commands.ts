/**
 * Chat command parsing: one line of text in, one {@link ParsedCommand} or one
 * {@link CommandError} out. Parsing only — no config lookups, no access
 * control, no I/O (the core does those).
 *
 * Every word is checked against a strict pattern before anything else sees
 * it, so chat text can never reach a shell; anything off gets a one-line error
 * that names what was expected and echoes at most 40 characters of the input.
 *
 * Deliberately left out: quoting (`'a b'` is two words and fails the word
 * check), flags, and parameters beyond the positional words below.
 */
import type { Role } from '../config.ts';
import { clip } from '../text.ts';

/** A runbook, target, host or step word. */
export const WORD_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** A run id as made by `newRunId`. */
export const RUN_ID_RE = /^r_[a-z0-9]{4,40}$/;
/** Longest command line accepted, in characters. */
export const MAX_COMMAND_LENGTH = 512;

/** An incident id (`i3`). */
export const INCIDENT_REF_RE = /^i[0-9]{1,9}$/;
const HANDOFF_ID_RE = /^h[0-9]{1,9}$/;
const isIncidentRef = (v: string) => INCIDENT_REF_RE.test(v) || RUN_ID_RE.test(v);

const HANDOFF_TO_RE = /^(?:(?:tg|slack):[A-Za-z0-9_-]{1,64}|@?[A-Za-z0-9][A-Za-z0-9._-]{0,62})$/;
/** Control characters, bidi overrides and line separators: never part of a command. */
const FORBIDDEN_RE = /[\p{Cc}\u061C\u200E\u200F\u2028\u2029\u202A-\u202E\u2066-\u2069]/u;
const COMMAND_WORD_RE = /^\/([A-Za-z_]{1,32})(?:@[A-Za-z0-9_]{1,64})?$/;

/** A command that parsed; every field has passed its pattern. */
export type ParsedCommand =
  | { name: 'diagnose'; runbook: string; target: string; host?: string }
  | { name: 'runbooks' }
  | { name: 'targets' }
  | { name: 'status'; runId?: string }
  | { name: 'cancel'; runId: string }
  /** `host` is absent when the user wrote only `<step>` (fine for single-host runs). */
  | { name: 'approve'; runId: string; host?: string; step: string }
  | { name: 'help' }
  /** `ref`: an incident id (`i3`) or a run id (the card's button); absent = this thread's incident. */
  | { name: 'ack'; ref?: string }
  | { name: 'resolve'; ref?: string; note?: string }
  | { name: 'note'; ref?: string; text: string }
  | { name: 'incidents'; ref?: string }
  | { name: 'oncall' }
  /** `take` is the "I have it" button of handoff `take`. */
  | { name: 'handoff'; to?: string; take?: string }
  | { name: 'digest'; now: boolean; schedule?: string }
  | { name: 'schedules' };

export type CommandName = ParsedCommand['name'];

/** Why a line is not a command, as one line to show the user. */
export interface CommandError {
  error: string;
  /** The command it looked like, when the first word was one. */
  command?: CommandName;
}

type Fields<N extends CommandName> = Omit<Extract<ParsedCommand, { name: N }>, 'name'>;

/** One entry of the command table. */
export interface CommandSpec<N extends CommandName = CommandName> {
  usage: string;
  example?: string;
  /** One line for `/help`. */
  help: string;
  /** Least role that may use it. */
  role: Role;
  /** Turns the words after the command into fields, or says what is wrong. */
  parse(words: string[], rest: string): Fields<N> | { problem: string };
}

const problem = (p: string) => ({ problem: p });
const quoted = (s: string) => `"${clip(s)}"`;

/** Says what is missing when fewer than `required` of the placeholders `names` were given. */
function missing(words: string[], names: string[], required: number): { problem: string } | null {
  return words.length < required ? problem(`missing ${names.slice(words.length, required).join(' and ')}`) : null;
}

/** Says what is extra when more than `max` words were given. */
function extra(words: string[], max: number): { problem: string } | null {
  if (words.length <= max) return null;
  return problem(max ? `too many words (unexpected ${quoted(words[max]!)})` : `takes no words (unexpected ${quoted(words[0]!)})`);
}

function word(v: string, what: string): { problem: string } | null {
  return WORD_RE.test(v) ? null : problem(`${quoted(v)} is not a valid ${what} (letters, digits, . _ -)`);
}

function runId(v: string): { problem: string } | null {
  return RUN_ID_RE.test(v) ? null : problem(`${quoted(v)} is not a run id (they look like r_abc123)`);
}

function incidentRef(v: string): { problem: string } | null {
  return isIncidentRef(v) ? null : problem(`${quoted(v)} is not an incident (they look like i3) or a run id`);
}

const noWords =
  <N extends CommandName>() =>
  (words: string[]): Fields<N> | { problem: string } =>
    extra(words, 0) ?? ({} as Fields<N>);

/**
 * Every command: usage, role, help line and parser. Adding a command here
 * (plus its handler in the core's router) is the whole change.
 */
export const COMMANDS: { [N in CommandName]: CommandSpec<N> } = {
  diagnose: {
    usage: '/diagnose <runbook> <target> [host]',
    example: '/diagnose 502 shop',
    help: 'find the cause of a problem on a target',
    role: 'responder',
    parse(w) {
      const bad =
        missing(w, ['<runbook>', '<target>'], 2) ?? word(w[0]!, 'runbook') ?? word(w[1]!, 'target') ?? (w[2] === undefined ? null : word(w[2], 'host')) ?? extra(w, 3);
      return bad ?? { runbook: w[0]!, target: w[1]!, ...(w[2] === undefined ? {} : { host: w[2] }) };
    },
  },
  runbooks: { usage: '/runbooks', help: 'list the runbooks', role: 'viewer', parse: noWords<'runbooks'>() },
  targets: { usage: '/targets', help: 'list the targets and their hosts', role: 'viewer', parse: noWords<'targets'>() },
  status: {
    usage: '/status [run]',
    example: '/status r_abc123',
    help: 'recent runs, or the card of one run',
    role: 'viewer',
    parse(w) {
      const bad = (w[0] === undefined ? null : runId(w[0])) ?? extra(w, 1);
      return bad ?? (w[0] === undefined ? {} : { runId: w[0] });
    },
  },
  cancel: {
    usage: '/cancel <run>',
    example: '/cancel r_abc123',
    help: 'stop a run',
    role: 'responder',
    parse(w) {
      return missing(w, ['<run>'], 1) ?? runId(w[0]!) ?? extra(w, 1) ?? { runId: w[0]! };
    },
  },
  approve: {
    usage: '/approve <run> <host>:<step>',
    example: '/approve r_abc123 web1:restart',
    help: 'let a step that changes a host go ahead (operators)',
    role: 'operator',
    parse(w) {
      const bad = missing(w, ['<run>', '<host>:<step>'], 2) ?? runId(w[0]!) ?? extra(w, 2);
      if (bad) return bad;
      const target = w[1]!;
      const colon = target.indexOf(':');
      if (colon < 0) return word(target, 'step') ?? { runId: w[0]!, step: target };
      const host = target.slice(0, colon);
      const step = target.slice(colon + 1);
      return word(host, 'host') ?? word(step, 'step') ?? { runId: w[0]!, host, step };
    },
  },
  help: { usage: '/help', help: 'list the commands', role: 'viewer', parse: noWords<'help'>() },
  ack: {
    usage: '/ack [incident]',
    example: '/ack i3',
    help: "acknowledge an incident (default: this thread's)",
    role: 'responder',
    parse(w) {
      return (w[0] === undefined ? null : incidentRef(w[0])) ?? extra(w, 1) ?? (w[0] === undefined ? {} : { ref: w[0] });
    },
  },
  resolve: {
    usage: '/resolve [incident] [note]',
    example: '/resolve i3 rolled back the deploy',
    help: 'mark an incident resolved, with an optional note (responders: it records a judgement and changes no host)',
    role: 'responder',
    parse(w, rest) {
      const ref = w[0] !== undefined && isIncidentRef(w[0]) ? w[0] : undefined;
      const note = (ref ? rest.slice(ref.length) : rest).trim();
      return { ...(ref ? { ref } : {}), ...(note ? { note } : {}) };
    },
  },
  note: {
    usage: '/note [incident] <text>',
    example: '/note rolled back the deploy',
    help: "add a note to this thread's incident (or the one named); elsewhere it is a note for the shift",
    role: 'responder',
    parse(w, rest) {
      const ref = w[0] !== undefined && isIncidentRef(w[0]) ? w[0] : undefined;
      const text = (ref ? rest.slice(ref.length) : rest).trim();
      return text ? { ...(ref ? { ref } : {}), text } : problem('missing <text>');
    },
  },
  incidents: {
    usage: '/incidents [incident]',
    example: '/incidents i3',
    help: 'the open incidents, or one incident with its timeline',
    role: 'viewer',
    parse(w) {
      return (w[0] === undefined ? null : incidentRef(w[0])) ?? extra(w, 1) ?? (w[0] === undefined ? {} : { ref: w[0] });
    },
  },
  oncall: { usage: '/oncall', help: 'who is on call now, and next', role: 'viewer', parse: noWords<'oncall'>() },
  handoff: {
    usage: '/handoff [to]',
    example: '/handoff slack:U123',
    help: 'hand the on-call over (default: to the next person in the rotation)',
    role: 'responder',
    parse(w) {
      if (w[0] === 'take') {
        return missing(w, ['take', '<handoff>'], 2) ?? (HANDOFF_ID_RE.test(w[1]!) ? null : problem(`${quoted(w[1]!)} is not a handoff id (they look like h3)`)) ?? extra(w, 2) ?? { take: w[1]! };
      }
      const bad = (w[0] === undefined || HANDOFF_TO_RE.test(w[0]) ? null : problem(`${quoted(w[0])} is not a person (tg:<id>, slack:<id> or @name)`)) ?? extra(w, 1);
      return bad ?? (w[0] === undefined ? {} : { to: w[0] });
    },
  },
  digest: {
    usage: '/digest [now] [name]',
    example: '/digest now morning',
    help: 'run the scheduled checks now and post the digest (now), or say when each digest last ran',
    role: 'responder',
    parse(w) {
      const now = w[0] === 'now';
      const rest = now ? w.slice(1) : w;
      const bad = (rest[0] === undefined ? null : word(rest[0], 'schedule name')) ?? extra(rest, 1);
      return bad ?? { now, ...(rest[0] === undefined ? {} : { schedule: rest[0] }) };
    },
  },
  schedules: { usage: '/schedules', help: 'list the scheduled checks', role: 'viewer', parse: noWords<'schedules'>() },
};

/** Command names in `/help` order. */
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];

/** `usage: /diagnose <runbook> <target> [host] — e.g. /diagnose 502 shop` */
export function usageLine(name: CommandName): string {
  const s = COMMANDS[name];
  return `usage: ${s.usage}${s.example ? ` — e.g. ${s.example}` : ''}`;
}

function fail(error: string, command?: CommandName): CommandError {
  return command ? { error: `${error}. ${usageLine(command)}`, command } : { error };
}

function isCommandName(s: string): s is CommandName {
  return Object.hasOwn(COMMANDS, s);
}

/** True when {@link parseCommand} refused the line. */
export function isCommandError(r: ParsedCommand | CommandError): r is CommandError {
  return 'error' in r;
}

/**
 * Parses one command line, e.g. `/diagnose 502 shop` or `/diagnose@TriageBot 502 shop`
 * (a Telegram `@BotName` suffix is dropped; the command word is case-insensitive).
 */
export function parseCommand(text: string): ParsedCommand | CommandError {
  const line = text.trim();
  const first = line.slice(0, 100).split(/\s/, 1)[0] ?? '';
  const m = COMMAND_WORD_RE.exec(first);
  const name = m?.[1]?.toLowerCase();
  const known = name !== undefined && isCommandName(name) ? name : undefined;

  if (line.length > MAX_COMMAND_LENGTH) return fail(`too long (${line.length} characters; at most ${MAX_COMMAND_LENGTH})`, known);
  if (FORBIDDEN_RE.test(line)) return fail('control characters are not allowed', known);
  if (!line.startsWith('/')) return fail('commands start with / — try /help');
  if (!known) return fail(`unknown command ${quoted(first)} — try /help`);

  const rest = line.slice(first.length).trim();
  const words = rest ? rest.split(/\s+/) : [];
  const r = (COMMANDS[known] as CommandSpec).parse(words, rest);
  if ('problem' in r) return fail(r.problem, known);
  return { name: known, ...r } as ParsedCommand;
}
