/**
 * The migrate probe, the deploy runbook's fix for migrations-pending: it
 * applies what the migrations probe finds pending, one transaction per file,
 * against a real PostgreSQL (a database of its own per test, dropped after);
 * alembic and prisma are stubs standing in for the real tools (not installed
 * here), checked for the command, the folder and the URL in their environment.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, randomId, removeTempDir } from '../../support/processes.ts';
import { type PgDb, pgDb } from '../db-setups.ts';
import { facts, runProbe } from './harness.ts';

const SECRET = `pw-${randomId(12)}`;
let dir: string;
let db: PgDb | undefined;
beforeAll(async () => {
  dir = await makeTempDir('triage-migrate-');
});
afterAll(async () => {
  await removeTempDir(dir);
});
afterEach(async () => {
  await db?.cleanup();
  db = undefined;
});

async function write(file: string, text: string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, text);
}

const FILES = {
  '001_create_payment_tables.sql': 'CREATE TABLE zhifu_peizhi (id serial PRIMARY KEY, name text NOT NULL);\n',
  '002_create_orders.sql': 'CREATE TABLE payment_orders (id serial PRIMARY KEY, amount numeric(12,2));\n',
  '003_add_remark_to_zhifu_peizhi.sql': 'ALTER TABLE zhifu_peizhi ADD COLUMN remark text;\n',
};

/** A project whose migrations folder holds `files`, its .env pointing at a fresh database (a password in the URL). */
async function project(name: string, files: Record<string, string> = FILES) {
  db = await pgDb();
  const wd = path.join(dir, name);
  for (const [f, sql] of Object.entries(files)) await write(path.join(wd, 'migrations', f), sql);
  await write(path.join(wd, '.env'), `DATABASE_URL="postgresql://postgres:${SECRET}@127.0.0.1:5432/${db.name}"\n`);
  return { wd, db };
}

const SQL_ARGS = (wd: string) => [wd, '.env', 'DATABASE_URL', '', 'migrations', '', ''];
const tables = (d: PgDb) => d.sql("SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'");

