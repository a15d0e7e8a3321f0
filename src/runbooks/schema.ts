/**
 * The runbook format. Runbooks are data (YAML) checked by these schemas; the
 * engine runs them. `triage schema` prints the JSON Schema generated from
 * here for editors.
 *
 * Commands: a step names a probe (a POSIX sh script in `builtin/probes/`,
 * shellchecked and unit-tested on its own) with `args:` and `env:`, or gives
 * an inline `run:` command. Values reach a probe only as shell-quoted
 * arguments and environment, never spliced into its code (see
 * `probes.ts`). `${{ expr }}` in `run`, `args` and `env` becomes the quoted
 * value; only `target.*`, `host.*`, `params.*` and numeric captures of
 * earlier steps may appear there — never chat text. In `title`, `summary`,
 * `fix` and `evidence` the value is inserted as text.
 *
 * Durations always carry a unit (`500ms`, `30s`, `2m`): a bare number is an
 * error, because `30` once meant milliseconds here and seconds in `--param`.
 *
 * Expressions (`when`, `status.*`, finding `when`) see `target`, `host`,
 * `params`, and one object per step id: `<id>.status`, `<id>.exit`,
 * `<id>.output`, `<id>.<capture>`.
 */
import { z } from 'zod';

const ID = /^[a-z][a-z0-9_]*$/;
const RESERVED = new Set(['target', 'host', 'params', 'steps', 'true', 'false', 'null', 'in']);

const DURATION = /^(\d{1,9})(ms|s|m|h)$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Milliseconds in a duration written with its unit (`500ms`, `30s`, `2m`,
 * `1h`), or `undefined` when `v` is not one. A bare number is never a
 * duration: `30` meant 30 ms in a runbook but 30 s in `--param`, so neither
 * place accepts it.
 */
export function parseDuration(v: string): number | undefined {
  const m = DURATION.exec(v);
  return m ? Number.parseInt(m[1]!, 10) * DURATION_UNIT_MS[m[2]!]! : undefined;
}

/** What to say about a duration without a unit, e.g. `30` → "write 30s or 30000ms". */
export function durationFix(v: unknown): string {
  const n = typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v)) ? Number(v) : undefined;
  return n !== undefined && Number.isFinite(n) ? `write ${n}s or ${n * 1000}ms (a duration needs its unit: ms, s, m or h)` : 'write a duration with its unit, e.g. 500ms, 30s or 2m';
}

/** `500ms`, `30s`, `2m`, `1h` → milliseconds. A bare number is refused with {@link durationFix}'s advice. */
export const DurationSchema = z
  .string({ error: (iss) => (typeof iss.input === 'number' ? `${iss.input} has no unit: ${durationFix(iss.input)}` : undefined) })
  .regex(DURATION, { error: (iss) => `"${String(iss.input)}" is not a duration: ${durationFix(iss.input)}` })
  .transform((v) => parseDuration(v)!)
  .meta({ description: 'A duration with its unit: 500ms, 30s, 2m or 1h (a bare number is refused).' });

/** A cause code: kebab-case, e.g. `service-down`. */
export const CauseCodeSchema = z.string().regex(/^[a-z][a-z0-9-]*$/, 'cause codes are kebab-case, e.g. service-down');
export type CauseCode = z.infer<typeof CauseCodeSchema>;

export const SeveritySchema = z.enum(['critical', 'warning', 'info']);
export type Severity = z.infer<typeof SeveritySchema>;

const Identifier = z
  .string()
  .regex(ID, 'use lower_snake_case (letters, digits, _), starting with a letter')
  .refine((s) => !RESERVED.has(s), 'this name is reserved (target, host, params, steps, true, false, null, in)');

/** A typed runbook parameter; the only way user input reaches a command. */
export const ParamSchema = z
  .object({
    name: Identifier,
    type: z.enum(['string', 'int', 'bool', 'enum', 'duration', 'port', 'path', 'name']).default('string'),
    description: z.string().default(''),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    required: z.boolean().default(false),
    min: z.number().optional(),
    max: z.number().optional(),
    /** For `enum`. */
    values: z.array(z.string()).optional(),
    /** For `string`: the whole value must match. Default: `[A-Za-z0-9._:/@-]{1,128}`. */
    pattern: z.string().optional(),
    /** Never shown in chat, logs or results. */
    secret: z.boolean().default(false),
  })
  .strict();
export type Param = z.infer<typeof ParamSchema>;

/** A value taken from a step's output with a regular expression. */
export const CaptureSchema = z
  .object({
    regex: z.string().refine((r) => {
      try {
        new RegExp(r, 'm');
        return true;
      } catch {
        return false;
      }
    }, 'not a valid regular expression'),
    /** Which stream to search. Default `stdout`. */
    from: z.enum(['stdout', 'stderr', 'output']).default('stdout'),
    /**
     * `string`/`number`: first match (group `group`); `list`: every match;
     * `numbers`: every match as numbers; `bool`: matched at all; `count`: how many matches.
     */
    type: z.enum(['string', 'number', 'list', 'numbers', 'bool', 'count']).default('string'),
    /** Capture group to take. Default 1 (0 = whole match). */
    group: z.number().int().min(0).default(1),
    /** Regex flags beyond `m`, e.g. `i`. */
    flags: z.string().regex(/^[is]*$/).default(''),
  })
  .strict();
