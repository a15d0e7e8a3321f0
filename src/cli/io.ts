/** What every subcommand shares: where output goes, and strict flag parsing. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { TriageError } from '../errors.ts';
import { type CommandHelp, commandHelp } from './help.ts';

/** Where output goes; tests pass their own. */
export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM); tests pass their own. */
  stopSignal?: AbortSignal;
}

export type Flags = Record<string, string | boolean | string[] | undefined>;

/** Thrown by {@link parse} for `--help` / `-h`: the command prints its help and exits 0. */
export class HelpRequested extends Error {
  override name = 'HelpRequested';
  constructor(readonly command: CommandHelp) {
    super(`help for ${command.name}`);
  }
}

/**
 * Parses a command's flags strictly, from its entry in the command table
 * (help.ts): `--help` anywhere before `--` throws {@link HelpRequested};
 * an unknown flag or a missing value is a one-line `USAGE` error (exit 2)
 * that names the flag and points at `--help`.
 */
export function parse(args: string[], command: string): { values: Flags; positionals: string[] } {
  const help = commandHelp(command);
  if (!help) throw new Error(`no help entry for command ${command}`);
  const end = args.indexOf('--');
  if ((end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h')) throw new HelpRequested(help);
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const f of help.flags) {
    options[f.flag] = f.value
      ? { type: 'string', ...(f.multiple ? { multiple: true } : {}), ...(f.short ? { short: f.short } : {}) }
      : { type: 'boolean', default: false, ...(f.short ? { short: f.short } : {}) };
  }
  const seeHelp = `see \`triage ${command} --help\``;
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as Flags, positionals: r.positionals };
  } catch (e) {
    const err = e as Error & { code?: string };
    const flag = /'(-{1,2}[^' ]+)/.exec(err.message)?.[1];
    const what =
      err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag
        ? `unknown flag ${clipArg(flag)}`
        : err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag
          ? / argument missing/.test(err.message)
            ? `${flag} needs a value`
            : `${flag} does not take a value`
          : err.message.split('\n')[0]!;
    throw new TriageError('USAGE', what, { fix: seeHelp });
  }
}

/** A user's argument as shown in an error: at most 40 characters. */
function clipArg(s: string): string {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** Runbook directories from `$TRIAGE_RUNBOOKS` (colon-separated) and `--runbooks`. */
export function runbookDirs(extra: string[] | undefined, env: NodeJS.ProcessEnv): string[] {
  return [...(env.TRIAGE_RUNBOOKS?.split(':').filter(Boolean) ?? []), ...(extra ?? [])];
}

/** Parses `--param k=v` flags. */
export function paramFlags(list: string[] | undefined, usage: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const p of list ?? []) {
    const i = p.indexOf('=');
    if (i < 1) throw new TriageError('USAGE', `--param "${p}" is not k=v`, { fix: usage });
    params[p.slice(0, i)] = p.slice(i + 1);
  }
  return params;
}
