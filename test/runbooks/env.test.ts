/**
 * Seed 004's story through `triage run env <target>`: the API's `.env` is
 * missing (JWT_SECRET unset, "invalid signature"), or lacks a variable, or
 * has it while the running process was started before it was written. Each
 * broken setup has a healthy twin; values never appear in the output, only
 * their lengths. Steps run over real SSH (the test fleet); the pm2 story runs
 * against a real pm2 daemon of its own.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp } from '../support/apps.ts';
import { runCli } from '../support/cli.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { freePort, makeTempDir, randomId, removeTempDir, spawnTracked } from '../support/processes.ts';

const SECRET = randomBytes(48).toString('base64url').slice(0, 58);
const DB_URL = `postgres://app:pw-${randomId(10)}@127.0.0.1:5432/app`;

let fleet: Fleet;
let dir: string;
beforeAll(async () => {
  [fleet, dir] = await Promise.all([startFleet({ hosts: 1 }), makeTempDir('triage-env-')]);
});
afterAll(async () => {
  await Promise.all([fleet?.stop(), removeTempDir(dir)]);
});

async function configFor(name: string, target: Record<string, unknown>, hosts: Record<string, object> = fleetConfigHosts(fleet)): Promise<string> {
  const file = path.join(dir, `${name}.yaml`);
  await fsp.writeFile(file, stringify({ hosts, targets: { shop: { hosts: Object.keys(hosts), requiredEnv: ['JWT_SECRET', 'DATABASE_URL'], ...target } } }));
  return file;
}

async function diagnose(config: string) {
  const t0 = Date.now();
  const run = await runCli(['run', 'env', 'shop', '--config', config, '--json']);
  expect(run.json, run.stdout + run.stderr).toBeDefined();
  console.log(`env ${path.basename(config, '.yaml')}: ${run.json.cause ?? 'healthy'} in ${Date.now() - t0} ms (run ${run.json.durationMs} ms)`);
  expect(run.stdout).not.toContain(SECRET);
  expect(run.stdout).not.toContain(DB_URL);
  return { run, result: run.json, top: run.json.findings[0] };
}

/** A long-running app whose environment is exactly `env` (what a manager passes it), found by `pgrep -f marker`. */
async function appWithEnv(env: Record<string, string>) {
  const marker = `triage-envapp-${randomId()}`;
  const proc = await spawnTracked(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker], { env: { PATH: process.env.PATH, ...env } });
  return { marker, proc };
}

const future = () => Math.floor(Date.now() / 1000) + 30;

