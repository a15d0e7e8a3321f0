/** What every subcommand shares: where output goes, and strict flag parsing. */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { TriageError } from '../errors.ts';

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

/** Parses flags strictly: unknown flags and bad values are `USAGE` errors (exit 2). */
export function parse(args: string[], options: ParseArgsConfig['options'], usage: string): { values: Flags; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as Flags, positionals: r.positionals };
  } catch (e) {
    throw new TriageError('USAGE', (e as Error).message.split('\n')[0]!, { fix: usage });
  }
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
