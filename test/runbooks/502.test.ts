/**
 * The user's story: nginx answers 502, the on-call engineer runs
 * `triage run 502 shop`, and Triage names the real root cause — found over
 * real SSH against a real nginx in front of a real app broken one way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { type Scenario502, setup502 } from '../support/scenarios.ts';

let fleet: Fleet;
beforeAll(async () => {
  fleet = await startFleet({ hosts: 1 });
});
afterAll(async () => {
  await fleet?.stop();
});

async function diagnose(kind: Scenario502, hosts?: Record<string, object>) {
  const s = await setup502(kind, { hosts: hosts ?? fleetConfigHosts(fleet) });
  try {
    const run = await runCli(['run', '502', 'shop', '--config', s.configPath, '--json']);
    return { run, result: run.json, s };
  } finally {
    await s.cleanup();
  }
}

describe('triage run 502 tells every cause apart', () => {
  const cases: [Scenario502, string][] = [
    ['service-down', 'service-down'],
    ['port-mismatch', 'port-mismatch'],
    ['port-conflict', 'port-conflict'],
    ['dependency-missing', 'dependency-missing'],
    ['code-error', 'code-error'],
    ['missing-env', 'missing-env'],
    ['db-unreachable', 'db-unreachable'],
    ['nginx-config-invalid', 'nginx-config-invalid'],
    ['upstream-error', 'upstream-error'],
  ];
  for (const [kind, cause] of cases) {
    it(`${kind}: reports cause ${cause} with evidence and a fix, exit 1`, async () => {
      const { run, result } = await diagnose(kind);
      expect(run.stderr).toBe('');
      expect(result, run.stdout).toBeDefined();
      expect(result.status).toBe('unhealthy');
      expect(result.cause, JSON.stringify(result.findings, null, 2)).toBe(cause);
      const top = result.findings[0];
      expect(top.code).toBe(cause);
      expect(top.host).toBe('web1');
      expect(top.evidence.length).toBeGreaterThan(0);
      expect(top.fix).not.toBe('');
      expect(run.code).toBe(1);
    });
  }

  it('a healthy setup comes back healthy with exit 0', async () => {
    const { run, result } = await diagnose('healthy');
    expect(result.status, JSON.stringify(result, null, 2)).toBe('healthy');
    expect(result.cause).toBeNull();
    expect(run.code).toBe(0);
    expect(result.hosts[0].steps.map((s: { status: string }) => s.status)).not.toContain('fail');
  });
});

describe('evidence reads like the seed write-up', () => {
  it('port-mismatch names both ports', async () => {
    const { result, s } = await diagnose('port-mismatch');
    const top = result.findings[0];
    const text = top.evidence.join('\n');
    expect(text).toContain(`:${s.config.targets.shop.port}`);
    expect(text).toContain(`:${s.config.targets.shop.port + 1}`);
  });

  it('dependency-missing names the missing module', async () => {
    const { result } = await diagnose('dependency-missing');
    expect(result.summary).toContain('fastapi');
  });

  it('missing-env names the variable and never prints its value', async () => {
    const { run, result } = await diagnose('missing-env');
    expect(result.summary).toMatch(/JWT_SECRET|DATABASE_URL/);
    expect(run.stdout).not.toMatch(/s3cr3tpass/);
  });
});

describe('the same runbook on the worker itself (address: local)', () => {
  it('finds service-down without SSH', async () => {
    const { result } = await diagnose('service-down', { web1: { address: 'local' } });
    expect(result.cause).toBe('service-down');
    expect(result.hosts[0].reachable).toBe(true);
  });
});

describe('a target with only a port and a health URL configured', () => {
  it('still names the cause in plain words, with no empty evidence lines', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { freePort } = await import('../support/processes.ts');
    const dir = mkdtempSync(join(tmpdir(), 'triage-min-'));
    const port = await freePort();
    const config = join(dir, 'triage.yaml');
    writeFileSync(config, `hosts:\n  box: { address: local }\ntargets:\n  shop: { hosts: [box], workdir: ${dir}, port: ${port}, health: "http://127.0.0.1:${port}/health" }\n`);
    try {
      const r = await runCli(['run', '502', 'shop', '--config', config, '--json']);
      expect(r.json.cause).toBe('service-down');
      const top = r.json.findings[0];
      expect(top.title).toBe(`shop is not running: nothing listens on :${port}`);
      for (const line of top.evidence) expect(line).not.toMatch(/:\s*$/);
      expect(top.fix).toContain(`start the app that should listen on :${port}`);
      // no .env and no required variables: not a finding
      expect(r.json.findings.map((f: { code: string }) => f.code)).not.toContain('missing-env');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
