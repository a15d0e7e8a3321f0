/**
 * `triage sudoers [--config FILE] [--target NAME ...] [--user NAME] [--allow-changes]`:
 * prints the sudoers snippet for Triage's unprivileged SSH user — exactly
 * the read-only commands the built-in probes need for the configured
 * targets (see ops/sudoers.ts), plus restart/reload only with
 * `--allow-changes`. Reads the config and runbooks only: nothing connects.
 */
import { loadConfig } from '../config.ts';
import { TriageError } from '../errors.ts';
import { renderSudoers, sudoersRules } from '../ops/sudoers.ts';
import { RunbookLibrary } from '../runbooks/loader.ts';
import { usageOf } from './help.ts';
import { type CliIO, parse, runbookDirs } from './io.ts';

const USAGE = usageOf('sudoers');

export async function sudoersCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, 'sudoers');
  if (positionals.length) throw new TriageError('USAGE', `unexpected "${positionals[0]!.slice(0, 40)}"`, { fix: USAGE });
  const loaded = await loadConfig({ file: values.config as string | undefined, cwd: io.cwd, env: io.env, requireFile: true });
  const library = RunbookLibrary.load({ dirs: runbookDirs(values.runbooks as string[] | undefined, io.env) });
  const targets = (values.target as string[] | undefined) ?? [];
  const allowChanges = values['allow-changes'] === true;
  const { rules, skipped } = sudoersRules(loaded.config, library, { targets, allowChanges });
  const command = ['triage sudoers', ...args].join(' ');
  io.out(renderSudoers(rules, skipped, { user: values.user as string | undefined, command, config: loaded.config, targets }).trimEnd());
  return 0;
}
