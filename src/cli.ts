/**
 * The `triage` command. Each subcommand parses its own flags strictly: an
 * unknown flag or a missing argument is exit 2 with a one-line usage hint,
 * and nothing runs. Exit codes of `run`: 0 healthy, 1 problems found,
 * 2 bad input or config, 3 could not run.
 */
import type { CliIO } from './cli/io.ts';
import { commandHelp, commandText, overviewText } from './cli/help.ts';
import { exitCodeFor, isTriageError, TriageError } from './errors.ts';
import { escapeLine, escapeText } from './escape.ts';
import { redact, redactErrorLines } from './redact.ts';

export type { CliIO } from './cli/io.ts';

type CommandFn = (args: string[], io: CliIO) => Promise<number>;

/** Each subcommand is loaded only when it runs: `--help` and `lint` never load the queue, SSH or chat libraries. */
const LOADERS: Record<string, () => Promise<CommandFn>> = {
  init: async () => (await import('./cli/init.ts')).initCommand,
  run: async () => (await import('./cli/run.ts')).runCommand,
  worker: async () => (await import('./cli/worker.ts')).workerCommand,
  status: async () => (await import('./cli/status.ts')).statusCommand,
  lint: async () => (await import('./cli/lint.ts')).lintCommand,
  demo: async () => (await import('./cli/demo.ts')).demoCommand,
  bot: async () => (await import('./cli/bot.ts')).botCommand,
  audit: async () => (await import('./cli/audit.ts')).auditCommand,
  schema: async () => (await import('./cli/schema.ts')).schemaCommand,
  reload: async () => (await import('./cli/reload.ts')).reloadCommand,
  sudoers: async () => (await import('./cli/sudoers.ts')).sudoersCommand,
};

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
export async function main(argv: string[], sink: CliIO = defaultIO()): Promise<number> {
  const io = escapedIO(sink);
  const [cmd, ...rest] = argv;
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      const topic = cmd === 'help' && rest[0] ? commandHelp(rest[0]) : undefined;
      if (cmd === 'help' && rest[0] && !topic) throw unknownCommand(rest[0]);
      io.out(topic ? commandText(topic) : overviewText());
      return cmd === undefined ? 2 : 0;
    }
    const load = Object.hasOwn(LOADERS, cmd) ? LOADERS[cmd] : undefined;
    if (!load) throw unknownCommand(cmd);
    return await (await load())(rest, io);
  } catch (e) {
    if (e instanceof Error && e.name === 'HelpRequested') {
      io.out(commandText((e as Error & { command: Parameters<typeof commandText>[0] }).command));
      return 0;
    }
    return fail(e, io);
  }
}

function unknownCommand(cmd: string): TriageError {
  return new TriageError('USAGE', `unknown command "${cmd.slice(0, 40)}"`, { fix: 'see `triage --help` for the list' });
}

/** Longest error line printed; longer ones (a 100 KB argument echoed back) are cut. */
const MAX_ERROR_LINE = 1000;

function fail(e: unknown, io: CliIO): number {
  if (isTriageError(e)) {
    // Values are redacted, not the words Triage wrote around them: `chat.slack.botToken: <reason> — <fix>` stays readable.
    for (const line of redactErrorLines(e)) io.err(cut(`triage: ${line}`));
  } else {
    // One line, never a stack trace: that is only for TRIAGE_DEBUG=1.
    const why = escapeLine(e instanceof Error ? e.message : String(e));
    io.err(redact(cut(`triage: internal error: ${why}${io.env.TRIAGE_DEBUG ? '' : ' (TRIAGE_DEBUG=1 prints the stack trace)'}`)));
    if (io.env.TRIAGE_DEBUG && e instanceof Error && e.stack) io.err(redact(e.stack));
  }
  return exitCodeFor(e);
}

function cut(line: string): string {
  return line.length > MAX_ERROR_LINE ? `${line.slice(0, MAX_ERROR_LINE)}… (${line.length - MAX_ERROR_LINE} more characters)` : line;
}

/**
 * The CLI's one way out to the terminal: every line printed, whoever made
 * it, passes {@link escapeText} (control characters, line separators and
 * bidi controls from input or from a host become visible escapes; Triage's
 * own newlines stay). `--json` output stays valid JSON (see escape.ts).
 */
function escapedIO(io: CliIO): CliIO {
  return { ...io, out: (s) => io.out(escapeText(s)), err: (s) => io.err(escapeText(s)) };
}
