/**
 * A runbook author's story: a mistake in a runbook is refused with the file,
 * the line and how to fix it — and nothing half-valid is ever run.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are runbook text, where ${{ }} is the template syntax
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
    expect(p.join('\n')).toMatch(/my\.yaml: steps\.0\.rn: line 6: unknown key 'rn' — did you mean 'run'\? — rename 'rn' to 'run'/);
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

/** A runbook with two probe steps; `patch` edits its text to plant one mistake. */
const two = `name: two
description: d
params:
  - { name: lines, type: int, default: 50 }
steps:
  - id: service
    title: service state
    probe: service
    args: ["\${{ target.service.manager }}", "\${{ target.service.name }}"]
    capture:
      state: { regex: '^state=(\\S+)' }
      pids: { regex: '^pid=(\\d+)$', type: numbers }
    status:
      fail: service.state != 'active'
  - id: listen
    title: what listens
    when: target.port != null
    skip: no port in the config
    probe: listener
    args: ["\${{ target.port }}"]
    summary: "\${{ listen.address }}"
    capture:
      address: { regex: '^listener=(.*)$' }
findings:
  - code: service-down
    title: it is down
    when: service.state != 'active'
    evidence: ["state \${{ service.state }}"]
    fix: start it
`;

describe('lint checks every name a runbook uses', () => {
  const patched = (from: string, to: string) => {
    expect(two).toContain(from);
    return problems(two.replace(from, to)).join('\n');
  };

  it('the unpatched runbook is fine', () => {
    expect(problems(two)).toEqual([]);
  });

  it('a misspelt step in a rule names the file, the step and what was meant', () => {
    const p = patched("fail: service.state != 'active'", "fail: servce.state != 'active'");
    expect(p).toMatch(/^my\.yaml: steps\.0\.status\.fail: line \d+: step "service": unknown name "servce\.state" — did you mean service\.state\?/m);
  });

  it('a misspelt capture, in a runbook-level finding', () => {
    const p = patched("when: service.state != 'active'", "when: service.stat != 'active'");
    expect(p).toMatch(/findings\.0\.when: .*step "service" has no capture "stat" \(in "service\.stat"\) — did you mean service\.state\?/);
  });

  it('evidence, summaries and titles are checked too', () => {
    expect(patched('state ${{ service.state }}', 'state ${{ service.sate }}')).toMatch(/findings\.0\.evidence\.0: .*did you mean service\.state\?/);
    expect(patched('summary: "${{ listen.address }}"', 'summary: "${{ listen.adress }}"')).toMatch(/steps\.1\.summary: .*step "listen": step "listen" has no capture "adress".*did you mean listen\.address\?/);
    expect(patched('title: what listens', 'title: what listens (${{ lisen.address }})')).toMatch(/steps\.1\.title: .*unknown name "lisen\.address" — did you mean listen\.address\?/);
  });

  it('a step may only use steps before it', () => {
    const p = patched("fail: service.state != 'active'", "fail: service.state != 'active' && !listen.ok");
    expect(p).toMatch(/steps\.0\.status\.fail: .*step "service": uses "listen\.ok", but step "listen" runs later — a step may only use steps before it/);
  });

  it('a when may not use its own step (it has not run yet)', () => {
    expect(patched('when: target.port != null', 'when: listen.ok')).toMatch(/steps\.1\.when: .*uses "listen\.ok", but step "listen"/);
  });

  it('target.* keys must be config keys, at every level', () => {
    expect(patched('when: target.port != null', 'when: target.prot != null')).toMatch(/"target\.prot" is not a target config key — did you mean target\.port\?/);
    expect(patched('"${{ target.service.name }}"', '"${{ target.service.nmae }}"')).toMatch(/steps\.0\.args\.1: .*"target\.service\.nmae" is not a target config key — did you mean target\.service\.name\?/);
    expect(patched('when: target.port != null', 'when: target.nginx.locaton != null')).toMatch(/did you mean target\.nginx\.location\?/);
  });

  it('params.* must be declared, host.* must exist', () => {
    expect(patched('when: target.port != null', 'when: params.line > 0')).toMatch(/unknown parameter "params\.line" — did you mean params\.lines\?.*declare it under params:/);
    expect(patched('when: target.port != null', 'when: host.adress != null')).toMatch(/unknown name "host\.adress" — did you mean host\.address\?/);
  });

  it('a probe must exist, get the arguments its usage line takes, and only the environment it reads', () => {
    expect(patched('probe: listener', 'probe: listner')).toMatch(/steps\.1\.probe: .*unknown probe "listner" — did you mean listener\?/);
    expect(patched('args: ["${{ target.port }}"]', 'args: ["${{ target.port }}", "x"]')).toMatch(/probe listener takes 1 argument, got 2 — usage: listener PORT/);
    expect(patched('args: ["${{ target.port }}"]', 'args: ["${{ target.port }}"]\n    env: { PORT: "1" }')).toMatch(/steps\.1\.env\.PORT: .*probe listener does not read PORT — it reads no environment/);
  });

  it('a step needs exactly one of probe: and run:', () => {
    expect(patched('    probe: listener\n', '    probe: listener\n    run: echo hi\n')).toMatch(/exactly one of probe: .* or run:/);
    expect(patched('    probe: listener\n    args: ["${{ target.port }}"]\n', '')).toMatch(/exactly one of probe:/);
  });

  it('a probe’s arguments, like commands, may not carry text captured from output', () => {
    const p = problems(
      two.replace('args: ["${{ target.port }}"]', 'args: ["${{ service.state }}"]'),
    ).join('\n');
    expect(p).toMatch(/steps\.1\.args\.0: .*command uses "service\.state"/);
  });
});

