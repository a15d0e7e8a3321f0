/**
 * The probes behind the `deploy` and `env` runbooks (seeds 003, 004), each
 * on its own: deps-python (a venv's packages against requirements),
 * deps-node (node_modules against the lockfile), migrations (SQL files
 * against a real PostgreSQL, alembic and prisma through stubs),
 * process-age (a real process against files changed after it started),
 * frontend (build vs served folder; a real nginx's last reload) and ports.
 */
import { execFileSync } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginx } from '../../support/nginx.ts';
import { freePort, makeTempDir, randomId, removeTempDir, spawnTracked } from '../../support/processes.ts';
import { facts, runProbe } from './harness.ts';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('triage-probe-deploy-');
});
afterAll(async () => {
  await removeTempDir(dir);
});

async function write(file: string, text: string, mtimeSec?: number): Promise<string> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, text);
  if (mtimeSec !== undefined) await fsp.utimes(file, mtimeSec, mtimeSec);
  return file;
}

/** A dist-info folder as pip writes it (pip freeze reads Name and Version from METADATA). */
async function distInfo(sitePackages: string, name: string, version: string): Promise<void> {
  await write(path.join(sitePackages, `${name.replace(/-/g, '_')}-${version}.dist-info`, 'METADATA'), `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n\n`);
}

const nowSec = () => Math.floor(Date.now() / 1000);

describe('deps-python probe', () => {
  it('a venv without pip: read from dist-info; missing, mismatched and ok packages, names compared as pip does', async () => {
    const wd = path.join(dir, 'py1');
    const sp = path.join(wd, 'venv', 'lib', 'python3.11', 'site-packages');
    await distInfo(sp, 'wechatpayv3', '1.2.6');
    await distInfo(sp, 'cryptography', '41.0.5');
    await distInfo(sp, 'Python_Jose', '3.3.0');
    await write(path.join(wd, 'base.txt'), 'python-jose>=3.0 ; python_version >= "3.8"\n');
    await write(
      path.join(wd, 'requirements-production.txt'),
      '# payments\n-r base.txt\n--index-url https://pypi.example/simple\nwechatpayv3==1.2.6\npython-alipay-sdk==3.6.0  # new\ncryptography==41.0.7\n-e git+https://example/x.git#egg=x\n',
    );
    const r = await runProbe('deps-python', { args: [wd, 'venv', 'requirements-production.txt'] });
    const f = facts(r.stdout);
    expect(f.get('source')).toBe('dist-info');
    expect(f.get('installed')).toBe('3');
    expect(f.get('required')).toBe('4');
    expect(r.stdout).toContain('package wechatpayv3 ok 1.2.6');
    expect(r.stdout).toContain('package python-alipay-sdk missing (wants ==3.6.0)');
    expect(r.stdout).toContain('package cryptography mismatch installed 41.0.5 (wants ==41.0.7)');
    expect(r.stdout).toContain('package python-jose ok 3.3.0');
    expect(f.get('missing')).toBe('python-alipay-sdk');
    expect(f.get('mismatch')).toBe('cryptography');
    expect(r.leftInTmp).toEqual([]);
  });

  it('everything installed: no missing= or mismatch= line', async () => {
    const wd = path.join(dir, 'py2');
    await distInfo(path.join(wd, 'venv', 'lib', 'python3.11', 'site-packages'), 'fastapi', '0.115.0');
    await write(path.join(wd, 'requirements.txt'), 'FastAPI==0.115.0\n');
    const r = await runProbe('deps-python', { args: [wd, 'venv', 'requirements.txt'] });
    expect(r.stdout).toContain('package FastAPI ok 0.115.0');
    expect(facts(r.stdout).get('missing')).toBeUndefined();
    expect(facts(r.stdout).get('mismatch')).toBeUndefined();
  });

  it('no requirements file: a note, nothing compared', async () => {
    const r = await runProbe('deps-python', { args: [path.join(dir, 'nowhere'), 'venv', 'requirements.txt'] });
    expect(facts(r.stdout).get('note')).toMatch(/requirements file .*requirements.txt not found/);
  });
});

