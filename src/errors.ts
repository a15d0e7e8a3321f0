/**
 * The error catalogue. Every error Triage raises on purpose is a
 * {@link TriageError} with a stable `code` (safe to match on, shown in chat and
 * in `--json` output) and a message that tells the user how to fix it.
 *
 * Exit codes of `triage run` follow from the code's `kind`:
 * `input` → 2 (bad input or config, nothing ran), `runtime` → 3 (could not run).
 */
import { escapeLine } from './escape.ts';

/** Stable error codes. Never rename one: scripts and chat searches rely on them. */
export const ErrorCodes = {
  // bad input / config: exit 2
  CONFIG_NOT_FOUND: 'input',
  CONFIG_INVALID: 'input',
  CONFIG_YAML: 'input',
  RUNBOOK_INVALID: 'input',
  RUNBOOK_YAML: 'input',
  RUNBOOK_UNKNOWN: 'input',
  TARGET_UNKNOWN: 'input',
  HOST_UNKNOWN: 'input',
  PARAM_INVALID: 'input',
  TEMPLATE_ERROR: 'input',
  EXPR_INVALID: 'input',
  USAGE: 'input',
  SECRET_UNRESOLVED: 'input',
  // could not run: exit 3
  REDIS_UNAVAILABLE: 'runtime',
  SSH_CONNECT: 'runtime',
  SSH_HOSTKEY: 'runtime',
  SSH_AUTH: 'runtime',
  EXEC_FAILED: 'runtime',
  RUN_NOT_FOUND: 'runtime',
  RUN_FAILED: 'runtime',
  CANCELLED: 'runtime',
  CHAT_DELIVERY: 'runtime',
  INTERNAL: 'runtime',
  // chat: refused before anything ran
  ACCESS_DENIED: 'input',
  COMMAND_INVALID: 'input',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** Options for {@link TriageError}. */
export interface TriageErrorOptions {
  /** The file the problem is in (config or runbook), when there is one. */
  file?: string;
  /** Dotted path inside that file, e.g. `targets.wushipay.port`. */
  path?: string;
  /** One sentence telling the user how to fix it. */
  fix?: string;
  /** The underlying error, kept for logs (never shown in chat). */
  cause?: unknown;
}

/** An error with a stable code and a fix, safe to show to the user. */
export class TriageError extends Error {
  override name = 'TriageError';
  readonly code: ErrorCode;
  readonly file?: string;
  readonly path?: string;
  readonly fix?: string;

  constructor(code: ErrorCode, message: string, opts: TriageErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.file = opts.file;
    this.path = opts.path;
    this.fix = opts.fix;
  }

  /** `input` errors mean nothing ran (exit 2); `runtime` errors mean it could not run (exit 3). */
  get kind(): 'input' | 'runtime' {
    return ErrorCodes[this.code];
  }

  /** One short line for terminals and chat: `file: path: message (fix)`; a newline or control character from input shows escaped (`\n`, `\x1b`). */
  toLine(): string {
    const where = [this.file, this.path].filter(Boolean).join(': ');
    return escapeLine(`${where ? `${where}: ` : ''}${this.message}${this.fix ? ` — ${this.fix}` : ''}`);
  }
}

/** A list of problems found at once (lint reports all of them, not the first). */
export class TriageErrors extends TriageError {
  override name = 'TriageErrors';
  readonly errors: TriageError[];
  constructor(errors: TriageError[]) {
    super(errors[0]?.code ?? 'INTERNAL', errors.map((e) => e.toLine()).join('\n'), {
      file: errors[0]?.file,
    });
    this.errors = errors;
  }
  override toLine(): string {
    return this.errors.map((e) => e.toLine()).join('\n');
  }
}

/** True for errors raised on purpose by Triage. */
export function isTriageError(err: unknown): err is TriageError {
  return err instanceof TriageError;
}

/** Maps any error to a `run` exit code: 2 for bad input, 3 for everything else. */
export function exitCodeFor(err: unknown): 2 | 3 {
  return isTriageError(err) && err.kind === 'input' ? 2 : 3;
}