describe('durations always carry a unit', () => {
  it('timeout: 30 is refused with what to write instead', () => {
    const p = problems(ok.replace('    run:', '    timeout: 30\n    run:')).join('\n');
    expect(p).toMatch(/steps\.0\.timeout: line \d+: 30 has no unit: write 30s or 30000ms/);
  });

  it('timeout: 30s, 500ms and 2m are what they say', () => {
    for (const [text, ms] of [['30s', 30_000], ['500ms', 500], ['2m', 120_000]] as const) {
      const { runbook } = parseRunbook(ok.replace('    run:', `    timeout: ${text}\n    run:`), 'my.yaml');
      expect(runbook.steps[0]!.timeout).toBe(ms);
    }
    expect(parseRunbook(ok, 'my.yaml').runbook.steps[0]!.timeout).toBe(15_000);
  });

  it('a duration parameter’s default needs a unit, and so does --param d=30', async () => {
    const withParam = ok.replace('steps:', 'params:\n  - { name: wait, type: duration, default: 30 }\nsteps:');
    expect(problems(withParam).join('\n')).toMatch(/params\.0\.default: .*parameter "wait": default 30 has no unit — write 30s or 30000ms/);
    const { validateParams } = await import('../../src/runbooks/params.ts');
    const { runbook } = parseRunbook(withParam.replace('default: 30 ', "default: '30s' "), 'my.yaml');
    expect(validateParams(runbook, {}).wait).toBe(30_000);
    expect(validateParams(runbook, { wait: '2m' }).wait).toBe(120_000);
    expect(() => validateParams(runbook, { wait: '30' })).toThrow(/"30" is not a duration: write 30s or 30000ms/);
  });
});

describe('built-in runbooks are held to plain words', () => {
  const builtin = (text: string) => {
    try {
      parseRunbook(text, 'builtin.yaml', true);
    } catch (e) {
      if (e instanceof TriageErrors) return e.errors.map((x) => x.toLine()).join('\n');
      throw e;
    }
    return '';
  };

  it('the fixture passes as a built-in', () => {
    expect(builtin(two)).toBe('');
  });

  it('a title with ${{ }} would show a placeholder when skipped: refused', () => {
    expect(builtin(two.replace('title: what listens', 'title: what listens on :${{ target.port }}'))).toMatch(/steps\.1\.title: .*must be plain words — move the values into summary:/);
  });

  it('a when: without skip: is refused', () => {
    expect(builtin(two.replace('    skip: no port in the config\n', ''))).toMatch(/steps\.1\.when: .*needs skip: saying in plain words why/);
  });
});