describe('deps-node probe', () => {
  it('a package of the lockfile not in node_modules, one at another version, and one package.json adds', async () => {
    const wd = path.join(dir, 'node1');
    await write(path.join(wd, 'package.json'), JSON.stringify({ name: 'shop', version: '1.0.0', dependencies: { 'left-pad': '^1.3.0', ms: '^2.1.0', express: '^4.18.0', chalk: '^5.0.0' } }));
    await write(
      path.join(wd, 'package-lock.json'),
      JSON.stringify({
        name: 'shop',
        lockfileVersion: 3,
        packages: {
          '': { name: 'shop', version: '1.0.0' },
          'node_modules/left-pad': { version: '1.3.0' },
          'node_modules/ms': { version: '2.1.3' },
          'node_modules/express': { version: '4.18.2' },
          'node_modules/vitest': { version: '1.0.0', dev: true },
        },
      }),
    );
    await write(path.join(wd, 'node_modules', 'left-pad', 'package.json'), '{"name":"left-pad","version":"1.3.0"}');
    await write(path.join(wd, 'node_modules', 'ms', 'package.json'), '{"name":"ms","version":"2.1.2"}');
    const r = await runProbe('deps-node', { args: [wd, 'package-lock.json'], real: ['node'] });
    const f = facts(r.stdout);
    expect(f.get('locked')).toBe('4');
    expect(r.stdout).toContain('package left-pad ok 1.3.0');
    expect(r.stdout).toContain('package ms mismatch installed 2.1.2 (locked 2.1.3)');
    expect(r.stdout).toContain('package express missing (locked 4.18.2)');
    expect(r.stdout).toContain('package chalk missing (package.json wants ^5.0.0)');
    expect(f.get('dev_missing')).toBe('1');
    expect(f.get('missing')).toBe('express chalk');
    expect(f.get('mismatch')).toBe('ms');
    expect(r.leftInTmp).toEqual([]);
  });

  it('a v1 lockfile, all installed', async () => {
    const wd = path.join(dir, 'node2');
    await write(path.join(wd, 'package.json'), JSON.stringify({ name: 'shop', dependencies: { a: '1' } }));
    await write(path.join(wd, 'package-lock.json'), JSON.stringify({ lockfileVersion: 1, dependencies: { a: { version: '1.0.0', dependencies: { b: { version: '2.0.0' } } } } }));
    await write(path.join(wd, 'node_modules', 'a', 'package.json'), '{"version":"1.0.0"}');
    await write(path.join(wd, 'node_modules', 'a', 'node_modules', 'b', 'package.json'), '{"version":"2.0.0"}');
    const r = await runProbe('deps-node', { args: [wd, 'package-lock.json'], real: ['node'] });
    expect(r.stdout).toContain('package b ok 2.0.0');
    expect(facts(r.stdout).get('missing')).toBeUndefined();
  });

  it('no node on the host: a note', async () => {
    const r = await runProbe('deps-node', { args: [dir, 'package-lock.json'] });
    expect(facts(r.stdout).get('note')).toMatch(/node not found/);
  });
});

