/**
 * Trust at 3 a.m.: a diagnosis never says "healthy" while a check failed,
 * errored or timed out. When no rule explains the failures the run is
 * `unhealthy` with cause `inconclusive`, the failing steps as evidence and
 * what was not checked; skipped steps say why in words, never expression
 * source, and titles never show placeholders.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { TriageError } from '../../src/errors.ts';
import { LocalExecutor } from '../../src/executors/local.ts';
import { runRunbook } from '../../src/runbooks/engine.ts';
import { parseRunbook } from '../../src/runbooks/loader.ts';

const executor = new LocalExecutor();
afterAll(() => executor.close());

function runbook(yaml: string) {
  return parseRunbook(yaml, 'test.yaml').runbook;
}

async function run(yaml: string, target: Record<string, unknown> = {}) {
  return runRunbook({
    runId: 'r_test0001',
    runbook: runbook(yaml),
    target: { name: 'shop', ...target },
    hosts: [{ name: 'web1', address: 'local' }],
    params: {},
    executor,
  });
}

describe('no false healthy', () => {
  it('a failing step that no rule explains is unhealthy/inconclusive with the step as evidence', async () => {
    const r = await run(`
name: checks
description: two checks, one fails, no findings at all
steps:
  - { id: ok, title: disk, run: "echo fine" }
  - { id: broken, title: app port, run: "echo 'connection refused' >&2; exit 7" }
`);
    expect(r.status).toBe('unhealthy');
    expect(r.cause).toBe('inconclusive');
    const f = r.findings.find((x) => x.code === 'inconclusive')!;
    expect(f.host).toBe('web1');
    expect(f.title).toMatch(/app port/);
    expect(f.evidence[0]).toBe('app port: failed (exit 7): connection refused');
  });

  it('a step that never answers (timeout) is not healthy', async () => {
    const r = await run(`
name: hangs
description: one step hangs
steps:
  - { id: slow, title: health URL, run: "sleep 13.37", timeout: 1s }
`);
    expect(r.hosts[0]!.steps[0]!.status).toBe('timeout');
    expect(r.status).toBe('unhealthy');
    expect(r.cause).toBe('inconclusive');
    expect(r.findings[0]!.evidence[0]).toMatch(/^health URL: no answer within/);
  });

  it('a step whose session drops mid-step (error) is not healthy', async () => {
    // The executor's contract for a session that dies under a step: reject with EXEC_FAILED.
    // (The real drop is exercised end to end in test/executors and test/chaos.)
    const dropping = {
      exec: async () => {
        throw new TriageError('EXEC_FAILED', 'shell session on web1 closed');
      },
      close: async () => {},
    };
    const r = await runRunbook({
      runId: 'r_test0002',
      runbook: runbook(`
name: dropped
description: the step's session dies under it
steps:
  - { id: state, title: service state, run: "sleep 1" }
`),
      target: { name: 'shop' },
      hosts: [{ name: 'web1', address: 'local' }],
      params: {},
      executor: dropping,
    });
    expect(r.hosts[0]!.steps[0]!.status).toBe('error');
    expect(r.status).toBe('unhealthy');
    expect(r.cause).toBe('inconclusive');
    expect(r.findings[0]!.evidence[0]).toBe('service state: error EXEC_FAILED: shell session on web1 closed');
  });

  it('says what was not checked, in words', async () => {
    const r = await run(`
name: partial
description: nginx is not configured, the app check fails
steps:
  - { id: conf, title: "nginx config \${{ target.nginx.config }}", when: target.nginx != null, run: "nginx -t" }
  - { id: app, title: app, run: "exit 1" }
`);
    expect(r.cause).toBe('inconclusive');
    const conf = r.hosts[0]!.steps[0]!;
    expect(conf.status).toBe('skipped');
    expect(conf.reason).toBe('no nginx in the config');
    expect(conf.title).toBe('nginx config');
    expect(r.findings[0]!.evidence).toContain('not checked: nginx config (no nginx in the config)');
  });

  it('a real finding still wins over inconclusive, and warnings alone stay healthy', async () => {
    const r = await run(`
name: explained
description: a failure with its own finding
steps:
  - id: port
    title: app port
    run: "exit 1"
    finding: { code: service-down, severity: critical, title: the app is down, fix: start it }
  - { id: soft, title: cache, run: "exit 1", status: { warn: "soft.exit == 1" } }
`);
    expect(r.cause).toBe('service-down');
    expect(r.findings.map((f) => f.code)).not.toContain('inconclusive');

    const w = await run(`
name: warns
description: only a warning
steps:
  - { id: soft, title: cache, run: "exit 1", status: { warn: "soft.exit == 1" } }
`);
    expect(w.status).toBe('healthy');
  });
});

describe('skipped steps in words', () => {
  it('a step skipped because an earlier one passed says so', async () => {
    const r = await run(`
name: chain
description: the second step only runs when the first fails
steps:
  - { id: listen, title: app port, run: "true" }
  - { id: logs, title: app log, when: "listen.status == 'fail'", run: "true" }
`);
    expect(r.status).toBe('healthy');
    expect(r.hosts[0]!.steps[1]!.reason).toBe('not needed: listen passed');
  });

  it('a command that needs an unset fact is skipped naming the fact; the title shows no placeholder', async () => {
    const r = await run(
      `
name: db
description: needs a database
steps:
  - { id: db, title: "database \${{ target.database.host }} at \${{ target.database.host }}:\${{ target.database.port }}", run: "echo \${{ target.database.host }}" }
`,
      {},
    );
    const s = r.hosts[0]!.steps[0]!;
    expect(s.status).toBe('skipped');
    expect(s.reason).toBe('no database in the config');
    expect(s.title).toBe('database');
    expect(s.title).not.toMatch(/…|\$\{\{/);
  });
});
