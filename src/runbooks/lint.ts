/**
 * The checks a runbook's schema cannot make: every name it uses exists.
 * A typo such as `servce.state` would otherwise compare against null and
 * silently never hold, so lint names the file, the step, and the name it
 * probably meant.
 *
 * What is checked, everywhere an expression or `${{ }}` may appear:
 * - a step id is known, and a step only uses steps before it (its own
 *   status rules, summary and finding may also use itself; runbook-level
 *   findings and `healthy` may use any step);
 * - `<step>.<name>` is one of that step's captures or `status`, `exit`,
 *   `output`, `ok`, `ran`;
 * - `target.*` is a key of a target in the config (derived from the config
 *   schema, so new config keys are known at once), `host.*` is `name`,
 *   `address` or `zone`, and `params.*` is declared;
 * - commands (`run`, a probe's `args`/`env`) use only config facts, params
 *   and numeric captures of earlier steps;
 * - a probe exists, gets as many arguments as its `# usage:` line takes and
 *   only the environment its `# env:` line declares;
 * - durations carry a unit (`timeout: 30` and a duration param's `default: 30` are errors).
 * Built-in runbooks are held to more: step titles are plain words (no `${{ }}`,
 * so a skipped step never shows a placeholder) and every `when:` has a `skip:`.
 *
 * Deliberately left out: types (comparing a string capture with a number is
 * allowed) and whether a regex can ever match a probe's output.
 */
import type { z } from 'zod';
import { TargetSchema } from '../config.ts';
import { TriageError } from '../errors.ts';
import { compileExpr } from './expr.ts';
import { getProbe, MAX_PROBE_CHARS, probeArity, probeNames } from './probes.ts';
import { durationFix, parseDuration, type Runbook } from './schema.ts';
import { SIGNATURE_CAPTURES } from './signatures.ts';
import { templateExprs } from './template.ts';

/** What every step offers besides its captures. */
const STEP_FIELDS = ['status', 'exit', 'output', 'ok', 'ran'];
const HOST_KEYS = ['name', 'address', 'zone'];
/** Keys the engine adds to a target's config: its name, and whether `envFile` was written. */
const TARGET_EXTRA = { name: 'leaf', envFileExplicit: 'leaf' } as const;

type KeyTree = { [key: string]: KeyTree | 'leaf' };

let targetTree: KeyTree | undefined;

/** The keys a target may have, from the config schema. */
export function targetKeys(): KeyTree {
  targetTree ??= { ...(keyTree(TargetSchema) as KeyTree), ...TARGET_EXTRA };
  return targetTree;
}

function keyTree(schema: z.ZodType): KeyTree | 'leaf' {
  // biome-ignore lint/suspicious/noExplicitAny: zod's internal definition is untyped across schema kinds
  const def = (schema as any)._zod.def;
  switch (def.type) {
    case 'object':
      return Object.fromEntries(Object.entries(def.shape as Record<string, z.ZodType>).map(([k, v]) => [k, keyTree(v)]));
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      return keyTree(def.innerType);
    case 'pipe':
      return keyTree(def.in);
    case 'union': {
      const trees = (def.options as z.ZodType[]).map(keyTree).filter((t): t is KeyTree => t !== 'leaf');
      return trees.length ? Object.assign({}, ...trees) : 'leaf';
    }
    default:
      return 'leaf';
  }
}

/** Where a name is used, and which steps it may see there. */
interface Scope {
  /** e.g. `steps.2.status.fail` */
  path: (string | number)[];
  /** The step the text belongs to (for the message), if any. */
  step?: string;
  /** Step ids visible here. */
  visible: Set<string>;
  /** A command: only config, params and numeric captures. */
  command?: boolean;
}