describe('triage run env (seed 004)', () => {
  it('no .env: env-file-missing, with the example file to copy and the restart to run', async () => {
    const app = await startApp('crash-env', { port: await freePort(), dir: path.join(dir, 'missing') });
    const config = await configFor('missing', { workdir: app.workdir, service: { manager: 'process', name: app.marker } });
    const { run, result, top } = await diagnose(config);
    expect(result.cause, JSON.stringify(result.findings, null, 2)).toBe('env-file-missing');
    expect(run.code).toBe(1);
    expect(top.evidence).toContain(`no file at ${app.workdir}/.env`);
    expect(top.evidence).toContain('required: JWT_SECRET, DATABASE_URL');
    expect(top.fix).toContain(`cp ${app.workdir}/.env.example ${app.workdir}/.env`);
    await app.stop();
  });

  it('healthy twin: the same app with its .env in place is healthy (it reads the file itself; an info note says so)', async () => {
    const app = await startApp('ok', { port: await freePort(), dir: path.join(dir, 'present'), env: { JWT_SECRET: SECRET, DATABASE_URL: DB_URL } });
    const config = await configFor('present', { workdir: app.workdir, service: { manager: 'process', name: app.marker } });
    const { run, result } = await diagnose(config);
    expect(result.status, JSON.stringify(result, null, 2)).toBe('healthy');
    expect(run.code).toBe(0);
    // dotenv-style: the file is read inside the process, so /proc shows nothing — reported, not blamed
    expect(result.findings.map((f: { code: string; severity: string }) => `${f.code}/${f.severity}`)).toEqual(['env-not-loaded/info']);
    expect(run.stdout).toContain(`var JWT_SECRET file=set(${SECRET.length} chars)`);
    await app.stop();
  });

  it('a .env without JWT_SECRET (and DATABASE_URL empty): missing-env naming both, values never shown', async () => {
    const wd = path.join(dir, 'lacking');
    await fsp.mkdir(wd);
    await fsp.writeFile(path.join(wd, '.env'), `NODE_ENV=production\nDATABASE_URL=\nPORT=3000\n`);
    const config = await configFor('lacking', { workdir: wd });
    const { result, top } = await diagnose(config);
    expect(result.cause, JSON.stringify(result.findings, null, 2)).toBe('missing-env');
    expect(top.title).toBe(`${wd}/.env does not set JWT_SECRET, DATABASE_URL`);
    expect(top.evidence).toContain('set but empty: DATABASE_URL');
    expect(top.fix).toContain('add JWT_SECRET, DATABASE_URL');

    await fsp.writeFile(path.join(wd, '.env'), `NODE_ENV=production\nJWT_SECRET="${SECRET}"\nDATABASE_URL=${DB_URL}\n`);
    const fixed = await diagnose(config);
    expect(fixed.result.status, JSON.stringify(fixed.result, null, 2)).toBe('healthy');
    expect(fixed.run.stdout).toContain(`var JWT_SECRET file=set(${SECRET.length} chars) process=unknown`);
  });

  it('the file got JWT_SECRET after the process started: env-not-loaded; restarted with it, healthy', async () => {
    const wd = path.join(dir, 'stale');
    await fsp.mkdir(wd);
    const old = await appWithEnv({ DATABASE_URL: DB_URL });
    try {
      await fsp.writeFile(path.join(wd, '.env'), `JWT_SECRET=${SECRET}\nDATABASE_URL=${DB_URL}\n`);
      await fsp.utimes(path.join(wd, '.env'), future(), future());
      const config = await configFor('stale', { workdir: wd, service: { manager: 'process', name: old.marker } });
      const { run, result, top } = await diagnose(config);
      expect(result.cause, JSON.stringify(result.hosts, null, 2)).toBe('env-not-loaded');
      expect(run.code).toBe(1);
      expect(top.severity).toBe('critical');
      expect(top.evidence[0]).toBe(`in ${wd}/.env, not in the running process (pid ${old.proc.pid}): JWT_SECRET`);
      expect(top.fix).toContain('stop it and start it again');
      expect(run.stdout).toContain(`var JWT_SECRET file=set(${SECRET.length} chars) process=missing`);
    } finally {
      await old.proc.stop();
    }
    // the fix: start it again with the file's environment
    await fsp.utimes(path.join(wd, '.env'), Date.now() / 1000 - 60, Date.now() / 1000 - 60);
    const fresh = await appWithEnv({ JWT_SECRET: SECRET, DATABASE_URL: DB_URL });
    try {
      const config = await configFor('stale', { workdir: wd, service: { manager: 'process', name: fresh.marker } });
      const { run, result } = await diagnose(config);
      expect(result.status, JSON.stringify(result, null, 2)).toBe('healthy');
      expect(run.stdout).toContain(`var JWT_SECRET file=set(${SECRET.length} chars) process=set(${SECRET.length} chars)`);
    } finally {
      await fresh.proc.stop();
    }
  });
});