export type Capture = z.infer<typeof CaptureSchema>;

/** What a step or a runbook rule reports when it finds a problem. */
export const FindingRuleSchema = z
  .object({
    code: CauseCodeSchema,
    severity: SeveritySchema.default('critical'),
    /** Template; one line. */
    title: z.string(),
    /** Expression; for a step's finding, default "the step failed". */
    when: z.string().optional(),
    /** Templates; a line whose expressions are empty (null) is dropped. */
    evidence: z.array(z.string()).default([]),
    /** Template: what to do, with the real unit, port, path filled in. */
    fix: z.string(),
    /**
     * The id of a `changes: true` step that fixes this (e.g. `restart`): offered
     * only when this finding is the host's most likely cause, run only once
     * approved, then its `recheck` steps tell whether it worked. See remediation.ts.
     */
    remedy: Identifier.optional(),
  })
  .strict();
export type FindingRule = z.infer<typeof FindingRuleSchema>;

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
/** Probe names: the file `builtin/probes/<name>.sh`. */
export const PROBE_NAME = /^[a-z][a-z0-9-]*$/;

/**
 * One check run on each host of the target: either a built-in probe (a
 * script in `builtin/probes/`, given its inputs as arguments and environment)
 * or an inline `run` command. Exactly one of `probe` and `run`.
 */
export const StepSchema = z
  .object({
    id: Identifier,
    /**
     * Plain words, shown even when the step is skipped or a fact is missing;
     * put values in `summary`. (Built-in runbooks may not use `${{ }}` here.)
     */
    title: z.string(),
    /** Expression; when false the step is `skipped`. */
    when: z.string().optional(),
    /** Shown instead of the expression when `when` is false, in plain words, e.g. "no nginx in the config". */
    skip: z.string().optional(),
    /**
     * A probe from `builtin/probes/` (e.g. `service`). Its script is sent as
     * it is; values reach it only through `args` and `env`, each shell-quoted.
     */
    probe: z.string().regex(PROBE_NAME, 'probe names are lowercase words with dashes, e.g. service or nginx-proxy').optional(),
    /**
     * The probe's arguments (`$1`, `$2`, ...): templates, each one word. An
     * argument that is exactly `${{ list }}` becomes one argument per item;
     * a null value skips the step.
     */
    args: z.array(z.string()).default([]),
    /** The probe's environment: `NAME: template`, one word each (a list's items joined by newlines). */
    env: z.record(z.string().regex(ENV_NAME, 'environment names are UPPER_SNAKE_CASE'), z.string()).default({}),
    /** Inline shell command template (POSIX sh); `${{ expr }}` becomes the shell-quoted value. Prefer a probe. */
    run: z.string().min(1).optional(),
    /** Kill the step after this long. Default `15s`. */
    timeout: DurationSchema.prefault('15s'),
    /** This step changes the host (restart, reload): it waits for an operator's approval in chat. */
    changes: z.boolean().default(false),
    /**
     * For a remedy (a `changes: true` step a finding names in `remedy`): the
     * ids of earlier steps run again after it, to tell whether it worked.
     */
    recheck: z.array(Identifier).optional(),
    /** For a remedy: how long the re-check keeps trying until it passes (a restarted app takes a moment to listen). Default `10s`. */
    settle: DurationSchema.optional(),
    capture: z.record(Identifier, CaptureSchema).default({}),
    /**
     * Status rules, checked in order: `fail` holds → fail; `warn` holds → warn;
     * `pass` given → pass when it holds, else fail; otherwise exit 0 is pass,
     * anything else fail.
     */
    status: z
      .object({ fail: z.string().optional(), warn: z.string().optional(), pass: z.string().optional() })
      .strict()
      .default({}),
    /** Template: the one fact to show beside the step's status line, e.g. `state ${{ service.state }}`. Default: the first output line. */
    summary: z.string().optional(),
    /** Yielded when the step ends `fail` (or `warn`) and the finding's `when` holds. */
    finding: FindingRuleSchema.optional(),
    /**
     * The whole output is secret (a config dump, `env`, a key listing): the
     * result, chat and `--json` show `«secret output: N bytes»` instead. Status
     * rules, `when` and the summary still see the real values; text captures
     * are shown as `«redacted»` (numbers and yes/no stay) and their values are
     * redacted wherever else they appear in the run. Default false.
     */
    secretOutput: z.boolean().default(false),
    /**
     * Match each line of the step's stdout against the shared log-signature
     * table (`builtin/signatures.yaml` plus a user directory's
     * `signatures.yaml`): the step gets the captures `signature`,
     * `signatures`, `signature_line`, ... (see `signatures.ts`). Default false.
     */
    signatures: z.boolean().default(false),
    /**
     * Names of fields in this step's output (`NAME=value`, `NAME: value`,
     * `"name": "value"`) and of its captures whose values look random but are
     * not secrets, e.g. `[trace_id, commit, etag]`. Without this, strings
     * that look random — hex of 32+ characters, mixed-case base64 of 20+ —
     * are redacted whatever they are called; UUIDs, 40-character git commit
     * ids, `sha256:` digests and SSH fingerprints are kept anyway. A safe
     * name is not exempt from the other rules: a secret-looking name
     * (`api_token`), a registered secret or a known token shape is still
     * redacted. Case-insensitive. Default none.
     */
    safe: z.array(z.string().regex(/^[A-Za-z_][\w.-]*$/, 'a field name: letters, digits, _ . -')).default([]),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.probe === undefined) === (s.run === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'a step needs exactly one of probe: (a built-in probe) or run: (a command)' });
    }
    if (s.probe === undefined && (s.args.length > 0 || Object.keys(s.env).length > 0)) {
      ctx.addIssue({ code: 'custom', path: [s.args.length ? 'args' : 'env'], message: 'args: and env: go with probe:; a run: command takes its values from templates in its text' });
    }
  });