describe('migrate probe: plain SQL files against a real PostgreSQL', () => {
  it('applies the pending files in name order, skips the applied one, and then the migrations probe finds nothing pending', async () => {
    const { wd, db } = await project('in-order');
    db.sql(FILES['001_create_payment_tables.sql']);
    const r = await runProbe('migrate', { args: SQL_ARGS(wd), real: ['psql'] });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const f = facts(r.stdout);
    expect(f.all('pending')).toEqual(['002_create_orders.sql', '003_add_remark_to_zhifu_peizhi.sql']);
    expect(f.all('applied')).toEqual(['002_create_orders.sql', '003_add_remark_to_zhifu_peizhi.sql']);
    expect(f.all('run')).toEqual([
      `psql -v ON_ERROR_STOP=1 --single-transaction -f ${wd}/migrations/002_create_orders.sql`,
      `psql -v ON_ERROR_STOP=1 --single-transaction -f ${wd}/migrations/003_add_remark_to_zhifu_peizhi.sql`,
    ]);
    expect(tables(db)).toBe('payment_orders,zhifu_peizhi');
    expect(db.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'zhifu_peizhi' AND column_name = 'remark'")).toBe('1');
    expect(r.stdout + r.stderr).not.toContain(SECRET);

    const check = await runProbe('migrations', { args: SQL_ARGS(wd), real: ['psql'] });
    expect(facts(check.stdout).get('pending_count')).toBe('0');
    const again = await runProbe('migrate', { args: SQL_ARGS(wd), real: ['psql'] });
    expect(again.code).toBe(0);
    expect(facts(again.stdout).get('note')).toBe('nothing pending');
  });

  it('a schema_migrations table: each applied file is recorded in it (in the same transaction), so the migrations probe sees it listed', async () => {
    const { wd, db } = await project('tracked', { ...FILES, '004_seed_offline_type.sql': "INSERT INTO zhifu_peizhi (name) VALUES ('offline');\n" });
    db.sql("CREATE TABLE schema_migrations (filename text PRIMARY KEY, applied_at timestamptz DEFAULT now()); INSERT INTO schema_migrations VALUES ('001_create_payment_tables.sql')");
    db.sql(FILES['001_create_payment_tables.sql']);
    const r = await runProbe('migrate', { args: SQL_ARGS(wd), real: ['psql'] });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(facts(r.stdout).get('recorded')).toBe('filename');
    expect(facts(r.stdout).all('applied')).toEqual(['002_create_orders.sql', '003_add_remark_to_zhifu_peizhi.sql', '004_seed_offline_type.sql']);
    expect(db.sql("SELECT string_agg(filename, ',' ORDER BY filename) FROM schema_migrations")).toBe(
      '001_create_payment_tables.sql,002_create_orders.sql,003_add_remark_to_zhifu_peizhi.sql,004_seed_offline_type.sql',
    );
    expect(db.sql('SELECT name FROM zhifu_peizhi')).toBe('offline');
    const check = await runProbe('migrations', { args: SQL_ARGS(wd), real: ['psql'] });
    expect(check.stdout).toContain('migration 004_seed_offline_type.sql applied (listed in schema_migrations)');
    expect(facts(check.stdout).get('pending_count')).toBe('0');
  });

  it('a numeric version column gets the number at the start of the file name', async () => {
    const { wd, db } = await project('numbered', { '0007_create_refunds.sql': 'CREATE TABLE refunds (id int);\n' });
    db.sql('CREATE TABLE schema_migrations (version bigint PRIMARY KEY)');
    const r = await runProbe('migrate', { args: SQL_ARGS(wd), real: ['psql'] });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(db.sql('SELECT version FROM schema_migrations')).toBe('7');
  });

  it('a file that fails rolls back whole (its first table is not left behind), later files are not run, and the exit is 1', async () => {
    const { wd, db } = await project('broken', {
      ...FILES,
      '002_create_orders.sql': 'CREATE TABLE payment_orders (id serial PRIMARY KEY);\nCREATE TABLE refunds (id int, order_id int REFERENCES no_such_table (id));\n',
    });
    db.sql("CREATE TABLE schema_migrations (filename text PRIMARY KEY); INSERT INTO schema_migrations VALUES ('001_create_payment_tables.sql')");
    db.sql(FILES['001_create_payment_tables.sql']);
    const r = await runProbe('migrate', { args: SQL_ARGS(wd), real: ['psql'] });
    expect(r.code).toBe(1);
    const f = facts(r.stdout);
    expect(f.get('failed')).toBe('002_create_orders.sql');
    expect(f.all('applied')).toEqual([]);
    expect(r.stdout).toContain('relation "no_such_table" does not exist');
    expect(f.get('note')).toContain('its transaction was rolled back');
    expect(tables(db)).toBe('schema_migrations,zhifu_peizhi');
    expect(db.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'zhifu_peizhi' AND column_name = 'remark'")).toBe('0');
    expect(db.sql('SELECT string_agg(filename, \',\') FROM schema_migrations')).toBe('001_create_payment_tables.sql');
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it('no URL in the env file, or a database that does not answer: exit 2, nothing tried', async () => {
    const { wd } = await project('no-url');
    const none = await runProbe('migrate', { args: [wd, 'missing.env', 'DATABASE_URL', '', 'migrations', '', ''], real: ['psql'] });
    expect(none.code).toBe(2);
    expect(facts(none.stdout).get('note')).toMatch(/DATABASE_URL is not set in .*missing\.env/);
    await write(path.join(wd, 'down.env'), `DATABASE_URL=postgres://postgres:${SECRET}@127.0.0.1:1/x\n`);
    const down = await runProbe('migrate', { args: [wd, 'down.env', 'DATABASE_URL', '', 'migrations', '', ''], real: ['psql'] });
    expect(down.code).toBe(2);
    expect(facts(down.stdout).get('note')).toMatch(/^the database does not answer: /);
    expect(facts(down.stdout).all('run')).toEqual([]);
    expect(down.stdout).not.toContain(SECRET);
  });
});

describe('migrate probe: alembic and prisma (stubs)', () => {
  it('alembic: `alembic -c INI upgrade head` from the venv, in the workdir, with the URL in its environment, never printed', async () => {
    const w = path.join(dir, 'alembic-app');
    await write(path.join(w, '.env'), `DATABASE_URL=postgres://app:${SECRET}@db/app\n`);
    const alembic = path.join(w, 'venv', 'bin', 'alembic');
    await write(alembic, '#!/bin/sh\n[ -n "$DATABASE_URL" ] || { echo "no url" >&2; exit 4; }\necho "alembic $* in $PWD"\n');
    await fsp.chmod(alembic, 0o755);
    const r = await runProbe('migrate', { args: [w, '.env', 'DATABASE_URL', 'venv', '', 'alembic.ini', ''] });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(facts(r.stdout).get('run')).toBe(`${alembic} -c ${w}/alembic.ini upgrade head`);
    expect(r.stdout).toContain(`alembic -c ${w}/alembic.ini upgrade head in ${w}`);
    expect(r.stdout).not.toContain(SECRET);
  });

  it('alembic that fails: its exit status and its words', async () => {
    const r = await runProbe('migrate', {
      args: [dir, '', '', '', '', 'alembic.ini', ''],
      stubs: { alembic: [{ args: '-c * upgrade head', exit: 1, stderr: 'sqlalchemy.exc.ProgrammingError: relation "users" already exists\n' }] },
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('relation "users" already exists');
  });

  it('prisma: node_modules/.bin/prisma migrate deploy --schema PATH, in the workdir', async () => {
    const w = path.join(dir, 'prisma-app');
    await write(path.join(w, '.env'), `DATABASE_URL=postgres://app:${SECRET}@db/app\n`);
    const prisma = path.join(w, 'node_modules', '.bin', 'prisma');
    await write(prisma, '#!/bin/sh\n[ -n "$DATABASE_URL" ] || exit 4\necho "prisma $* in $PWD"\necho "All migrations have been successfully applied."\n');
    await fsp.chmod(prisma, 0o755);
    const r = await runProbe('migrate', { args: [w, '.env', 'DATABASE_URL', '', '', '', 'prisma/schema.prisma'] });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`prisma migrate deploy --schema ${w}/prisma/schema.prisma in ${w}`);
    expect(r.stdout).not.toContain(SECRET);
  });

  it('prisma not in node_modules: npx --no-install prisma (never a download)', async () => {
    const r = await runProbe('migrate', {
      args: [dir, '', '', '', '', '', 'prisma/schema.prisma'],
      stubs: { npx: [{ args: '--no-install prisma migrate deploy --schema *', stdout: 'No pending migrations to apply.\n' }] },
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.calls).toEqual([`npx --no-install prisma migrate deploy --schema ${dir}/prisma/schema.prisma`]);
  });
});