/** Checks a parsed runbook; returns every problem (empty when it is fine). */
export function lintRunbook(
  rb: Runbook,
  file: string,
  line: (p: (string | number)[]) => number | undefined = () => undefined,
  opts: { builtin?: boolean } = {},
): TriageError[] {
  const out: TriageError[] = [];
  const steps = new Map(rb.steps.map((s) => [s.id, s]));
  const stepIds = rb.steps.map((s) => s.id);
  const params = rb.params.map((p) => p.name);

  const problem = (scope: Pick<Scope, 'path' | 'step'>, message: string, fix?: string) => {
    const l = line(scope.path);
    const who = scope.step ? `step "${scope.step}": ` : '';
    out.push(new TriageError('RUNBOOK_INVALID', `${l ? `line ${l}: ` : ''}${who}${message}`, { file, path: scope.path.join('.'), fix }));
  };

  const checkPath = (p: string, scope: Scope) => {
    const [root, ...rest] = p.split('.');
    if (root === 'target') return checkTarget(rest, p, scope);
    if (root === 'host') {
      if (rest[0] !== undefined && !HOST_KEYS.includes(rest[0])) problem(scope, `unknown name "${p}"${didYouMean(rest[0], HOST_KEYS, 'host.')}`, `host has ${HOST_KEYS.join(', ')}`);
      return;
    }
    if (root === 'params') {
      if (rest[0] === undefined) return;
      if (!params.includes(rest[0])) problem(scope, `unknown parameter "${p}"${didYouMean(rest[0], params, 'params.')}`, 'declare it under params:');
      return;
    }
    const step = steps.get(root!);
    if (!step) {
      const guess = closest(root!, [...stepIds, 'target', 'host', 'params']);
      const meant = guess ? [guess, ...rest].join('.') : undefined;
      problem(scope, `unknown name "${p}"${meant ? ` — did you mean ${meant}?` : ''}`, `names are step ids (${stepIds.join(', ')}), target.*, host.* or params.*`);
      return;
    }
    if (!scope.visible.has(root!)) {
      const later = stepIds.indexOf(root!) >= stepIds.indexOf(scope.step ?? '');
      problem(scope, `uses "${p}", but step "${root}" ${later ? 'runs later' : 'is not visible here'}`, 'a step may only use steps before it; move the step or the rule');
      return;
    }
    const field = rest[0];
    if (field === undefined) return;
    const fields = [...Object.keys(step.capture), ...(step.signatures ? SIGNATURE_CAPTURES : []), ...STEP_FIELDS];
    if (!fields.includes(field)) {
      problem(scope, `step "${root}" has no capture "${field}" (in "${p}")${didYouMean(field, fields, `${root}.`)}`, `its captures: ${Object.keys(step.capture).join(', ') || 'none'}; every step also has ${STEP_FIELDS.join(', ')}`);
      return;
    }
    if (scope.command && !['number', 'numbers', 'count'].includes(step.capture[field]?.type ?? '')) {
      problem(scope, `command uses "${p}"`, 'commands may only use target.*, host.*, params.* and numeric captures of earlier steps');
    }
  };

  const checkTarget = (rest: string[], p: string, scope: Scope) => {
    let tree: KeyTree | 'leaf' = targetKeys();
    const walked: string[] = ['target'];
    for (const key of rest) {
      if (tree === 'leaf') return;
      if (!Object.hasOwn(tree, key)) {
        const keys = Object.keys(tree);
        problem(scope, `"${p}" is not a target config key${didYouMean(key, keys, `${walked.join('.')}.`)}`, `${walked.join('.')} has ${keys.join(', ')}`);
        return;
      }
      walked.push(key);
      tree = tree[key]!;
    }
  };

  const checkExpr = (src: string | undefined, scope: Scope) => {
    if (!src) return;
    let paths: string[];
    try {
      paths = compileExpr(src).paths;
    } catch (e) {
      problem(scope, (e as Error).message, 'fix the expression');
      return;
    }
    for (const p of paths) checkPath(p, scope);
  };
  const checkText = (tpl: string | undefined, scope: Scope) => {
    if (!tpl) return;
    for (const expr of templateExprs(tpl)) checkExpr(expr, scope);
  };

  const all = new Set(stepIds);
  rb.steps.forEach((step, i) => {
    const base = ['steps', i];
    const before = new Set(stepIds.slice(0, i));
    const withSelf = new Set([...before, step.id]);
    const at = (...p: (string | number)[]) => ({ path: [...base, ...p], step: step.id });

    checkExpr(step.when, { ...at('when'), visible: before });
    checkText(step.title, { ...at('title'), visible: before });
    checkText(step.skip, { ...at('skip'), visible: before });
    for (const k of ['fail', 'warn', 'pass'] as const) checkExpr(step.status[k], { ...at('status', k), visible: withSelf });
    checkText(step.summary, { ...at('summary'), visible: withSelf });
    if (step.finding) {
      const f = step.finding;
      checkExpr(f.when, { ...at('finding', 'when'), visible: withSelf });
      checkText(f.title, { ...at('finding', 'title'), visible: withSelf });
      checkText(f.fix, { ...at('finding', 'fix'), visible: withSelf });
      f.evidence.forEach((e, j) => {
        checkText(e, { ...at('finding', 'evidence', j), visible: withSelf });
      });
    }
    checkText(step.run, { ...at('run'), visible: before, command: true });
    step.args.forEach((a, j) => {
      checkText(a, { ...at('args', j), visible: before, command: true });
    });
    for (const [k, v] of Object.entries(step.env)) checkText(v, { ...at('env', k), visible: before, command: true });

    if (step.probe !== undefined) {
      const probe = getProbe(step.probe);
      if (!probe) {
        problem(at('probe'), `unknown probe "${step.probe}"${didYouMean(step.probe, probeNames())}`, `built-in probes: ${probeNames().join(', ')}`);
      } else {
        const [min, max] = probeArity(probe);
        const usage = `${probe.name} ${probe.args.map((a) => (a.optional ? `[${a.name}${a.repeated ? '...' : ''}]` : `${a.name}${a.repeated ? '...' : ''}`)).join(' ')}`.trim();
        const given = step.args.length;
        // An argument that is a whole list expression may stand for any number of words.
        const listy = step.args.some((a) => /^\s*\$\{\{[\s\S]*\}\}\s*$/.test(a));
        if (given > max || (given < min && !listy)) problem(at('args'), `probe ${probe.name} takes ${min === max ? min : `${min} to ${max === Number.POSITIVE_INFINITY ? 'any number of' : max}`} argument${max === 1 ? '' : 's'}, got ${given}`, `usage: ${usage}`);
        for (const k of Object.keys(step.env)) {
          if (!probe.env.includes(k)) problem(at('env', k), `probe ${probe.name} does not read ${k}${didYouMean(k, probe.env)}`, probe.env.length ? `it reads ${probe.env.join(', ')}` : 'it reads no environment');
        }
        if (probe.text.length > MAX_PROBE_CHARS) problem(at('probe'), `probe ${probe.name} is ${probe.text.length} characters (limit ${MAX_PROBE_CHARS})`, 'split it: one argument cannot carry more');
      }
    }

    if (opts.builtin) {
      if (templateExprs(step.title).length) {
        problem(at('title'), 'a built-in step title is shown even when the step is skipped or a fact is missing, so it must be plain words', 'move the values into summary:');
      }
      if (step.when && !step.skip) problem(at('when'), 'a step with when: needs skip: saying in plain words why it would not run', 'e.g. skip: no nginx in the config');
    }
  });

  rb.findings.forEach((f, i) => {
    const scope = (...p: (string | number)[]) => ({ path: ['findings', i, ...p], visible: all });
    if (!f.when) problem({ path: ['findings', i] }, 'a runbook-level finding needs "when"');
    checkExpr(f.when, scope('when'));
    checkText(f.title, scope('title'));
    checkText(f.fix, scope('fix'));
    f.evidence.forEach((e, j) => {
      checkText(e, scope('evidence', j));
    });
  });
  checkText(rb.healthy, { path: ['healthy'], visible: all });

  rb.params.forEach((p, i) => {
    if (p.type !== 'duration' || p.default === undefined) return;
    if (typeof p.default !== 'string' || parseDuration(p.default) === undefined) {
      problem({ path: ['params', i, 'default'] }, `parameter "${p.name}": default ${JSON.stringify(p.default)} has no unit`, durationFix(p.default));
    }
  });
  return out;
}

/** ` — did you mean X?` when a close name exists, else ''. */
function didYouMean(name: string, candidates: string[], prefix = ''): string {
  const c = closest(name, candidates);
  return c ? ` — did you mean ${prefix}${c}?` : '';
}

/** The candidate nearest to `name` by edit distance, if near enough to be a typo. */
export function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(Math.max(name.length, best.length) / 3)) ? best : undefined;
}

/** Edits (insert, delete, substitute, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
