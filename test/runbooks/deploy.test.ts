/**
 * Seed 003's one-click deploy, broken each way it broke, through
 * `triage run deploy <target>`: a venv missing the new payment packages, a
 * node_modules missing a locked package, SQL migrations never applied to a
 * real PostgreSQL, a backend still running the code from before the deploy,
 * a frontend built but not served (and nginx not reloaded), other services
 * not listening. Every broken setup has a healthy twin (the same setup with
 * the fix applied). Steps run over real SSH on the test fleet.
 */
import { execFileSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { startNginx } from '../support/nginx.ts';
import { freePort, makeTempDir, randomId, removeTempDir, spawnTracked } from '../support/processes.ts';

const DB_PASSWORD = `pw-${randomId(12)}`;

let fleet: Fleet;
let dir: string;
beforeAll(async () => {
  [fleet, dir] = await Promise.all([startFleet({ hosts: 1 }), makeTempDir('triage-deploy-')]);
});
afterAll(async () => {
  await Promise.all([fleet?.stop(), removeTempDir(dir)]);
});

async function write(file: string, text: string, mtimeSec?: number): Promise<string> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, text);
  if (mtimeSec !== undefined) await fsp.utimes(file, mtimeSec, mtimeSec);
  return file;
}

const nowSec = () => Math.floor(Date.now() / 1000);

async function diagnose(name: string, target: Record<string, unknown>, extra: string[] = []) {
  const config = path.join(dir, `${name}.yaml`);
  const hosts = fleetConfigHosts(fleet);
  await fsp.writeFile(config, stringify({ hosts, targets: { shop: { hosts: Object.keys(hosts), ...target } } }));
  const t0 = Date.now();
  const run = await runCli(['run', 'deploy', 'shop', '--config', config, '--json', ...extra]);
  const ms = Date.now() - t0;
  expect(run.json, run.stdout + run.stderr).toBeDefined();
  expect(run.stdout).not.toContain(DB_PASSWORD);
  console.log(`deploy ${name}: ${run.json.cause ?? 'healthy'} in ${ms} ms (run ${run.json.durationMs} ms)`);
  const steps = run.json.hosts[0].steps as { id: string; status: string; output: string; summary?: string }[];
  return { run, result: run.json, top: run.json.findings[0], steps, why: JSON.stringify(run.json, null, 2) };
}

function distInfo(sitePackages: string, name: string, version: string): Promise<string> {
  return write(path.join(sitePackages, `${name.replace(/-/g, '_')}-${version}.dist-info`, 'METADATA'), `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n\n`);
}

