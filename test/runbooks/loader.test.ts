/**
 * A runbook author's story: a mistake in a runbook is refused with the file,
 * the line and how to fix it — and nothing half-valid is ever run.
 */
import { describe, expect, it } from 'vitest';
import { TriageErrors } from '../../src/errors.ts';
import { parseRunbook, RunbookLibrary } from '../../src/runbooks/loader.ts';
import { runbookJsonSchema } from '../../src/runbooks/schema.ts';

function problems(yaml: string): string[] {
  try {
    parseRunbook(yaml, 'my.yaml');
  } catch (e) {
    if (e instanceof TriageErrors) return e.errors.map((x) => x.toLine());
    throw e;
  }
  return [];
}

const ok = `name: ok
description: fine
steps:
  - id: a
    title: a
    run: echo \${{ target.port }}
`;

describe('runbook checks', () => {
  it('accepts a valid runbook', () => {
    expect(problems(ok)).toEqual([]);
  });

  it('malformed YAML names the file and line', () => {
    const p = problems('name: x\nsteps:\n  - id: a\n    run: [unclosed\n');
    expect(p[0]).toMatch(/^my\.yaml: line \d+/);
  });

  it('an unknown key names its path and line', () => {
    const p = problems(ok.replace('    run:', '    rn: oops\n    run:'));
    expect(p.join('\n')).toMatch(/my\.yaml: steps\.0: line 6: unknown key 'rn'/);
  });

  it('a command may not use text captured from output (only config, params and numeric captures)', () => {
    const p = problems(`name: x
description: d
steps:
  - id: a
    title: a
    run: cat /etc/hostname
    capture: { name: { regex: '(.+)' } }
  - id: b
    title: b
    run: echo \${{ a.name }}
`);
    expect(p.join('\n')).toMatch(/command uses "a\.name".*only use target\.\*, host\.\*, params\.\*/);
  });

  it('an undeclared parameter and a broken expression are refused', () => {
    const p = problems(`name: x
description: d
steps:
  - id: a
    title: a
    when: "a.status == "
    run: echo \${{ params.nope }}
`);
    expect(p.join('\n')).toMatch(/unknown parameter "params\.nope"/);
    expect(p.join('\n')).toMatch(/steps\.0\.when/);
  });

  it('duplicate step ids are refused', () => {
    const p = problems(`${ok}  - id: a\n    title: again\n    run: 'true'\n`);
    expect(p.join('\n')).toMatch(/duplicate step id "a"/);
  });
});

describe('the built-in library', () => {
  it('loads every built-in runbook and finds them by alias', () => {
    const lib = RunbookLibrary.load();
    expect(lib.get('bad-gateway').name).toBe('502');
    expect(() => lib.get('nosuch')).toThrow(expect.objectContaining({ code: 'RUNBOOK_UNKNOWN', fix: expect.stringMatching(/known runbooks: .*502/) }));
  });

  it('the committed runbook.schema.json is the one generated from the zod schema (run `npm run schema` after changing it)', async () => {
    const { readFileSync } = await import('node:fs');
    const committed = JSON.parse(readFileSync(new URL('../../runbook.schema.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(runbookJsonSchema());
  });

  it('generates a JSON Schema for editors from the zod schema', () => {
    const schema = runbookJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['name', 'aliases', 'params', 'steps', 'findings']));
    expect(schema.required).toContain('steps');
  });
});