describe('env-not-loaded under a real pm2: the fix is pm2 restart --update-env', () => {
  let pm2Home: string;
  const saved = process.env.PM2_HOME;
  const pm2 = (args: string[], env: Record<string, string> = {}) =>
    execFileSync('pm2', args, { env: { ...process.env, PM2_HOME: pm2Home, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  beforeAll(() => {
    pm2Home = path.join(dir, 'pm2-home');
    // the local executor's shell inherits this: the runbook talks to this test's own pm2 daemon
    process.env.PM2_HOME = pm2Home;
  });
  afterAll(() => {
    try {
      pm2(['kill']);
    } catch {
      /* never started */
    }
    if (saved === undefined) delete process.env.PM2_HOME;
    else process.env.PM2_HOME = saved;
  });

  it('restaurant-backend started before .env had JWT_SECRET: env-not-loaded with pm2’s own fix; after it, healthy', async () => {
    const wd = path.join(dir, 'pm2app');
    await fsp.mkdir(wd);
    await fsp.writeFile(path.join(wd, 'server.js'), 'setInterval(() => {}, 1000);\n');
    pm2(['start', path.join(wd, 'server.js'), '--name', 'restaurant-backend'], { DATABASE_URL: DB_URL });
    await fsp.writeFile(path.join(wd, '.env'), `JWT_SECRET=${SECRET}\nDATABASE_URL=${DB_URL}\n`);
    await fsp.utimes(path.join(wd, '.env'), future(), future());
    const config = await configFor('pm2', { workdir: wd, service: { manager: 'pm2', name: 'restaurant-backend' } }, { local: { address: 'local' } });
    const { result, top } = await diagnose(config);
    expect(result.cause, JSON.stringify(result.hosts, null, 2)).toBe('env-not-loaded');
    expect(top.fix).toContain('pm2 restart restaurant-backend --update-env');

    await fsp.utimes(path.join(wd, '.env'), Date.now() / 1000 - 60, Date.now() / 1000 - 60);
    pm2(['restart', 'restaurant-backend', '--update-env'], { JWT_SECRET: SECRET, DATABASE_URL: DB_URL });
    const fixed = await diagnose(config);
    expect(fixed.result.status, JSON.stringify(fixed.result, null, 2)).toBe('healthy');
    pm2(['delete', 'restaurant-backend']);
  });

  it('the fix, approved: pm2 restarts it, the new process reads the .env it lacked, and the re-check passes', async () => {
    const wd = path.join(dir, 'pm2fix');
    await fsp.mkdir(wd);
    // dotenv-style: on start the app reads .env itself and reports whether it got JWT_SECRET
    await fsp.writeFile(
      path.join(wd, 'server.js'),
      "const fs = require('fs'); let v = ''; try { const m = /^JWT_SECRET=(.*)$/m.exec(fs.readFileSync(__dirname + '/.env', 'utf8')); v = m ? m[1] : ''; } catch {}\n" +
        "fs.writeFileSync(__dirname + '/started.txt', 'pid=' + process.pid + ' jwt=' + v.length + '\\n');\nsetInterval(() => {}, 1000);\n",
    );
    await fsp.writeFile(path.join(wd, '.env'), `DATABASE_URL=${DB_URL}\n`);
    pm2(['start', path.join(wd, 'server.js'), '--name', 'api-envfix'], { DATABASE_URL: DB_URL });
    const started = () => fsp.readFile(path.join(wd, 'started.txt'), 'utf8').catch(() => '');
    for (let i = 0; i < 100 && !(await started()); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await started()).toMatch(/ jwt=0$/m);
    // written after the process started (more than the probe's 2 s of slack), not in the future
    await new Promise((r) => setTimeout(r, 3500));
    await fsp.writeFile(path.join(wd, '.env'), `JWT_SECRET=${SECRET}\nDATABASE_URL=${DB_URL}\n`);
    const config = await configFor('pm2fix', { workdir: wd, service: { manager: 'pm2', name: 'api-envfix' } }, { local: { address: 'local' } });
    try {
      const asked = await runCli(['run', 'env', 'shop', '--config', config, '--json']);
      expect(asked.json.cause, JSON.stringify(asked.json.hosts, null, 2)).toBe('env-not-loaded');
      expect(asked.json.remediation).toEqual([expect.objectContaining({ step: 'restart', outcome: 'needs-approval', ran: false })]);
      expect(await started()).toMatch(/ jwt=0$/m);

      const r = await runCli(['run', 'env', 'shop', '--config', config, '--json', '--approve', 'restart']);
      expect(r.stdout).not.toContain(SECRET);
      expect(r.json.cause).toBe('env-not-loaded');
      const fix = r.json.remediation[0];
      expect(fix, JSON.stringify(r.json, null, 2)).toMatchObject({ finding: 'env-not-loaded', step: 'restart', outcome: 'worked', ran: true, worked: true, evidence: [] });
      expect(fix.recheck.map((c: { id: string }) => c.id)).toEqual(['service', 'age', 'env']);
      expect(fix.recheck.find((c: { id: string }) => c.id === 'env')).toMatchObject({ before: 'fail' });
      expect(r.json.hosts[0].steps.find((st: { id: string }) => st.id === 'restart')).toMatchObject({ status: 'pass', summary: 'pm2 restart api-envfix --update-env' });
      expect(await started()).toMatch(new RegExp(` jwt=${SECRET.length}$`, 'm'));
    } finally {
      pm2(['delete', 'api-envfix']);
    }
  }, 120_000);

  it('a plain process (no manager) is not offered a restart: the step is skipped saying why', async () => {
    const wd = path.join(dir, 'plainfix');
    await fsp.mkdir(wd);
    const old = await appWithEnv({ DATABASE_URL: DB_URL });
    try {
      await fsp.writeFile(path.join(wd, '.env'), `JWT_SECRET=${SECRET}\nDATABASE_URL=${DB_URL}\n`);
      await fsp.utimes(path.join(wd, '.env'), future(), future());
      const config = await configFor('plainfix', { workdir: wd, service: { manager: 'process', name: old.marker } });
      const r = await runCli(['run', 'env', 'shop', '--config', config, '--json', '--approve', 'restart']);
      expect(r.json.cause).toBe('env-not-loaded');
      expect(r.json.remediation).toBeUndefined();
      const step = r.json.hosts[0].steps.find((st: { id: string }) => st.id === 'restart');
      expect(step, JSON.stringify(r.json.hosts[0].steps, null, 2)).toMatchObject({ status: 'skipped' });
      expect(JSON.stringify(step)).toContain('docker restart keeps the old one');
    } finally {
      await old.proc.stop();
    }
  });
});