describe('migrations probe', () => {
  const SECRET = `pw-${randomId(12)}`;
  const psql = (db: string, sql: string) => execFileSync('psql', ['-XqAt', '-h', '127.0.0.1', '-U', 'postgres', '-d', db, '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
  let db: string;
  let wd: string;
  beforeAll(async () => {
    db = `triage_probe_${randomId()}`;
    psql('postgres', `create database ${db}`);
    wd = path.join(dir, 'mig');
    await write(path.join(wd, 'migrations', '001_create_payment_tables.sql'), '-- payments; two tables\nCREATE TABLE IF NOT EXISTS zhifu_peizhi (\n  id serial primary key, -- id; a comment\n  name text\n);\nCREATE TABLE "payment_orders" (id int);\n');
    await write(path.join(wd, 'migrations', '002_add_remark_to_zhifu_peizhi.sql'), 'ALTER TABLE public.zhifu_peizhi\n  ADD COLUMN IF NOT EXISTS remark text,\n  ADD COLUMN amount numeric(10,2),\n  ADD CONSTRAINT u UNIQUE (name);\n');
    await write(path.join(wd, 'migrations', '003_add_offline_payment_types.sql'), "INSERT INTO zhifu_peizhi(name) VALUES ('offline');\n");
    await write(path.join(wd, '.env'), `DATABASE_URL="postgresql+psycopg2://postgres:${SECRET}@127.0.0.1:5432/${db}?sslmode=disable"\n`);
    psql(db, 'CREATE TABLE zhifu_peizhi (id serial primary key, name text); CREATE TABLE payment_orders (id int);');
  });
  afterAll(() => {
    psql('postgres', `drop database if exists ${db}`);
  });

  it('SQL files against a real database: the one whose columns are missing is pending; the URL never shows', async () => {
    const r = await runProbe('migrations', { args: [wd, '.env', 'DATABASE_URL', '', 'migrations', '', ''], real: ['psql'] });
    const f = facts(r.stdout);
    expect(f.get('kind')).toBe('sql');
    expect(f.get('db')).toBe('ok');
    expect(f.get('tracking')).toBe('none');
    expect(r.stdout).toContain('migration 001_create_payment_tables.sql applied (its tables and columns exist)');
    expect(r.stdout).toContain('migration 002_add_remark_to_zhifu_peizhi.sql pending: missing column public.zhifu_peizhi.remark, column public.zhifu_peizhi.amount');
    expect(r.stdout).toContain('migration 003_add_offline_payment_types.sql unknown: creates no table or column, no tracking table');
    expect(f.all('pending')).toEqual(['002_add_remark_to_zhifu_peizhi.sql']);
    expect(f.get('pending_count')).toBe('1');
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it('a schema_migrations table: a listed file is applied, an unlisted one without tables is pending', async () => {
    psql(db, "CREATE TABLE schema_migrations (version text primary key, applied_at timestamptz default now()); INSERT INTO schema_migrations(version) VALUES ('001_create_payment_tables.sql'), ('002');");
    try {
      const r = await runProbe('migrations', { args: [wd, '.env', 'DATABASE_URL', '', 'migrations', '', ''], real: ['psql'] });
      const f = facts(r.stdout);
      expect(f.get('tracking')).toBe('schema_migrations');
      expect(r.stdout).toContain('migration 001_create_payment_tables.sql applied (listed in schema_migrations)');
      expect(r.stdout).toContain('migration 002_add_remark_to_zhifu_peizhi.sql applied (listed in schema_migrations)');
      expect(r.stdout).toContain('migration 003_add_offline_payment_types.sql pending: not listed in schema_migrations');
      expect(f.all('pending')).toEqual(['003_add_offline_payment_types.sql']);
    } finally {
      psql(db, 'DROP TABLE schema_migrations');
    }
  });

  it('a database that does not answer: db=unreachable, nothing pending', async () => {
    const port = await freePort();
    const w2 = path.join(dir, 'mig-down');
    await write(path.join(w2, 'migrations', '001.sql'), 'CREATE TABLE t (id int);');
    await write(path.join(w2, '.env'), `DATABASE_URL=postgres://postgres:${SECRET}@127.0.0.1:${port}/x\n`);
    const r = await runProbe('migrations', { args: [w2, '.env', 'DATABASE_URL', '', 'migrations', '', ''], real: ['psql'] });
    expect(facts(r.stdout).get('db')).toBe('unreachable');
    expect(facts(r.stdout).get('pending_count')).toBe('0');
    expect(r.stdout).not.toContain(SECRET);
  });

  it('no URL in the env file: a note naming the variable', async () => {
    const r = await runProbe('migrations', { args: [wd, 'missing.env', 'DATABASE_URL', '', 'migrations', '', ''], real: ['psql'] });
    expect(facts(r.stdout).get('note')).toMatch(/DATABASE_URL is not set in .*missing.env/);
  });

  it('alembic: current behind heads is pending; the venv’s alembic is used with the URL in its environment', async () => {
    const w = path.join(dir, 'alembic-app');
    await write(path.join(w, '.env'), `DATABASE_URL=postgres://app:${SECRET}@db/app\n`);
    const alembic = path.join(w, 'venv', 'bin', 'alembic');
    await write(alembic, '#!/bin/sh\ncase "$3" in current) [ -n "$DATABASE_URL" ] && echo "1975ea83b712" ;; heads) echo "ae1027a6acf4 (head)" ;; esac\n');
    await fsp.chmod(alembic, 0o755);
    const r = await runProbe('migrations', { args: [w, '.env', 'DATABASE_URL', 'venv', '', 'alembic.ini', ''] });
    const f = facts(r.stdout);
    expect(f.get('kind')).toBe('alembic');
    expect(f.get('current')).toBe('1975ea83b712 ');
    expect(f.get('heads')).toBe('ae1027a6acf4 ');
    expect(f.all('pending')).toEqual(['ae1027a6acf4 (alembic head; the database is at 1975ea83b712 )']);
    expect(r.stdout).not.toContain(SECRET);
  });

  it('alembic at head: nothing pending', async () => {
    const r = await runProbe('migrations', {
      args: [dir, '', '', '', '', 'alembic.ini', ''],
      stubs: { alembic: [{ args: '-c * current', stdout: 'ae1027a6acf4 (head)\n' }, { args: '-c * heads', stdout: 'ae1027a6acf4 (head)\n' }] },
    });
    expect(facts(r.stdout).get('pending_count')).toBe('0');
  });

  it('prisma: the names `migrate status` lists as not yet applied', async () => {
    const r = await runProbe('migrations', {
      args: [dir, '', '', '', '', '', 'prisma/schema.prisma'],
      stubs: {
        prisma: [
          {
            args: 'migrate status --schema *',
            exit: 1,
            stdout: 'Prisma schema loaded from prisma/schema.prisma\n3 migrations found in prisma/migrations\n\nFollowing migrations have not yet been applied:\n20240101_payments\n20240202_refunds\n\nTo apply migrations in development run prisma migrate dev.\n',
          },
        ],
      },
    });
    expect(facts(r.stdout).all('pending')).toEqual(['20240101_payments', '20240202_refunds']);
  });
});

describe('process-age probe', () => {
  it('a real process older than a code file and the venv: stale, naming the file; logs, .env and EXCLUDE are left out', async () => {
    const wd = path.join(dir, 'age1');
    const past = nowSec() - 600;
    await write(path.join(wd, 'src', 'main.py'), 'print(1)\n', past);
    await write(path.join(wd, 'venv', 'lib', 'python3.11', 'site-packages', 'x.py'), '', past);
    const app = await spawnTracked('sleep', ['60']);
    try {
      const later = nowSec() + 30;
      await write(path.join(wd, 'src', 'payments.py'), 'print(2)\n', later);
      await write(path.join(wd, 'app.log'), 'log\n', later);
      await write(path.join(wd, '.env'), 'A=1\n', later);
      await write(path.join(wd, 'frontend', 'dist', 'index.html'), '<html>', later);
      await write(path.join(wd, 'venv', 'lib', 'python3.11', 'site-packages', 'wechatpayv3', '__init__.py'), '', later);
      await fsp.utimes(path.join(wd, 'venv', 'lib', 'python3.11', 'site-packages', 'wechatpayv3'), later, later);
      const r = await runProbe('process-age', { args: [wd, 'venv', 'node_modules'], env: { PIDS: `999999999 ${app.pid}`, EXCLUDE: 'frontend/dist' }, real: ['find', 'stat', 'date', 'getconf'] });
      const f = facts(r.stdout);
      expect(f.get('pid')).toBe(String(app.pid));
      expect(f.all('newer')).toEqual(['src/payments.py']);
      expect(f.get('newer_count')).toBe('1');
      expect(f.all('changed')).toEqual([path.join(wd, 'venv')]);
      expect(f.get('stale')).toBe('yes');
      expect(r.leftInTmp).toEqual([]);
    } finally {
      await app.stop();
    }
  });

  it('a process started after every change: not stale', async () => {
    const wd = path.join(dir, 'age2');
    await write(path.join(wd, 'server.js'), '1', nowSec() - 600);
    const app = await spawnTracked('sleep', ['60']);
    try {
      const r = await runProbe('process-age', { args: [wd], env: { PIDS: String(app.pid), EXCLUDE: '' }, real: ['find', 'stat', 'date', 'getconf'] });
      expect(facts(r.stdout).get('newer_count')).toBe('0');
      expect(facts(r.stdout).get('stale')).toBe('no');
    } finally {
      await app.stop();
    }
  });

  it('no live process: a note', async () => {
    const r = await runProbe('process-age', { args: [dir], env: { PIDS: '999999999', EXCLUDE: '' }, real: ['find', 'stat', 'date', 'getconf'] });
    expect(facts(r.stdout).get('note')).toMatch(/no live process/);
  });
});

describe('frontend probe', () => {
  it('the served folder holds an older build: index differs, new files not served; a copy is deployed', async () => {
    const wd = path.join(dir, 'fe');
    await write(path.join(wd, 'frontend', 'dist', 'index.html'), '<script src="/assets/index-b2.js">');
    await write(path.join(wd, 'frontend', 'dist', 'assets', 'index-b2.js'), 'new()');
    await write(path.join(wd, 'www', 'index.html'), '<script src="/assets/index-a1.js">');
    await write(path.join(wd, 'www', 'assets', 'index-a1.js'), 'old()');
    const real = ['find', 'cksum', 'stat', 'ps', 'getconf'];
    const stale = await runProbe('frontend', { args: [wd, 'frontend/dist', 'www'], real });
    const f = facts(stale.stdout);
    expect(f.get('index')).toBe('differs');
    expect(f.all('not_served')).toEqual(['assets/index-b2.js']);
    expect(f.get('deployed')).toBe('no');

    await fsp.cp(path.join(wd, 'frontend', 'dist'), path.join(wd, 'www'), { recursive: true });
    const ok = await runProbe('frontend', { args: [wd, 'frontend/dist', `${wd}/www/`], real });
    expect(facts(ok.stdout).get('index')).toBe('same');
    expect(facts(ok.stdout).get('deployed')).toBe('yes');
    expect(ok.leftInTmp).toEqual([]);
  });

  it('a real nginx: reloaded until its site file changes after the workers started', async () => {
    const nginx = await startNginx({ upstreamPort: await freePort() });
    try {
      const wd = path.join(dir, 'fe2');
      await write(path.join(wd, 'dist', 'index.html'), 'x');
      await write(path.join(wd, 'www', 'index.html'), 'x');
      const real = ['find', 'cksum', 'stat', 'ps', 'getconf'];
      const before = await runProbe('frontend', { args: [wd, 'dist', 'www', nginx.configPath, nginx.sitePath], real });
      expect(facts(before.stdout).get('nginx_master')).toBe(String(nginx.pid));
      expect(facts(before.stdout).get('nginx_reloaded')).toBe('yes');
      const later = nowSec() + 30;
      await fsp.utimes(nginx.sitePath, later, later);
      const after = await runProbe('frontend', { args: [wd, 'dist', 'www', nginx.configPath, nginx.sitePath], real });
      expect(facts(after.stdout).get('nginx_changed')).toBe(nginx.sitePath);
      expect(facts(after.stdout).get('nginx_reloaded')).toBe('no');
    } finally {
      await nginx.stop();
    }
  });
});

describe('ports probe', () => {
  it('one port with a listener (this test), one closed', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const open = (server.address() as net.AddressInfo).port;
    const closed = await freePort();
    try {
      const r = await runProbe('ports', { args: [String(open), String(closed), 'x1'], real: ['ss', 'ps'] });
      expect(r.stdout).toMatch(new RegExp(`^port ${open} listening 127\\.0\\.0\\.1:${open} pid=${process.pid} `, 'm'));
      expect(r.stdout).toContain(`port ${closed} closed`);
      expect(facts(r.stdout).all('closed')).toEqual([String(closed)]);
      expect(facts(r.stdout).get('note')).toBe('skipped x1: not a port');
    } finally {
      server.close();
    }
  });
});

describe('what the env runbook adds to shared probes', () => {
  it('env-file names a template beside a missing env file (seed 004: cp config.example .env)', async () => {
    const wd = path.join(dir, 'tmpl');
    await write(path.join(wd, 'config.example'), 'JWT_SECRET=\n');
    const r = await runProbe('env-file', { args: [path.join(wd, '.env'), 'JWT_SECRET'], env: { PIDS: '' } });
    expect(facts(r.stdout).get('env_file')).toBe('missing');
    expect(facts(r.stdout).get('env_example')).toBe(path.join(wd, 'config.example'));
  });

  it('service says how each manager restarts a process so it takes a changed environment', async () => {
    const cases: [string, string][] = [
      ['pm2', 'pm2 restart api --update-env'],
      ['systemd', 'sudo systemctl restart api'],
      ['docker', 'docker rm -f api, then create it again'],
      ['process', 'stop it and start it again'],
    ];
    for (const [mgr, words] of cases) {
      const r = await runProbe('service', { args: [mgr, 'api'], real: ['ps'], stubs: { pgrep: [{ args: '*', exit: 1 }] } });
      expect(facts(r.stdout).get('reload_env_cmd'), mgr).toContain(words);
    }
  });
});