describe('dependencies (seed 003: wechatpayv3 and python-alipay-sdk left out)', () => {
  it('a real venv (pip freeze) missing a package of requirements-production.txt: dependency-missing; installed, healthy', async () => {
    const wd = path.join(dir, 'py');
    await fsp.mkdir(wd, { recursive: true });
    execFileSync('python3', ['-m', 'venv', path.join(wd, 'venv')], { stdio: 'ignore' });
    const sp = execFileSync(path.join(wd, 'venv', 'bin', 'python'), ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).trim();
    // PyPI is out of reach: these stand for what `pip install` leaves behind (pip freeze reads dist-info folders)
    await distInfo(sp, 'wechatpayv3', '1.2.6');
    await distInfo(sp, 'cryptography', '41.0.7');
    await write(path.join(wd, 'requirements-production.txt'), '# 支付相关\nwechatpayv3==1.2.6\npython-alipay-sdk==3.6.0\ncryptography==41.0.7\n');
    const target = { workdir: wd, deploy: { python: { venv: 'venv', requirements: 'requirements-production.txt' } } };

    const { result, top, steps, why } = await diagnose('py', target);
    expect(result.cause, why).toBe('dependency-missing');
    expect(top.title).toContain('python-alipay-sdk missing (wants ==3.6.0)');
    expect(top.evidence[1]).toBe(`read with pip freeze from ${wd}/venv`);
    expect(top.fix).toContain(`${wd}/venv/bin/pip install -r ${wd}/requirements-production.txt`);
    expect(steps.find((s) => s.id === 'python')?.output).toContain('package wechatpayv3 ok 1.2.6');

    await distInfo(sp, 'python-alipay-sdk', '3.6.0');
    const fixed = await diagnose('py-fixed', target);
    expect(fixed.result.status, fixed.why).toBe('healthy');
  }, 180_000);

  it('node_modules lacking a locked package: dependency-missing naming it; npm ci’d, healthy', async () => {
    const wd = path.join(dir, 'node');
    await write(path.join(wd, 'package.json'), JSON.stringify({ name: 'shop-web', version: '1.0.0', dependencies: { 'left-pad': '^1.3.0', ms: '^2.1.3' } }));
    await write(
      path.join(wd, 'package-lock.json'),
      JSON.stringify({ name: 'shop-web', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'shop-web', version: '1.0.0' }, 'node_modules/left-pad': { version: '1.3.0' }, 'node_modules/ms': { version: '2.1.3' } } }, null, 2),
    );
    await write(path.join(wd, 'node_modules', 'left-pad', 'package.json'), '{"name":"left-pad","version":"1.3.0"}');
    const target = { workdir: wd, deploy: { node: { lockfile: 'package-lock.json' } } };
    const { result, top, why } = await diagnose('node', target);
    expect(result.cause, why).toBe('dependency-missing');
    expect(top.evidence[0]).toBe(`${wd}/package-lock.json locks: ms missing (locked 2.1.3)`);
    expect(top.fix).toContain('npm ci --omit=dev');

    await write(path.join(wd, 'node_modules', 'ms', 'package.json'), '{"name":"ms","version":"2.1.3"}');
    const fixed = await diagnose('node-fixed', target);
    expect(fixed.result.status, fixed.why).toBe('healthy');
  });
});

