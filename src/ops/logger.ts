/**
 * The log of the long-running processes (`triage bot`, `triage worker`):
 * pino, one JSON object per line on stderr, with `level` as a word, `time`
 * in ISO form, the process's `pid`, `hostname` and `role`, and — for run
 * work — `runId`, `runbook`, `target`, `host` and `step` fields.
 *
 * Every line passes the redactor and control-character escaping on its way
 * out, whoever wrote it: the line pino made is parsed back, every string in
 * it goes through {@link Redactor.redactDeep} (a secret under a secret-looking
 * key is replaced whole) and {@link escapeText}, and only then is it written.
 * Doing it at the sink, not at each call, is the point: a log call that
 * forgot to redact cannot leak. It costs a parse per line; these processes
 * log a few lines per step, not per request.
 *
 * On a terminal the same objects are printed as one readable line each
 * (`12:00:01.250 INFO  step finished runId=r_… target=shop host=web1 …`)
 * by {@link formatLine}; `--log-format json|text` overrides the guess.
 *
 * Deliberately left out: log files and rotation (stderr goes to journald,
 * Docker or a supervisor, which own that), pino transports and worker
 * threads (a synchronous sink keeps lines in order with the CLI's own
 * output, and nothing is lost on exit).
 */
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import { TriageError } from '../errors.ts';
import { escapeLine, escapeText } from '../escape.ts';
import { defaultRedactor, type Redactor } from '../redact.ts';

export type { Logger } from 'pino';

/** The levels `--log-level` takes, quietest last. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Lowest level written. Default `info`. */
  level?: LogLevel;
  /** Where each finished line goes (without its newline). */
  write: (line: string) => void;
  /** `json` (one object per line) or `text` (one readable line). Default `json`. */
  format?: 'json' | 'text';
  /** Fields on every line, e.g. `{ role: 'worker' }`. `pid` and `hostname` are always there. */
  base?: Record<string, unknown>;
  /** Redacts every line. Default: the process-wide redactor (chat tokens and config secrets are registered there). */
  redactor?: Redactor;
}

/** Checks a `--log-level` value. */
export function parseLogLevel(v: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  if (v === undefined || v === '') return fallback;
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new TriageError('USAGE', `--log-level "${v.slice(0, 20)}" is not a level`, { fix: `use one of ${LOG_LEVELS.join(', ')}` });
}

/** Checks a `--log-format` value; without one, `text` on a terminal and `json` elsewhere. */
export function parseLogFormat(v: string | undefined, isTerminal: boolean): 'json' | 'text' {
  if (v === undefined || v === '') return isTerminal ? 'text' : 'json';
  if (v === 'json' || v === 'text') return v;
  throw new TriageError('USAGE', `--log-format "${v.slice(0, 20)}" is not a format`, { fix: 'use json or text' });
}

/** A pino logger whose every line is redacted and escaped before it is written. */
export function createLogger(o: LoggerOptions): Logger {
  const redactor = o.redactor ?? defaultRedactor;
  const text = o.format === 'text';
  const sink = {
    write(chunk: string) {
      for (const raw of chunk.split('\n')) {
        if (!raw) continue;
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          obj = { level: 'error', msg: raw };
        }
        const safe = escapeStrings(redactor.redactDeep(obj)) as Record<string, unknown>;
        o.write(text ? formatLine(safe) : JSON.stringify(safe));
      }
    },
  };
  return pino(
    {
      level: o.level ?? 'info',
      base: { pid: process.pid, hostname: hostname(), ...o.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError },
    },
    sink,
  );
}

/**
 * An error as log fields: `type`, `code`, `message`, `fix` for a
 * TriageError (its message was written for people; the stack adds nothing);
 * `type`, `message` and `stack` for anything else (that is a bug to find).
 */
export function serializeError(e: unknown): Record<string, unknown> {
  if (e instanceof TriageError) return { type: e.name, code: e.code, message: e.message, ...(e.fix ? { fix: e.fix } : {}) };
  if (e instanceof Error) return { type: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) };
  if (e && typeof e === 'object') return { ...(e as Record<string, unknown>) };
  return { message: String(e) };
}

/** Every string in a JSON value through {@link escapeText} (JSON.stringify escapes C0 itself; C1, U+2028 and bidi controls it leaves raw). */
function escapeStrings(v: unknown): unknown {
  if (typeof v === 'string') return escapeText(v);
  if (Array.isArray(v)) return v.map(escapeStrings);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [escapeLine(k), escapeStrings(x)]));
  return v;
}

/** Fields the readable form leaves out (the terminal knows which process it is looking at). */
const QUIET = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'role']);

/**
 * One log object as one readable line: `HH:MM:SS.mmm LEVEL message k=v …`;
 * values with spaces are quoted, nested values are JSON, an error shows its
 * code and message. Every field is one line (`\n` shows as `\n`).
 */
export function formatLine(obj: Record<string, unknown>): string {
  const time = typeof obj.time === 'string' ? obj.time.slice(11, 23) : '';
  const level = String(obj.level ?? 'info').toUpperCase().padEnd(5);
  const parts = [time, level, escapeLine(String(obj.msg ?? ''))].filter(Boolean);
  for (const [k, v] of Object.entries(obj)) {
    if (QUIET.has(k) || v === undefined) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { code?: string; message?: string; fix?: string };
      parts.push(`err=${quote(`${e.code ? `${e.code}: ` : ''}${e.message ?? ''}${e.fix ? ` — ${e.fix}` : ''}`)}`);
      continue;
    }
    const flat = Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null) ? v.join(',') : undefined;
    parts.push(`${k}=${quote(typeof v === 'string' ? v : (flat ?? JSON.stringify(v)))}`);
  }
  return parts.join(' ');
}

function quote(s: string): string {
  const one = escapeLine(s);
  return /[\s"=]/.test(one) || one === '' ? JSON.stringify(one) : one;
}
