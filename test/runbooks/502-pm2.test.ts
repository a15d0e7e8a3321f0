/**
 * Seed 004's setup: a Node API managed by a real pm2. Its `.env` is missing,
 * so it crashes on start and pm2 keeps restarting it; nginx-facing callers
 * get 502. Triage must name `missing-env` and give pm2's own fix
 * (`pm2 restart <name> --update-env`), never printing a secret.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { freePort } from '../support/processes.ts';

let dir: string;
let pm2Home: string;
const savedHome = process.env.PM2_HOME;
const SECRET = 'pm2-test-secret-value-0123456789abcdef0123456789abcdef01';

function pm2(...args: string[]): string {
  return execFileSync('pm2', args, { env: { ...process.env, PM2_HOME: pm2Home }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function ensurePm2(): void {
  try {
    execFileSync('pm2', ['--version'], { stdio: 'ignore', env: { ...process.env, PM2_HOME: pm2Home } });
  } catch {
    if (process.getuid?.() !== 0) throw new Error('these tests need pm2: run `npm install -g pm2` (or run them as root to install it)');
    execFileSync('npm', ['install', '-g', 'pm2@7', '--no-audit', '--no-fund'], { stdio: 'ignore' });
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'triage-pm2-'));
  pm2Home = join(dir, 'pm2-home');
  ensurePm2();
  // The local executor's shell inherits this: the runbook talks to this test's own pm2 daemon.
  process.env.PM2_HOME = pm2Home;
}, 120_000);

afterAll(() => {
  try {
    pm2('kill');
  } catch {
    /* daemon never started */
  }
  if (savedHome === undefined) delete process.env.PM2_HOME;
  else process.env.PM2_HOME = savedHome;
  rmSync(dir, { recursive: true, force: true });
});

async function pm2App(name: string, withEnv: boolean): Promise<{ config: string; port: number }> {
  const port = await freePort();
  const app = join(dir, name);
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(
    join(app, 'server.js'),
    `const fs = require('fs');
const env = {};
try { for (const l of fs.readFileSync(__dirname + '/.env', 'utf8').split('\\n')) { const m = /^(\\w+)=(.*)$/.exec(l); if (m) env[m[1]] = m[2]; } } catch {}
for (const k of ['JWT_SECRET', 'DATABASE_URL']) if (!env[k]) { console.error('Error: environment variable ' + k + ' is not set'); process.exit(1); }
require('http').createServer((q, r) => r.end('{"ok":true}')).listen(${port}, '127.0.0.1');
`,
  );
  if (withEnv) writeFileSync(join(app, '.env'), `JWT_SECRET=${SECRET}\nDATABASE_URL=postgres://app:pw-${SECRET}@127.0.0.1:5432/app\n`);
  pm2('start', join(app, 'server.js'), '--name', name, '--restart-delay', '200');
  await new Promise((r) => setTimeout(r, 1500)); // let it crash-loop (or come up)
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    stringify({
      hosts: { web1: { address: 'local' } },
      targets: {
        shop: {
          hosts: ['web1'],
          service: { manager: 'pm2', name },
          port,
          health: `http://127.0.0.1:${port}/health`,
          workdir: app,
          envFile: '.env',
          requiredEnv: ['JWT_SECRET', 'DATABASE_URL'],
        },
      },
    }),
  );
  return { config, port };
}

describe('502 with a pm2-managed app', () => {
  it('a missing .env under pm2: missing-env, with pm2 restart --update-env as the fix', async () => {
    const { config } = await pm2App('restaurant-backend', false);
    const r = await runCli(['run', '502', 'shop', '--config', config, '--json']);
    expect(r.json.cause, JSON.stringify(r.json.findings, null, 2)).toBe('missing-env');
    const top = r.json.findings[0];
    expect(top.evidence.join('\n')).toMatch(/\.env is missing/);
    expect(top.evidence.join('\n')).toMatch(/environment variable JWT_SECRET is not set/);
    expect(top.fix).toContain('pm2 restart restaurant-backend --update-env');
    // pm2 read its status from jlist on the host; the step reports it
    expect(r.json.hosts[0].steps[0].summary).toMatch(/^pm2 restaurant-backend: /);
    pm2('delete', 'restaurant-backend');
  });

  it('a healthy pm2 app is healthy, and jlist env values never leave the host', async () => {
    const { config } = await pm2App('healthy-api', true);
    const r = await runCli(['run', '502', 'shop', '--config', config, '--json']);
    expect(r.json.status, JSON.stringify(r.json.hosts[0].steps, null, 2)).toBe('healthy');
    expect(r.json.hosts[0].steps[0].summary).toBe('pm2 healthy-api: active');
    expect(r.stdout).not.toContain(SECRET);
    expect(r.stdout).toMatch(/JWT_SECRET file=set\(\d+ chars\) process=set\(\d+ chars\)|JWT_SECRET file=set\(\d+ chars\)/);
    pm2('stop', 'healthy-api');
    const stopped = await runCli(['run', '502', 'shop', '--config', config, '--json']);
    expect(stopped.json.cause).toBe('service-down');
    expect(stopped.json.findings[0].fix).toContain('pm2 start healthy-api');
    pm2('delete', 'healthy-api');
  });
});