describe('SQL migrations against the real PostgreSQL (seed 003: nine payment files never run)', () => {
  const psql = (db: string, sql: string) => execFileSync('psql', ['-XqAt', '-h', '127.0.0.1', '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
  const dbs: string[] = [];
  afterAll(() => {
    for (const db of dbs) psql('postgres', `drop database if exists ${db}`);
  });

  async function project(name: string) {
    const db = `triage_deploy_${randomId()}`;
    psql('postgres', `create database ${db}`);
    dbs.push(db);
    const wd = path.join(dir, name);
    const files = {
      '001_create_bangong_guanli_tables.sql': 'CREATE TABLE bangong_renwu (id serial PRIMARY KEY, title text);\n',
      '002_create_payment_tables.sql': 'CREATE TABLE IF NOT EXISTS zhifu_peizhi (\n  id serial PRIMARY KEY,\n  name text NOT NULL\n);\nCREATE TABLE payment_orders (id serial PRIMARY KEY, amount numeric(12,2));\n',
      '003_add_remark_to_zhifu_peizhi.sql': 'ALTER TABLE zhifu_peizhi ADD COLUMN remark text;\n',
    };
    for (const [f, sql] of Object.entries(files)) await write(path.join(wd, 'migrations', f), sql);
    await write(path.join(wd, '.env'), `DATABASE_URL=postgresql://postgres:${DB_PASSWORD}@127.0.0.1:5432/${db}\n`);
    const target = {
      workdir: wd,
      database: { kind: 'postgres', host: '127.0.0.1', port: 5432, urlEnv: 'DATABASE_URL' },
      deploy: { migrations: { sql: 'migrations' } },
    };
    const apply = (f: keyof typeof files) => psql(db, files[f]);
    return { db, wd, target, apply };
  }

  it('two of three files applied: migrations-pending names the third and what it lacks; applied, healthy', async () => {
    const p = await project('mig');
    p.apply('001_create_bangong_guanli_tables.sql');
    p.apply('002_create_payment_tables.sql');
    const { result, top, why } = await diagnose('mig', p.target);
    expect(result.cause, why).toBe('migrations-pending');
    expect(top.title).toBe('the database lacks 1 SQL migration(s) the code needs: 003_add_remark_to_zhifu_peizhi.sql');
    expect(top.evidence).toEqual(['003_add_remark_to_zhifu_peizhi.sql pending: missing column zhifu_peizhi.remark']);
    expect(top.fix).toContain('psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f migrations/FILE');

    p.apply('003_add_remark_to_zhifu_peizhi.sql');
    const fixed = await diagnose('mig-fixed', p.target);
    expect(fixed.result.status, fixed.why).toBe('healthy');
    expect(fixed.steps.find((s) => s.id === 'migrations')?.output).toContain('migration 003_add_remark_to_zhifu_peizhi.sql applied (its tables and columns exist)');
  });

  it('a schema_migrations table that lists only the first file: the others are pending until listed', async () => {
    const p = await project('mig-tracked');
    p.apply('001_create_bangong_guanli_tables.sql');
    psql(p.db, "CREATE TABLE schema_migrations (filename text PRIMARY KEY); INSERT INTO schema_migrations VALUES ('001_create_bangong_guanli_tables.sql');");
    const { result, top, why } = await diagnose('mig-tracked', p.target);
    expect(result.cause, why).toBe('migrations-pending');
    expect(top.title).toContain('2 SQL migration(s)');
    expect(top.title).toContain('002_create_payment_tables.sql, 003_add_remark_to_zhifu_peizhi.sql');

    p.apply('002_create_payment_tables.sql');
    p.apply('003_add_remark_to_zhifu_peizhi.sql');
    psql(p.db, "INSERT INTO schema_migrations VALUES ('002_create_payment_tables.sql'), ('003_add_remark_to_zhifu_peizhi.sql');");
    const fixed = await diagnose('mig-tracked-fixed', p.target);
    expect(fixed.result.status, fixed.why).toBe('healthy');
    expect(fixed.steps.find((s) => s.id === 'migrations')?.output).toContain('003_add_remark_to_zhifu_peizhi.sql applied (listed in schema_migrations)');
  });
  it('the fix, approved: without --approve migrate nothing changes; with it the pending file is applied and the re-check passes', async () => {
    const p = await project('mig-fix');
    p.apply('001_create_bangong_guanli_tables.sql');
    p.apply('002_create_payment_tables.sql');
    const asked = await diagnose('mig-fix', p.target);
    expect(asked.result.cause, asked.why).toBe('migrations-pending');
    expect(asked.result.remediation, asked.why).toEqual([
      expect.objectContaining({ finding: 'migrations-pending', step: 'migrate', outcome: 'needs-approval', ran: false, worked: null, reason: 'needs approval: re-run with --approve migrate' }),
    ]);
    const remark = () => psql(p.db, "select count(*) from information_schema.columns where table_name = 'zhifu_peizhi' and column_name = 'remark'").trim();
    expect(remark()).toBe('0');

    const fixed = await diagnose('mig-fix', p.target, ['--approve', 'migrate']);
    const fix = fixed.result.remediation[0];
    expect(fix, fixed.why).toMatchObject({ step: 'migrate', outcome: 'worked', ran: true, worked: true, evidence: [] });
    expect(fix.recheck).toEqual([expect.objectContaining({ id: 'migrations', before: 'fail', after: 'pass', summary: 'sql: 0 pending' })]);
    expect(fixed.steps.find((s) => s.id === 'migrate')).toMatchObject({ status: 'pass', summary: '1 applied' });
    expect(remark()).toBe('1');
    const after = await diagnose('mig-fix-after', p.target);
    expect(after.result.status, after.why).toBe('healthy');
  });

  it('an approved migration that fails (an SQL error): did-not-work, and its transaction rolled back — nothing half-applied', async () => {
    const p = await project('mig-fail');
    p.apply('001_create_bangong_guanli_tables.sql');
    p.apply('002_create_payment_tables.sql');
    await write(path.join(p.wd, 'migrations', '004_create_refunds.sql'), 'CREATE TABLE refunds (id serial PRIMARY KEY);\nALTER TABLE payment_orders ADD COLUMN refund_id int REFERENCES refundz (id);\n');
    const r = await diagnose('mig-fail', p.target, ['--approve', 'migrate']);
    expect(r.result.cause, r.why).toBe('migrations-pending');
    const fix = r.result.remediation[0];
    expect(fix, r.why).toMatchObject({ step: 'migrate', outcome: 'did-not-work', ran: true, worked: false });
    expect(fix.reason).toMatch(/^migrate ended fail \(exit 1\)/);
    expect(fix.evidence.join('\n')).toContain('still: migrations-pending — the database lacks 1 SQL migration(s) the code needs: 004_create_refunds.sql');
    const migrate = r.steps.find((s) => s.id === 'migrate');
    expect(migrate?.output).toContain('applied=003_add_remark_to_zhifu_peizhi.sql');
    expect(migrate?.output).toContain('relation "refundz" does not exist');
    expect(migrate?.summary).toBe('004_create_refunds.sql');
    // 003 went in whole; 004's first statement was rolled back with its second
    expect(psql(p.db, "select string_agg(table_name, ',' order by table_name) from information_schema.tables where table_schema = 'public'").trim()).toBe('bangong_renwu,payment_orders,zhifu_peizhi');
    expect(psql(p.db, "select count(*) from information_schema.columns where table_name = 'payment_orders' and column_name = 'refund_id'").trim()).toBe('0');
  });

  it('a database that does not answer is not a pending migration: inconclusive, saying the check could not run', async () => {
    const wd = path.join(dir, 'mig-down');
    await write(path.join(wd, 'migrations', '001_create_payment_tables.sql'), 'CREATE TABLE zhifu_peizhi (id int);\n');
    await write(path.join(wd, '.env'), `DATABASE_URL=postgres://postgres:${DB_PASSWORD}@127.0.0.1:${await freePort()}/shop\n`);
    const { result, top, why } = await diagnose('mig-down', { workdir: wd, database: { kind: 'postgres', host: '127.0.0.1', urlEnv: 'DATABASE_URL' }, deploy: { migrations: { sql: 'migrations' } } });
    expect(result.cause, why).toBe('inconclusive');
    expect(top.evidence[0]).toMatch(/^database migrations applied: failed .*psql: error: connection to server at "127.0.0.1", port \d+ failed: Connection refused/);
    expect(JSON.stringify(result.hosts[0].steps)).toContain('db=unreachable');
  });
});

describe('restarts (seed 003: only the backend was restarted)', () => {
  async function backend(wd: string) {
    const marker = `triage-deploy-app-${randomId()}`;
    const proc = await spawnTracked(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker], { cwd: wd });
    return { marker, proc };
  }

  it('code changed after the process started: service-not-restarted naming the file; restarted, healthy', async () => {
    const wd = path.join(dir, 'restart');
    await write(path.join(wd, 'src', 'main.py'), 'app = 1\n', nowSec() - 3600);
    await write(path.join(wd, 'frontend', 'dist', 'index.html'), '<html>', nowSec() + 60);
    const old = await backend(wd);
    try {
      await write(path.join(wd, 'src', 'api', 'payment_configs.py'), 'router = 1\n', nowSec() + 60);
      // the build is newer too, but it is the frontend's: not code the backend runs
      const target = { workdir: wd, service: { manager: 'process', name: old.marker }, deploy: { frontend: { build: 'frontend/dist', served: 'frontend/dist' } } };
      const { result, top, why } = await diagnose('restart', target);
      expect(result.cause, why).toBe('service-not-restarted');
      expect(top.evidence).toContain('changed since: src/api/payment_configs.py');
      expect(top.evidence[0]).toMatch(new RegExp(`^process ${old.proc.pid} started \\d{4}-\\d\\d-\\d\\d `));
      expect(top.fix).toContain('restart it so it loads the new code');
    } finally {
      await old.proc.stop();
    }
    await fsp.utimes(path.join(wd, 'src', 'api', 'payment_configs.py'), nowSec() - 60, nowSec() - 60);
    const fresh = await backend(wd);
    try {
      const { result, why } = await diagnose('restart-fixed', { workdir: wd, service: { manager: 'process', name: fresh.marker }, deploy: { frontend: { build: 'frontend/dist', served: 'frontend/dist' } } });
      expect(result.status, why).toBe('healthy');
    } finally {
      await fresh.proc.stop();
    }
  });

  it('a service that should listen after the deploy does not: service-not-restarted naming the port', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const web = (server.address() as net.AddressInfo).port;
    const mobile = await freePort();
    try {
      const { result, top, why } = await diagnose('ports', { deploy: { ports: [web, mobile] } });
      expect(result.cause, why).toBe('service-not-restarted');
      expect(top.title).toBe(`the deploy did not start every service: nothing listens on :${mobile}`);
      expect(top.evidence).toContain(`listening: :${web}`);
      const healthy = await diagnose('ports-fixed', { deploy: { ports: [web] } });
      expect(healthy.result.status, healthy.why).toBe('healthy');
    } finally {
      server.close();
    }
  });
});

