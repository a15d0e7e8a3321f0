/**
 * A newcomer's first command: `triage demo` needs no config and no tokens,
 * shows a real 502, diagnoses it through the queue, and leaves nothing behind.
 */
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';

it('triage demo diagnoses a real 502 end to end and cleans up', async () => {
  const r = await runCli(['demo']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/answers 502 Bad Gateway/);
  expect(r.stdout).toMatch(/✗ dependency-missing — .* Node module express is not installed/);
  expect(r.stdout).toMatch(/fix: install the dependencies in .*`npm ci`/);
  expect(r.stdout).toMatch(/run r_\w+/);
  const left = execFileSync('sh', ['-c', "ps -eo args | grep -c '[t]riage-demo-api-' || true"]).toString().trim();
  expect(left).toBe('0');
});

it('triage demo --json prints the SPEC result object only', async () => {
  const r = await runCli(['demo', '--json']);
  expect(r.code).toBe(0);
  expect(r.json).toMatchObject({ runbook: '502', target: 'demo-shop', status: 'unhealthy', cause: 'dependency-missing' });
  expect(r.json.hosts[0].steps.length).toBeGreaterThan(3);
  // the demo's .env holds real-looking secrets: none may appear in the output
  expect(r.stdout).not.toMatch(/postgres:\/\/demo:[0-9a-f]{16}@/);
});
