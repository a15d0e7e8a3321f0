/**
 * docs/runbooks.md keeps up with the runbook language: every operator and
 * function the expression language knows, and every key the runbook schema
 * accepts, is explained there; its worked example loads as written.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS as CLI_COMMANDS } from '../../src/cli/help.ts';
import { parseConfig } from '../../src/config.ts';
import { EXPR_FUNCTIONS, EXPR_LITERALS, EXPR_OPERATORS } from '../../src/runbooks/expr.ts';
import { loadRunbookFile } from '../../src/runbooks/loader.ts';
import { runbookJsonSchema } from '../../src/runbooks/schema.ts';
import { SIGNATURE_CAPTURES } from '../../src/runbooks/signatures.ts';

const DOC = 'docs/runbooks.md';
const doc = readFileSync(new URL(`../../${DOC}`, import.meta.url), 'utf8');

/** The text of the `## title` section (up to the next `## `). */
function section(title: string): string {
  const start = doc.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`${DOC} has no "## ${title}" section`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

/** The `### title` part of a section. */
function subsection(text: string, title: string): string {
  const start = text.indexOf(`\n### ${title}\n`);
  if (start < 0) throw new Error(`${DOC} has no "### ${title}" section`);
  const end = text.indexOf('\n### ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

// biome-ignore lint/suspicious/noExplicitAny: JSON Schema is untyped JSON
type Json = any;
const keysOf = (s: Json): string[] => Object.keys(s?.properties ?? {});

describe(`${DOC}`, () => {
  const expressions = section('Expressions');

  it('explains every function of the expression language, with an example call', () => {
    const functions = subsection(expressions, 'Functions');
    // The item runs from its "- `f(...)`" to the next item; it must call f again in its example.
    const item = (f: string) => functions.split(`\n- \`${f}(`)[1]?.split('\n- ')[0];
    const missing = EXPR_FUNCTIONS.filter((f) => !item(f)?.includes(`${f}(`));
    expect(missing, `document these functions of src/runbooks/expr.ts under "### Functions" in ${DOC} (\`- \\\`name(...)\\\` — what, then an example\`)`).toEqual([]);
  });

  it('explains every operator, each as a list item with an example', () => {
    const operators = subsection(expressions, 'Operators');
    const missing = EXPR_OPERATORS.filter((op) => !operators.includes(`- \`${op}\` — `));
    expect(missing, `document these operators of src/runbooks/expr.ts under "### Operators" in ${DOC}`).toEqual([]);
  });

  it('names the literal words', () => {
    const values = subsection(expressions, 'Values');
    expect(EXPR_LITERALS.filter((w) => !values.includes(`\`${w}\``))).toEqual([]);
  });

  it('mentions every key a runbook, a step, a capture, a parameter and a finding may have', () => {
    const schema = runbookJsonSchema() as Json;
    const step = schema.properties.steps.items;
    const groups: Record<string, string[]> = {
      runbook: keysOf(schema),
      step: keysOf(step),
      capture: keysOf(step.properties.capture.additionalProperties),
      status: keysOf(step.properties.status),
      param: keysOf(schema.properties.params.items),
      finding: keysOf(step.properties.finding),
    };
    const missing = Object.entries(groups).flatMap(([group, keys]) => keys.filter((k) => !doc.includes(`\`${k}\``) && !doc.includes(`${k}:`)).map((k) => `${group}.${k}`));
    expect(missing, `explain these runbook keys (from src/runbooks/schema.ts) in ${DOC}`).toEqual([]);
  });

  it('names every capture a step with `signatures: true` gets', () => {
    const signatures = subsection(section('Steps'), 'Log signatures');
    expect(SIGNATURE_CAPTURES.filter((c) => !signatures.includes(`\`${c}\``))).toEqual([]);
  });

  it('says how `triage run` approves a host-changing step, as the CLI does it', () => {
    const approves = CLI_COMMANDS.find((c) => c.name === 'run')?.flags.some((f) => f.flag === 'approve');
    const part = section('Steps that change a host: `changes: true`');
    expect(part.includes('--approve'), 'docs/runbooks.md must say whether `triage run --approve` exists, as src/cli/help.ts does').toBe(Boolean(approves));
  });

  it('its worked example and config load as written', () => {
    const rb = loadRunbookFile(new URL('../../docs/examples/runbooks/disk.yaml', import.meta.url).pathname).runbook;
    expect(rb.name).toBe('disk');
    expect(doc).toContain('docs/examples/runbooks/disk.yaml');
    const file = new URL('../../docs/examples/local.yaml', import.meta.url).pathname;
    const loaded = parseConfig(readFileSync(file, 'utf8'), file, {});
    expect(Object.keys(loaded.config.targets)).toEqual(['shop', 'api']);
    for (const f of ['disk.yaml', 'token.yaml']) expect(() => loadRunbookFile(new URL(`../../docs/examples/runbooks/${f}`, import.meta.url).pathname), f).not.toThrow();
  });
});
