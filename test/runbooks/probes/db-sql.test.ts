/**
 * The `db-sql` probe: read-only checks inside the app's database with the
 * real psql against the real PostgreSQL at 127.0.0.1:5432 (a database per
 * test): connections and who holds them, a row lock held by a transaction
 * left open and the session it blocks, a query that sleeps, rows stuck in a
 * state — and that a stale-rows query can neither write nor run long. MySQL
 * connections against the real MariaDB at 127.0.0.1:3306. Stubs for what a
 * full server says ("too many clients", "Too many connections"), and to see
 * the exact command line: the URL's password never appears on it.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeTempDir, removeTempDir, waitUntil } from '../../support/processes.ts';
import { type PgDb, pgDb, psql } from '../db-setups.ts';
import { facts, type ProbeRunOptions, runProbe } from './harness.ts';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('triage-db-sql-');
});
afterAll(async () => {
  await removeTempDir(dir);
});

let db: PgDb | undefined;
afterEach(async () => {
  await db?.cleanup();
  db = undefined;
});

const conf = (o: { port?: number; user?: string; name?: string; workdir?: string; urlVar?: string } = {}) => ({
  DB_HOST: '127.0.0.1',
  DB_PORT: String(o.port ?? 5432),
  DB_USER: o.user ?? 'postgres',
  DB_NAME: o.name ?? '',
  DB_WORKDIR: o.workdir ?? '',
  DB_ENV_FILE: '.env',
  DB_URL_VAR: o.urlVar ?? '',
});

async function envDir(body: string): Promise<string> {
  const d = await fsp.mkdtemp(path.join(dir, 'app-'));
  await fsp.writeFile(path.join(d, '.env'), body);
  return d;
}

const pg = (check: string[], env: Record<string, string>, stubs?: ProbeRunOptions['stubs']) =>
  runProbe('db-sql', { args: ['postgres', ...check], env, real: stubs ? [] : ['psql'], stubs });

describe('db-sql connections (PostgreSQL)', () => {
  it('counts the other sessions against max_connections and names who holds them', async () => {
    db = await pgDb();
    await db.session([]);
    await db.session([]);
    await db.backendPid(`application_name = 'db-test-session' AND (SELECT count(*) FROM pg_stat_activity WHERE datname = '${db.name}') >= 2`);
    const r = await pg(['connections'], conf({ name: db.name }));
    const f = facts(r.stdout);
    const max = Number(psql('SHOW max_connections'));
    const reserved = Number(psql('SHOW superuser_reserved_connections'));
    expect(r.stdout, r.stderr).toMatch(new RegExp(`^connections=\\d+ max=${max} reserved=${reserved} usable=${max - reserved} pct=\\d+$`, 'm'));
    expect(Number(/^connections=(\d+)/m.exec(r.stdout)![1])).toBeGreaterThanOrEqual(2);
    expect(r.stdout).toContain(`holder user=postgres db=${db.name} client=127.0.0.1 app=db-test-session count=2`);
    expect(f.get('via')).toBe('config');
    expect(r.stdout).toMatch(/^state idle=\d+$/m);
  });

  it("connects with the app's DATABASE_URL: the password goes to PGPASSWORD, not the command line", async () => {
    const d = await envDir('DATABASE_URL=postgresql+psycopg2://app:hunter2%40x@db.internal:6543/shop?sslmode=disable\n');
    const r = await pg(['connections'], conf({ workdir: d, urlVar: 'DATABASE_URL' }), {
      psql: [{ args: '* -d postgresql://app@db.internal:6543/shop?sslmode=disable *', stdout: 'total\t100\t3\t7\nstate\tidle\t7\n' }],
    });
    expect(r.calls).toHaveLength(1);
    expect(r.stdout).toContain('connections=7 max=100 reserved=3 usable=97 pct=7');
    expect(facts(r.stdout).get('via')).toBe('url');
    expect(r.stdout + r.stderr + r.calls.join('\n')).not.toMatch(/hunter2/);
  });

  it('the same against the real server: a URL with a password, still not printed', async () => {
    db = await pgDb();
    const d = await envDir(`DATABASE_URL="postgres://postgres:hunter2@127.0.0.1:5432/${db.name}"\n`);
    const r = await pg(['connections'], conf({ workdir: d, urlVar: 'DATABASE_URL' }));
    expect(r.stdout, r.stderr).toMatch(/^connections=\d+ /m);
    expect(r.stdout + r.stderr).not.toContain('hunter2');
  });

  it('a full server: "too many clients" and "slots are reserved" mean refused', async () => {
    for (const msg of [
      'psql: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  sorry, too many clients already',
      'psql: error: connection to server at "127.0.0.1", port 5432 failed: FATAL:  remaining connection slots are reserved for non-replication superuser connections',
    ]) {
      const r = await pg(['connections'], conf(), { psql: [{ args: '*', stderr: `${msg}\n`, exit: 2 }] });
      expect(facts(r.stdout).get('refused')).toBe('too-many-connections');
      expect(facts(r.stdout).get('error')).toBe(msg);
    }
  });

  it('nothing listening: unreachable, with psql’s own words', async () => {
    const r = await pg(['connections'], conf({ port: await freePort() }));
    expect(facts(r.stdout).get('unreachable')).toBe('yes');
    expect(facts(r.stdout).get('error')).toContain('Connection refused');
  });

  it('without psql, says so', async () => {
    const r = await runProbe('db-sql', { args: ['postgres', 'connections'], env: conf() });
    expect(facts(r.stdout).get('note')).toBe('psql is not installed on this host');
  });
});

describe('db-sql locks and slow queries (PostgreSQL)', () => {
  it('names the blocked and the blocking session, their start and their query with literals hidden', async () => {
    db = await pgDb();
    db.sql("CREATE TABLE accounts (id int PRIMARY KEY, token text); INSERT INTO accounts VALUES (1, 'a')");
    await db.session(['BEGIN', "UPDATE accounts SET token = 'tok_s3cr3t_value' WHERE id = 1"]);
    const blocker = await db.backendPid("state = 'idle in transaction'");
    await db.session(["UPDATE accounts SET token = 'other-secret' WHERE id = 1"]);
    const blocked = await db.backendPid("wait_event_type = 'Lock'");
    const r = await pg(['locks'], conf({ name: db.name }));
    expect(r.stdout, r.stderr).toMatch(new RegExp(`^blocked pid=${blocked} waiting=\\d+ since=\\d{4}-\\d\\d-\\d\\dT[0-9:]+Z by=${blocker} query=UPDATE accounts SET token = '…' WHERE id = 1$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^blocking pid=${blocker} state=idle_in_transaction xact=\\d+ since=\\S+Z user=postgres query=UPDATE accounts SET token = '…' WHERE id = 1$`, 'm'));
    expect(facts(r.stdout).get('blocked_count')).toBe('1');
    expect(r.stdout).not.toMatch(/s3cr3t|other-secret/);
    // a lock wait is a lock, not a slow query
    const slow = await pg(['slow', '0'], conf({ name: db.name }));
    expect(facts(slow.stdout).get('slow_count')).toBe('0');
  });

  it('no locks: zero, and nothing listed', async () => {
    db = await pgDb();
    const r = await pg(['locks'], conf({ name: db.name }));
    expect(r.stdout).not.toMatch(/^block\w* pid=/m);
    expect(facts(r.stdout).get('blocked_count')).toBe('0');
  });

  it('a query that sleeps is slow past the limit, and only past it', async () => {
    db = await pgDb();
    await db.session(['SELECT pg_sleep(30)']);
    const pid = await db.backendPid("query LIKE 'SELECT pg_sleep%' AND now() - query_start > interval '1.5 seconds'");
    const r = await pg(['slow', '1'], conf({ name: db.name }));
    expect(r.stdout, r.stderr).toMatch(new RegExp(`^slow pid=${pid} seconds=\\d+ since=\\S+Z wait=Timeout/PgSleep query=SELECT pg_sleep\\(30\\)$`, 'm'));
    expect(facts(r.stdout).get('slow_count')).toBe('1');
    const limit = await pg(['slow', '600'], conf({ name: db.name }));
    expect(facts(limit.stdout).get('slow_count')).toBe('0');
  });

  it('refuses a limit that is not a number', async () => {
    const r = await pg(['slow', '1; DROP TABLE x'], conf());
    expect(r.code).toBe(2);
    expect(facts(r.stdout).get('note')).toBe('SECONDS must be a number');
  });
});

describe('db-sql stale rows (PostgreSQL)', () => {
  const STUCK = "-- tasks stuck in submitted\nSELECT task_id, status, api_token FROM tasks WHERE status IN ('submitted', 'processing') AND updated_at < now() - interval '5 minutes' ORDER BY task_id";

  async function tasks(): Promise<PgDb> {
    const d = await pgDb();
    d.sql(`CREATE TABLE tasks (task_id text, status text, updated_at timestamptz, api_token text);
      INSERT INTO tasks VALUES ('t1', 'submitted', now() - interval '10 minutes', 'sk_live_9f8e7d6c5b4a39281706f5e4'),
                               ('t2', 'processing', now() - interval '7 minutes', 'sk_live_0a1b2c3d4e5f60718293a4b5'),
                               ('t3', 'submitted', now(), 'sk_live_ffffeeeeddddccccbbbbaaaa')`);
    return d;
  }

  it('counts the stuck rows, shows a few, and hides what looks secret', async () => {
    db = await tasks();
    const r = await pg(['stale', '5000', STUCK], conf({ name: db.name }));
    expect(r.stdout, r.stderr).toContain('stale check=1 rows=2 name=tasks stuck in submitted');
    expect(r.stdout).toContain('row check=1 task_id=t1 status=submitted api_token=«hidden»');
    expect(r.stdout).toContain('row check=1 task_id=t2 status=processing api_token=«hidden»');
    expect(r.stdout).not.toContain('sk_live');
    expect(facts(r.stdout).get('stale_rows')).toBe('2');
    expect(facts(r.stdout).get('stale_checks')).toBe('1');
  });

  it('healthy twin: the rows moved on, nothing stuck', async () => {
    db = await tasks();
    db.sql("UPDATE tasks SET status = 'completed'");
    const r = await pg(['stale', '5000', STUCK], conf({ name: db.name }));
    expect(r.stdout).toContain('stale check=1 rows=0 name=tasks stuck in submitted');
    expect(r.stdout).not.toMatch(/^row /m);
    expect(facts(r.stdout).get('stale_rows')).toBe('0');
  });

  it('a query cannot write: nextval() in the READ ONLY transaction fails and the sequence stays put', async () => {
    db = await tasks();
    db.sql('CREATE SEQUENCE s');
    const r = await pg(['stale', '5000', "SELECT nextval('s')", 'SELECT 1; DELETE FROM tasks', 'WITH d AS (DELETE FROM tasks RETURNING *) SELECT * FROM d'], conf({ name: db.name }));
    expect(r.stdout).toMatch(/^error check=1 ERROR: +cannot execute nextval\(\) in a read-only transaction name=SELECT nextval\('s'\)$/m);
    expect(r.stdout).toMatch(/^error check=2 one statement per query, no ; name=/m);
    expect(r.stdout).toMatch(/^error check=3 ERROR: .*data-modifying statement/m);
    expect(db.sql("SELECT nextval('s')")).toBe('1');
    expect(db.sql('SELECT count(*) FROM tasks')).toBe('3');
  });

  it('a query is data to psql, never to the shell: $(), backticks and quotes arrive as SQL', async () => {
    db = await tasks();
    const r = await pg(['stale', '5000', "SELECT '$(id)' AS a, '`id`' AS b, 'it''s' AS c"], conf({ name: db.name }));
    expect(r.stdout, r.stderr).toContain("row check=1 a=$(id) b=`id` c=it's");
    expect(r.stdout).not.toMatch(/uid=/);
    expect(r.leftInTmp).toEqual([]);
  });

  it('a query that runs too long is cancelled by its statement_timeout', async () => {
    db = await tasks();
    const r = await pg(['stale', '200', 'SELECT pg_sleep(5)'], conf({ name: db.name }));
    expect(r.stdout).toMatch(/^error check=1 ERROR: +canceling statement due to statement timeout/m);
    await waitUntil('the cancelled query to be gone', async () => psql(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${db!.name}' AND query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()`) === '0' || undefined, {
      timeoutMs: 2000,
    });
  });
});

describe('db-sql connections (MySQL/MariaDB)', () => {
  it('Threads_connected against max_connections on the real MariaDB, via the config', async () => {
    const r = await runProbe('db-sql', { args: ['mysql', 'connections'], env: conf({ port: 3306, user: 'root' }), real: ['mysql'] });
    const max = /^connections=(\d+) max=(\d+) reserved=0 usable=(\d+) pct=(\d+)$/m.exec(r.stdout);
    expect(max, r.stdout + r.stderr).not.toBeNull();
    expect(Number(max![2])).toBeGreaterThan(0);
    expect(max![3]).toBe(max![2]);
  });

  it('the same via a mysql:// URL in the env file', async () => {
    const d = await envDir('DATABASE_URL=mysql://root@127.0.0.1:3306/mysql\n');
    const r = await runProbe('db-sql', { args: ['mysql', 'connections'], env: conf({ port: 1, user: 'nobody', workdir: d, urlVar: 'DATABASE_URL' }), real: ['mysql'] });
    expect(facts(r.stdout).get('via')).toBe('url');
    expect(r.stdout, r.stderr).toMatch(/^connections=\d+ max=\d+ /m);
  });

  it('"Too many connections" means refused; the password went to MYSQL_PWD, not the command line', async () => {
    const d = await envDir('DATABASE_URL=mysql://app:hunter2@127.0.0.1:3306/shop\n');
    const r = await runProbe('db-sql', {
      args: ['mysql', 'connections'],
      env: conf({ workdir: d, urlVar: 'DATABASE_URL' }),
      stubs: { mysql: [{ args: '--connect-timeout=5 --protocol=TCP -N -B -h 127.0.0.1 -P 3306 -u app -e * shop', stderr: 'ERROR 1040 (HY000): Too many connections\n', exit: 1 }] },
    });
    expect(facts(r.stdout).get('refused')).toBe('too-many-connections');
    expect(r.stdout + r.calls.join('\n')).not.toContain('hunter2');
  });

  it('locks, slow and stale read PostgreSQL only', async () => {
    const r = await runProbe('db-sql', { args: ['mysql', 'locks'], env: conf({ port: 3306 }), real: ['mysql'] });
    expect(facts(r.stdout).get('note')).toBe('the locks check reads PostgreSQL only');
  });
});
