/**
 * Runbook parameters: the only way user input (CLI flags, chat words) reaches
 * a command. Every value is checked against its declared type before a run
 * is queued; anything else is refused with `PARAM_INVALID`.
 */
import { clip } from '../text.ts';
import { resolveSecret } from '../config.ts';
import { TriageError } from '../errors.ts';
import { defaultRedactor, type Redactor } from '../redact.ts';
import { durationFix, parseDuration, type Param, type Runbook } from './schema.ts';

const DEFAULT_STRING = /^[A-Za-z0-9._:/@-]{1,128}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const PATH = /^\/[A-Za-z0-9._/@+-]{0,1023}$/;
const SECRET_REF = /^(env:[A-Za-z_][A-Za-z0-9_]{0,127}|file:\/[^\0\n]{1,1023})$/;

/**
 * Resolves secret parameters (`env:NAME` / `file:PATH`) to their values, for
 * the worker about to run the steps, and registers each value for redaction
 * with `redactor` (the run's scope; default the process-wide redactor).
 * Everything before this point — queue payloads, run records, chat — only
 * ever holds the reference.
 */
export function resolveSecretParams(
  runbook: Runbook,
  params: Record<string, ParamValue>,
  env: NodeJS.ProcessEnv,
  redactor: Pick<Redactor, 'register'> = defaultRedactor,
): Record<string, ParamValue> {
  const out = { ...params };
  for (const p of runbook.params) {
    const ref = out[p.name];
    if (!p.secret || typeof ref !== 'string') continue;
    const value = resolveSecret(ref, env, `params.${p.name}`);
    redactor.register(value);
    out[p.name] = value;
  }
  return out;
}

export type ParamValue = string | number | boolean;

/** Checks and converts raw parameter strings; fills defaults. */
export function validateParams(runbook: Runbook, raw: Record<string, unknown>): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  const known = new Set(runbook.params.map((p) => p.name));
  for (const k of Object.keys(raw)) {
    if (!known.has(k)) {
      throw new TriageError('PARAM_INVALID', `runbook ${runbook.name} has no parameter "${k}"`, {
        fix: known.size ? `its parameters: ${[...known].join(', ')}` : 'it takes no parameters',
      });
    }
  }
  for (const p of runbook.params) {
    const given = raw[p.name];
    if (given === undefined || given === '') {
      if (p.default !== undefined) out[p.name] = coerce(p, p.default);
      else if (p.required) throw new TriageError('PARAM_INVALID', `runbook ${runbook.name} needs parameter "${p.name}"`, { fix: p.description || `pass ${p.name}=VALUE` });
      continue;
    }
    out[p.name] = coerce(p, given);
  }
  return out;
}

function coerce(p: Param, v: unknown): ParamValue {
  const s = String(v);
  const bad = (why: string) => new TriageError('PARAM_INVALID', `parameter "${p.name}": ${why}`, { fix: p.description || undefined });
  // A secret travels through the queue as a reference; only the worker that runs the step reads it.
  if (p.secret) {
    if (!SECRET_REF.test(s)) {
      throw new TriageError('PARAM_INVALID', `parameter "${p.name}" holds a secret, so it takes env:NAME or file:PATH, never the value itself`, {
        fix: `e.g. --param ${p.name}=env:${p.name.toUpperCase()}`,
      });
    }
    return s;
  }
  switch (p.type) {
    case 'int':
    case 'port': {
      if (!/^-?\d{1,12}$/.test(s)) throw bad(`expected a whole number, got "${clip(s)}"`);
      const n = Number.parseInt(s, 10);
      const min = p.min ?? (p.type === 'port' ? 1 : Number.MIN_SAFE_INTEGER);
      const max = p.max ?? (p.type === 'port' ? 65535 : Number.MAX_SAFE_INTEGER);
      if (n < min || n > max) throw bad(`must be between ${min} and ${max}`);
      return n;
    }
    case 'bool':
      if (/^(true|yes|1|on)$/i.test(s)) return true;
      if (/^(false|no|0|off)$/i.test(s)) return false;
      throw bad(`expected true or false, got "${clip(s)}"`);
    case 'enum':
      if (!p.values?.includes(s)) throw bad(`expected one of ${(p.values ?? []).join(', ')}`);
      return s;
    case 'duration': {
      // Always with a unit: a bare 30 meant seconds here but milliseconds in a runbook's timeout.
      const ms = parseDuration(s);
      if (ms === undefined) throw bad(`"${clip(s)}" is not a duration: ${durationFix(s)}`);
      return ms;
    }
    case 'path':
      if (!PATH.test(s) || s.split('/').includes('..')) throw bad('expected an absolute path without ".." or special characters');
      return s;
    case 'name':
      if (!NAME.test(s)) throw bad('expected a name (letters, digits, . _ -)');
      return s;
    default: {
      const re = p.pattern ? new RegExp(`^(?:${p.pattern})$`) : DEFAULT_STRING;
      if (!re.test(s)) throw bad(`"${clip(s)}" is not allowed (letters, digits and . _ : / @ - only)`);
      return s;
    }
  }
}