export type Step = z.infer<typeof StepSchema>;

/** A runbook: a named list of steps plus the rules that turn their results into findings. */
export const RunbookSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'runbook names are lowercase words or digits with dashes'),
    aliases: z.array(z.string().regex(/^[a-z0-9][a-z0-9-]*$/)).default([]),
    description: z.string(),
    params: z.array(ParamSchema).default([]),
    steps: z.array(StepSchema).min(1),
    /**
     * Cross-step rules, most specific root cause first: when several hold, the
     * earlier one is the more likely cause. Step findings rank after these.
     */
    findings: z.array(FindingRuleSchema).default([]),
    /** Template for the summary when nothing is wrong. */
    healthy: z.string().default('all checks passed'),
  })
  .strict()
  .superRefine((rb, ctx) => {
    const ids = new Set<string>();
    rb.steps.forEach((s, i) => {
      if (ids.has(s.id)) ctx.addIssue({ code: 'custom', path: ['steps', i, 'id'], message: `duplicate step id "${s.id}"` });
      ids.add(s.id);
    });
    checkRemedies(rb, ctx);
    const names = new Set<string>();
    rb.params.forEach((p, i) => {
      if (names.has(p.name)) ctx.addIssue({ code: 'custom', path: ['params', i, 'name'], message: `duplicate param "${p.name}"` });
      names.add(p.name);
    });
  });
export type Runbook = z.infer<typeof RunbookSchema>;

/**
 * A finding's `remedy` names a `changes: true` step with a `recheck`; a
 * `recheck` names earlier steps that only read (never a changing one).
 */
function checkRemedies(rb: { steps: Step[]; findings: FindingRule[] }, ctx: z.RefinementCtx): void {
  const index = new Map(rb.steps.map((s, i) => [s.id, i]));
  const remedies = new Set<string>();
  const check = (rule: FindingRule, path: (string | number)[]) => {
    if (rule.remedy === undefined) return;
    const i = index.get(rule.remedy);
    const step = i === undefined ? undefined : rb.steps[i];
    if (!step) ctx.addIssue({ code: 'custom', path: [...path, 'remedy'], message: `no step "${rule.remedy}": a remedy names a step of this runbook with changes: true` });
    else if (!step.changes) ctx.addIssue({ code: 'custom', path: [...path, 'remedy'], message: `step "${rule.remedy}" does not change the host: mark it changes: true (and give it a recheck:) to use it as a remedy` });
    else remedies.add(step.id);
  };
  rb.findings.forEach((f, i) => {
    check(f, ['findings', i]);
  });
  rb.steps.forEach((s, i) => {
    if (s.finding) check(s.finding, ['steps', i, 'finding']);
  });
  rb.steps.forEach((s, i) => {
    if (remedies.has(s.id) && !s.recheck?.length) {
      ctx.addIssue({ code: 'custom', path: ['steps', i, 'recheck'], message: `remedy "${s.id}" needs recheck: the ids of the steps that tell whether it worked` });
    }
    if ((s.recheck !== undefined || s.settle !== undefined) && !remedies.has(s.id)) {
      ctx.addIssue({ code: 'custom', path: ['steps', i, s.recheck !== undefined ? 'recheck' : 'settle'], message: `only a remedy (a changes: true step a finding names in remedy:) is re-checked` });
    }
    (s.recheck ?? []).forEach((id, j) => {
      const k = index.get(id);
      if (k === undefined || k >= i) ctx.addIssue({ code: 'custom', path: ['steps', i, 'recheck', j], message: `"${id}" is not a step before "${s.id}": re-check with the steps that found the problem` });
      else if (rb.steps[k]!.changes) ctx.addIssue({ code: 'custom', path: ['steps', i, 'recheck', j], message: `"${id}" changes the host: a re-check only reads` });
    });
  });
}

/** JSON Schema for editors, generated from {@link RunbookSchema}. */
export function runbookJsonSchema(): unknown {
  return z.toJSONSchema(RunbookSchema, { io: 'input', unrepresentable: 'any' });
}
