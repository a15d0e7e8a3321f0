/**
 * The `triage` command. Each subcommand parses its own flags strictly: an
 * unknown flag or a missing argument is exit 2 with a one-line usage hint,
 * and nothing runs. Exit codes of `run`: 0 healthy, 1 problems found,
 * 2 bad input or config, 3 could not run.
 */
import type { CliIO } from './cli/io.ts';
import { lintCommand } from './cli/lint.ts';
import { runCommand } from './cli/run.ts';
import { statusCommand } from './cli/status.ts';
import { workerCommand } from './cli/worker.ts';
import { exitCodeFor, isTriageError, TriageError } from './errors.ts';
import { redact } from './redact.ts';
import { runbookJsonSchema } from './runbooks/schema.ts';

export type { CliIO } from './cli/io.ts';

const USAGE = `usage: triage <command>
  demo                      diagnose a local broken service end to end (no config needed)
  run <runbook> <target> [--host NAME] [--config FILE] [--json] [--dry-run] [--no-worker] [--param k=v ...]
  worker [--concurrency N] [--zone Z ...]   a queue worker (start more to scale out)
  bot                       the chat bot (Telegram / Slack from config)
  status [runId]            a run's state and verdict, or the recent runs
  audit                     who ran what, from chat
  lint [FILES...]           check config and runbooks
  schema                    print the runbook JSON Schema (for editors)`;

function defaultIO(): CliIO {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    out: (s) => process.stdout.write(`${s}\n`),
    err: (s) => process.stderr.write(`${s}\n`),
    env: process.env,
    cwd: process.cwd(),
    stopSignal: ac.signal,
  };
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[], io: CliIO = defaultIO()): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run':
        return await runCommand(rest, io);
      case 'worker':
        return await workerCommand(rest, io);
      case 'status':
        return await statusCommand(rest, io);
      case 'lint':
        return await lintCommand(rest, io);
      case 'demo':
        return await (await import('./cli/demo.ts')).demoCommand(rest, io);
      case 'bot':
        return await (await import('./cli/bot.ts')).botCommand(rest, io);
      case 'audit':
        return await (await import('./cli/audit.ts')).auditCommand(rest, io);
      case 'schema':
        io.out(JSON.stringify(runbookJsonSchema(), null, 2));
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new TriageError('USAGE', `unknown command "${cmd.slice(0, 40)}"`, { fix: 'run `triage help` for the list' });
    }
  } catch (e) {
    return fail(e, io);
  }
}

function fail(e: unknown, io: CliIO): number {
  if (isTriageError(e)) io.err(redact(`triage: ${e.toLine()}`));
  else io.err(redact(`triage: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  return exitCodeFor(e);
}
