/**
 * The runbook format. Runbooks are data (YAML) checked by these schemas; the
 * engine runs them. `triage schema` prints the JSON Schema generated from
 * here for editors.
 *
 * Templates: `${{ expr }}` inside `run` is replaced by the shell-quoted value
 * of `expr` (lists become several quoted words). Only `target.*`, `host.*`,
 * `params.*` and numeric captures of earlier steps may appear in `run` — never
 * chat text. In `title`, `fix` and `evidence` the value is inserted as text.
 *
 * Expressions (`when`, `status.*`, finding `when`) see `target`, `host`,
 * `params`, and one object per step id: `<id>.status`, `<id>.exit`,
 * `<id>.output`, `<id>.<capture>`.
 */
import { z } from 'zod';

const ID = /^[a-z][a-z0-9_]*$/;
const RESERVED = new Set(['target', 'host', 'params', 'steps', 'true', 'false', 'null', 'in']);

/** `10s`, `500ms`, `2m`, or a number of milliseconds. */
export const DurationSchema = z
  .union([z.number().int().positive(), z.string().regex(/^\d+(ms|s|m)$/, 'use a duration like 500ms, 10s or 2m')])
  .transform((v) => {
    if (typeof v === 'number') return v;
    const n = Number.parseInt(v, 10);
    if (v.endsWith('ms')) return n;
    if (v.endsWith('m')) return n * 60_000;
    return n * 1000;
  });

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
  })
  .strict();
export type FindingRule = z.infer<typeof FindingRuleSchema>;

/** One command run on each host of the target. */
export const StepSchema = z
  .object({
    id: Identifier,
    title: z.string(),
    /** Expression; when false the step is `skipped`. */
    when: z.string().optional(),
    /** Shell command template (POSIX sh). */
    run: z.string().min(1),
    timeout: DurationSchema.default(15_000),
    /** This step changes the host (restart, reload): it waits for an operator's approval in chat. */
    changes: z.boolean().default(false),
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
    /** Keep this step's output out of chat and results (it may hold secrets even after redaction). */
    secretOutput: z.boolean().default(false),
  })
  .strict();
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
    const names = new Set<string>();
    rb.params.forEach((p, i) => {
      if (names.has(p.name)) ctx.addIssue({ code: 'custom', path: ['params', i, 'name'], message: `duplicate param "${p.name}"` });
      names.add(p.name);
    });
  });
export type Runbook = z.infer<typeof RunbookSchema>;

/** JSON Schema for editors, generated from {@link RunbookSchema}. */
export function runbookJsonSchema(): unknown {
  return z.toJSONSchema(RunbookSchema, { io: 'input', unrepresentable: 'any' });
}
