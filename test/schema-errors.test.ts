/**
 * One mistake, one wording: `triage.yaml` and runbooks go through the same
 * translator (src/schema-errors.ts), so an operator who mistypes a key or
 * forgets a unit gets the same kind of answer — path, line, what is wrong and
 * the fix — wherever they made it.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { TriageError, TriageErrors } from '../src/errors.ts';
import { parseRunbook } from '../src/runbooks/loader.ts';

function errorsOf(fn: () => unknown): TriageError[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof TriageErrors) return e.errors;
    if (e instanceof TriageError) return [e];
    throw e;
  }
  throw new Error('expected an error');
}

const CONFIG = `hosts:
  web1: { address: local }
targets:
  shop: { hosts: [web1] }
`;
const RUNBOOK = `name: ok
description: fine
steps:
  - id: a
    title: a
    run: echo hi
`;

describe('the shared schema-error translator', () => {
  it('a mistyped key gets "did you mean" with the key as path, its line and a rename, in a config and in a runbook', () => {
    const [cfg] = errorsOf(() => parseConfig(CONFIG.replace('hosts: [web1]', 'hosts: [web1], prot: 8000'), 'triage.yaml', {}));
    expect(cfg).toMatchObject({ code: 'CONFIG_INVALID', file: 'triage.yaml', path: 'targets.shop.prot', fix: "rename 'prot' to 'port'" });
    expect(cfg.message).toBe("unknown key 'prot' — did you mean 'port'? (line 4:26)");

    const rbErrors = errorsOf(() => parseRunbook(RUNBOOK.replace('    title: a', '    titel: a'), 'my.yaml'));
    expect(rbErrors.map((e) => e.path)).toEqual(['steps.0.title', 'steps.0.titel']);
    const rb = rbErrors[1]!;
    expect(rb).toMatchObject({ code: 'RUNBOOK_INVALID', file: 'my.yaml', path: 'steps.0.titel', fix: "rename 'titel' to 'title'" });
    expect(rb.message).toBe("line 5: unknown key 'titel' — did you mean 'title'?");
  });

  it('a duration without its unit keeps the schema\'s own advice (not "quote the value")', () => {
    const oncall = 'oncall:\n  rotation: [slack:U1]\n  handoff: { cron: "0 9 * * *", post: slack:C1, takeWithin: 30 }\n';
    const [cfg] = errorsOf(() => parseConfig(CONFIG + oncall, 'triage.yaml', {}));
    expect(cfg.path).toBe('oncall.handoff.takeWithin');
    expect(cfg.message).toMatch(/^30 has no unit: write 30s or 30000ms/);
    expect(cfg.fix).not.toMatch(/quote/);

    const [rb] = errorsOf(() => parseRunbook(RUNBOOK.replace('    run: echo hi', '    run: echo hi\n    timeout: 30'), 'my.yaml'));
    expect(rb.toLine()).toBe('my.yaml: steps.0.timeout: line 7: 30 has no unit: write 30s or 30000ms (a duration needs its unit: ms, s, m or h) — write it like timeout: 30s');
  });

  it('a value of the wrong kind says which kinds would do, and a near enum value is offered', () => {
    const params = (p: string) => RUNBOOK.replace('steps:', `params:\n  - name: x\n    ${p}\nsteps:`);
    const [list] = errorsOf(() => parseRunbook(params('default: [1]'), 'my.yaml'));
    expect(list.toLine()).toBe('my.yaml: params.0.default: line 5: expected text, a number or true or false, got a list — change it to text, a number or true or false');
    const [kind] = errorsOf(() => parseRunbook(params('type: strng'), 'my.yaml'));
    expect(kind.message).toBe("line 5: 'strng' is not allowed — did you mean 'string'?");
    expect(kind.fix).toMatch(/^use one of: string, int, bool, enum, /);
  });

  it('a missing key is reported with an example to add, and every problem of the file comes at once, in line order', () => {
    const errors = errorsOf(() => parseRunbook('name: Bad Name\nsteps: []\n', 'my.yaml'));
    // A missing key points at the mapping that should hold it: the top of the file, so it comes first.
    expect(errors.map((e) => e.path)).toEqual(['description', 'name', 'steps']);
    expect(errors.find((e) => e.path === 'name')?.message).toBe('line 1: runbook names are lowercase words or digits with dashes');
    expect(errors.find((e) => e.path === 'description')?.fix).toBe('add description: what this runbook finds out');
    expect(errors.find((e) => e.path === 'steps')?.message).toBe('line 2: the list is empty');
  });
});