describe('the frontend (seed 003: built, not deployed, nginx not reloaded)', () => {
  it('nginx serves an older build: frontend-not-deployed; copied, healthy; a site change without reload: frontend-not-deployed', async () => {
    const wd = path.join(dir, 'fe');
    const served = path.join(dir, 'www-shop');
    await write(path.join(wd, 'frontend', 'dist', 'index.html'), '<script src="/assets/index-9f2c.js"></script>');
    await write(path.join(wd, 'frontend', 'dist', 'assets', 'index-9f2c.js'), 'payments()');
    await write(path.join(served, 'index.html'), '<script src="/assets/index-11aa.js"></script>', nowSec() - 86400);
    await write(path.join(served, 'assets', 'index-11aa.js'), 'old()', nowSec() - 86400);
    const nginx = await startNginx({ upstreamPort: await freePort() });
    try {
      const target = { workdir: wd, nginx: { config: nginx.configPath, site: nginx.sitePath, location: '/api' }, deploy: { frontend: { build: 'frontend/dist', served } } };
      const { result, top, why } = await diagnose('fe', target);
      expect(result.cause, why).toBe('frontend-not-deployed');
      expect(top.title).toBe(`nginx serves an old frontend: ${served} is not the build in ${wd}/frontend/dist`);
      expect(top.evidence).toEqual(['index.html: differs', `1 built files are not in ${served}: assets/index-9f2c.js`]);
      expect(top.fix).toContain(`rsync -a --delete ${wd}/frontend/dist/ ${served}/`);

      await fsp.rm(served, { recursive: true });
      await fsp.cp(path.join(wd, 'frontend', 'dist'), served, { recursive: true });
      const fixed = await diagnose('fe-fixed', target);
      expect(fixed.result.status, fixed.why).toBe('healthy');

      await fsp.utimes(nginx.sitePath, nowSec() + 60, nowSec() + 60);
      const unreloaded = await diagnose('fe-unreloaded', target);
      expect(unreloaded.result.cause, unreloaded.why).toBe('frontend-not-deployed');
      expect(unreloaded.top.title).toBe('nginx has not been reloaded since its config changed');
      expect(unreloaded.top.evidence).toEqual([`changed after nginx last (re)loaded: ${nginx.sitePath}`]);
    } finally {
      await nginx.stop();
    }
  });
});
