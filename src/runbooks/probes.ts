/**
 * Probes: the programs behind runbook steps. A probe is a POSIX sh script in
 * `builtin/probes/<name>.sh` that `shellcheck` reads and a unit test runs
 * against stub commands; a runbook step says which probe, with which
 * inputs, and what its output means (`probe: service`, `args:`, `env:`).
 * One probe serves every runbook that needs it.
 *
 * How a probe travels: over the host's existing shell session, as one
 * command string
 *
 *     NAME='value' OTHER='' sh -c '<probe text>' 'service' 'systemd' 'app.service'
 *
 * — the probe's text quoted as one word (so `$0` is the probe's name), each
 * argument and environment value shell-quoted by `template.ts`. Values never
 * enter the probe's code, nothing is installed or written on the host, and
 * the probe runs exactly as its unit test runs it. Every variable the probe
 * declares is set (empty when the step gives none), so a same-named variable
 * in the host's environment cannot leak in.
 *
 * The header declares the interface, and lint holds steps to it:
 *
 *     # usage: service MANAGER NAME [EXTRA...]   (optional [X], repeatable X...)
 *     # env: LOG_FILE LOG_JOURNAL                (or "(none)")
 *
 * Deliberately left out: probes from user directories (user runbooks use
 * the built-in probes or an inline `run:`), and probes in any language but sh.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TriageError } from '../errors.ts';
import type { Step } from './schema.ts';
import { renderArgs, renderCommand, renderWord, shellQuote } from './template.ts';

/** Where the built-in probes live. */
export const PROBE_DIR = fileURLToPath(new URL('./builtin/probes/', import.meta.url));

/** The longest probe text: Linux caps one argument at 128 KiB (MAX_ARG_STRLEN), quoting included. */
export const MAX_PROBE_CHARS = 100_000;

/** One argument in a probe's `# usage:` line. */
export interface ProbeArg {
  name: string;
  optional: boolean;
  repeated: boolean;
}

/** A probe script and the interface its header declares. */
export interface Probe {
  name: string;
  file: string;
  text: string;
  args: ProbeArg[];
  env: string[];
}

let cache: Map<string, Probe> | undefined;

function load(): Map<string, Probe> {
  if (cache) return cache;
  const found = new Map<string, Probe>();
  for (const f of readdirSync(PROBE_DIR).filter((x) => x.endsWith('.sh')).sort()) {
    const name = f.slice(0, -3);
    const file = join(PROBE_DIR, f);
    found.set(name, parseProbe(name, file, readFileSync(file, 'utf8')));
  }
  cache = found;
  return found;
}

/** Reads a probe's header (`# usage:` and `# env:` lines). Throws when either is missing. */
export function parseProbe(name: string, file: string, text: string): Probe {
  const usage = /^# usage: (\S+)(.*)$/m.exec(text);
  const env = /^# env: (.*)$/m.exec(text);
  if (!usage || !env || usage[1] !== name) {
    throw new TriageError('RUNBOOK_INVALID', `probe ${name} has no "# usage: ${name} ARGS" and "# env: NAMES" header`, { file, fix: 'declare its arguments and environment in the header' });
  }
  const args = usage[2]!
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => {
      const optional = w.startsWith('[');
      const bare = w.replace(/[[\]]/g, '');
      return { name: bare.replace(/\.\.\.$/, ''), optional, repeated: bare.endsWith('...') };
    });
  const envNames = env[1]!.trim() === '(none)' ? [] : env[1]!.trim().split(/\s+/);
  return { name, file, text, args, env: envNames };
}

/** Names of the built-in probes, sorted. */
export function probeNames(): string[] {
  return [...load().keys()];
}

/** A built-in probe by name, or `undefined`. */
export function getProbe(name: string): Probe | undefined {
  return load().get(name);
}

/** How many argument words a probe takes: `[min, max]` (max is Infinity for `X...`). */
export function probeArity(p: Probe): [number, number] {
  const min = p.args.filter((a) => !a.optional).length;
  const max = p.args.some((a) => a.repeated) ? Number.POSITIVE_INFINITY : p.args.length;
  return [min, max];
}

/**
 * The command string that runs `probe` with already-quoted argument words and
 * environment values. Declared variables the step does not give are set empty.
 */
export function probeCommand(probe: Probe, args: string[], env: Record<string, string>): string {
  const vars = [...new Set([...probe.env, ...Object.keys(env)])].map((k) => `${k}=${env[k] ?? "''"}`);
  return [...vars, 'sh', '-c', shellQuote(probe.text), shellQuote(probe.name), ...args].join(' ');
}

/**
 * The command a step runs in `ctx`: its probe with quoted inputs, or its
 * filled `run` template. Throws `MissingValueError` when a value it needs is
 * null (the step is then skipped).
 */
export function stepCommand(step: Step, ctx: Record<string, unknown>): string {
  if (step.run !== undefined) return renderCommand(step.run, ctx);
  const probe = requireProbe(step);
  return probeCommand(probe, renderArgs(step.args, ctx), renderEnv(step, ctx));
}

/**
 * The same command for people (`--dry-run`): the probe's text is shown by
 * name, `sh probes/service.sh 'systemd' 'app.service'`.
 */
export function describeStepCommand(step: Step, ctx: Record<string, unknown>): string {
  if (step.run !== undefined) return renderCommand(step.run, ctx);
  const probe = requireProbe(step);
  const env = renderEnv(step, ctx);
  return [...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'sh', `probes/${probe.name}.sh`, ...renderArgs(step.args, ctx)].join(' ');
}

function renderEnv(step: Step, ctx: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(step.env).map(([k, tpl]) => [k, renderWord(tpl, ctx)]));
}

function requireProbe(step: Step): Probe {
  const probe = getProbe(step.probe ?? '');
  if (!probe) throw new TriageError('RUNBOOK_INVALID', `step ${step.id} uses unknown probe "${step.probe}"`, { fix: `built-in probes: ${probeNames().join(', ')}` });
  return probe;
}
