/**
 * The user's story: requests hang or fail and the on-call engineer runs
 * `triage run db shop`. Over real SSH, the host's own psql/mysql — connected
 * with the app's DATABASE_URL read from its env file there — find what is
 * wrong with the real database: a transaction left open that blocks an
 * update (db-locks), a query that sleeps (db-slow), tasks stuck in
 * `submitted` (seed 002, db-stale-rows), a private PostgreSQL cluster with
 * max_connections 5 filled with idle sessions (db-connections-exhausted),
 * then stopped (db-unreachable); and a private MariaDB likewise. Each cause
 * has a healthy twin. The URL's password appears in no output.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type CliRun, runCli } from '../support/cli.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { isAlive, makeTempDir, removeTempDir } from '../support/processes.ts';
import { type MariaDb, mariaDb, type PgCluster, type PgDb, pgCluster, pgDb } from './db-setups.ts';

let fleet: Fleet;
let dir: string;
beforeAll(async () => {
  fleet = await startFleet({ hosts: 1 });
  dir = await makeTempDir('triage-db-');
});
afterAll(async () => {
  await removeTempDir(dir);
  await fleet?.stop();
  // How long each diagnosis took (the run's own durationMs), for the record.
  console.log(Object.entries(durations).map(([k, v]) => `${k}: ${v} ms`).join('\n'));
});

const durations: Record<string, number> = {};

interface Diagnose {
  /** The target's `database:` section. */
  database: Record<string, unknown>;
  /** The app's .env (DATABASE_URL=...), written in its workdir on the host. */
  env?: string;
  params?: Record<string, string>;
  hosts?: Record<string, object>;
}

/** Writes the app's workdir and triage.yaml for target `shop`, and runs `triage run db shop --json`. */
async function diagnose(label: string, o: Diagnose): Promise<CliRun> {
  const workdir = await fsp.mkdtemp(path.join(dir, 'app-'));
  if (o.env !== undefined) await fsp.writeFile(path.join(workdir, '.env'), o.env);
  const hosts = o.hosts ?? fleetConfigHosts(fleet);
  const config = path.join(workdir, 'triage.yaml');
  await fsp.writeFile(config, stringify({ hosts, targets: { shop: { hosts: Object.keys(hosts), workdir, database: o.database } } }));
  const params = Object.entries(o.params ?? {}).flatMap(([k, v]) => ['--param', `${k}=${v}`]);
  const run = await runCli(['run', 'db', 'shop', '--config', config, '--json', ...params]);
  expect(run.json, run.stdout + run.stderr).toBeDefined();
  durations[label] = run.json.durationMs;
  return run;
}

function expectCause(run: CliRun, cause: string) {
  expect(run.json.cause, JSON.stringify(run.json, null, 2)).toBe(cause);
  expect(run.json.status).toBe('unhealthy');
  expect(run.json.findings[0].code).toBe(cause);
  expect(run.json.findings[0].evidence.length).toBeGreaterThan(0);
  expect(run.json.findings[0].fix).not.toBe('');
  expect(run.code).toBe(1);
}

function expectHealthy(run: CliRun) {
  expect(run.json.status, JSON.stringify(run.json, null, 2)).toBe('healthy');
  expect(run.json.cause).toBeNull();
  expect(run.code).toBe(0);
  for (const s of run.json.hosts[0].steps) expect(['pass', 'skipped'], `${s.id}: ${s.output}`).toContain(s.status);
}

const stepOf = (run: CliRun, id: string) => run.json.hosts[0].steps.find((s: { id: string }) => s.id === id);

const PG = (url: string, extra: Record<string, unknown> = {}) => ({ database: { kind: 'postgres', host: '127.0.0.1', urlEnv: 'DATABASE_URL', ...extra }, env: `DATABASE_URL="${url}"\n` });

describe('triage run db on the shared PostgreSQL (a database per test)', () => {
  let db: PgDb | undefined;
  afterEach(async () => {
    await db?.cleanup();
    db = undefined;
  });
  const urlOf = (d: PgDb) => d.url.replace('postgres@', 'postgres:Pg-s3cret-pw@');

  it('db-locks: an open transaction holds the row an update waits for — both pids, their start, no literal values', async () => {
    db = await pgDb();
    db.sql("CREATE TABLE accounts (id int PRIMARY KEY, note text); INSERT INTO accounts VALUES (1, 'a')");
    await db.session(['BEGIN', "UPDATE accounts SET note = 'tok_s3cr3t_value' WHERE id = 1"]);
    const blocker = await db.backendPid("state = 'idle in transaction'");
    await db.session(["UPDATE accounts SET note = 'other' WHERE id = 1"]);
    const blocked = await db.backendPid("wait_event_type = 'Lock'");
    const run = await diagnose('db-locks', PG(urlOf(db)));
    expectCause(run, 'db-locks');
    const top = run.json.findings[0];
    expect(top.title).toMatch(new RegExp(`^pid ${blocker} holds a lock other database sessions wait for \\(blocked: 1, longest \\d+ s\\)$`));
    const evidence = top.evidence.join('\n');
    expect(evidence).toMatch(new RegExp(`blocked: pid=${blocked} waiting=\\d+ since=\\S+Z by=${blocker} query=UPDATE accounts SET note = '…' WHERE id = 1`));
    expect(evidence).toMatch(new RegExp(`blocking: pid=${blocker} state=idle_in_transaction xact=\\d+ since=\\S+Z`));
    expect(top.fix).toContain(`pg_terminate_backend(${blocker})`);
    expect(run.stdout).not.toMatch(/tok_s3cr3t_value|Pg-s3cret-pw/);
  });

  it('healthy twin of db-locks: a transaction left open that blocks nobody', async () => {
    db = await pgDb();
    db.sql("CREATE TABLE accounts (id int PRIMARY KEY, token text); INSERT INTO accounts VALUES (1, 'a'), (2, 'b')");
    await db.session(['BEGIN', "UPDATE accounts SET token = 'x' WHERE id = 1"]);
    await db.backendPid("state = 'idle in transaction'");
    await db.session(["UPDATE accounts SET token = 'y' WHERE id = 2"]);
    const run = await diagnose('healthy (locks twin)', PG(urlOf(db)));
    expectHealthy(run);
    expect(stepOf(run, 'locks').summary).toBe('blocked sessions: 0, longest wait 0 s');
  });

  it('db-slow: SELECT pg_sleep(30) has run past slow_query', async () => {
    db = await pgDb();
    await db.session(['SELECT pg_sleep(30)']);
    const pid = await db.backendPid("query LIKE 'SELECT pg_sleep%' AND now() - query_start > interval '1.5 seconds'");
    const run = await diagnose('db-slow', { ...PG(urlOf(db)), params: { slow_query: '1s' } });
    expectCause(run, 'db-slow');
    expect(run.json.findings[0].title).toMatch(/^database queries run long: 1 past 1 s, the longest for \d+ s$/);
    expect(run.json.findings[0].evidence.join('\n')).toMatch(new RegExp(`pid=${pid} seconds=\\d+ since=\\S+Z wait=Timeout/PgSleep query=SELECT pg_sleep\\(30\\)`));
    expect(run.json.findings[0].fix).toContain(`pg_cancel_backend(${pid})`);
  });

  it('healthy twin of db-slow: the same query, still under slow_query', async () => {
    db = await pgDb();
    await db.session(['SELECT pg_sleep(30)']);
    await db.backendPid("query LIKE 'SELECT pg_sleep%'");
    const run = await diagnose('healthy (slow twin)', { ...PG(urlOf(db)), params: { slow_query: '1m' } });
    expectHealthy(run);
  });

  const STUCK = "-- tasks stuck in submitted\nSELECT task_id, status, updated_at FROM tasks\nWHERE status IN ('submitted', 'processing') AND updated_at < now() - interval '5 minutes'";
  async function tasks(stuck: boolean): Promise<PgDb> {
    const d = await pgDb();
    const age = stuck ? "now() - interval '10 minutes'" : 'now()';
    d.sql(`CREATE TABLE tasks (task_id text, status text, updated_at timestamptz, api_token text);
      INSERT INTO tasks VALUES ('t1', 'submitted', ${age}, 'sk_live_9f8e7d6c5b4a39281706f5e4'), ('t2', 'completed', now() - interval '1 hour', 'sk_live_0a1b2c3d4e5f60718293a4b5')`);
    return d;
  }

  it('db-stale-rows: tasks stuck in submitted for 10 minutes (seed 002) — a warning', async () => {
    db = await tasks(true);
    const run = await diagnose('db-stale-rows', PG(urlOf(db), { staleRows: [STUCK] }));
    expectCause(run, 'db-stale-rows');
    const top = run.json.findings[0];
    expect(top.severity).toBe('warning');
    expect(top.title).toBe('rows are stuck in a state: 1 (from 1 of the database.staleRows checks)');
    expect(top.evidence.join('\n')).toContain('check=1 rows=1 name=tasks stuck in submitted');
    expect(top.evidence.join('\n')).toContain('task_id=t1 status=submitted');
    expect(stepOf(run, 'stale').status).toBe('warn');
  });

  it('healthy twin of db-stale-rows: the task moved on', async () => {
    db = await tasks(false);
    const run = await diagnose('healthy (stale twin)', PG(urlOf(db), { staleRows: [STUCK] }));
    expectHealthy(run);
    expect(stepOf(run, 'stale').summary).toBe('stuck rows: 0 (0 of 1 checks found some)');
  });

  it('a stale-rows query that would write fails the check (never healthy), and writes nothing', async () => {
    db = await tasks(false);
    db.sql('CREATE SEQUENCE s');
    const run = await diagnose('stale query refused', PG(urlOf(db), { staleRows: ["SELECT nextval('s')"] }));
    expect(run.json.status).toBe('unhealthy');
    expect(run.json.cause).toBe('inconclusive');
    expect(stepOf(run, 'stale').output).toContain('read-only transaction');
    expect(db.sql("SELECT nextval('s')")).toBe('1');
  });

  it('on the worker itself (address: local), with host/port/user/name from the config instead of a URL', async () => {
    db = await pgDb();
    const run = await diagnose('healthy (local, no URL)', {
      database: { kind: 'postgres', host: '127.0.0.1', port: 5432, user: 'postgres', name: db.name },
      hosts: { box: { address: 'local' } },
    });
    expectHealthy(run);
    expect(stepOf(run, 'reach').summary).toContain('from config');
  });
});

describe('database.staleRows in triage.yaml', () => {
  it('is refused unless each entry is one SELECT: lint names the entry and the fix, and run runs nothing (exit 2)', async () => {
    const workdir = await fsp.mkdtemp(path.join(dir, 'lint-'));
    const config = path.join(workdir, 'triage.yaml');
    const staleRows = ['SELECT 1; DELETE FROM tasks', 'DELETE FROM tasks', '-- fine\nSELECT 1;'];
    await fsp.writeFile(config, stringify({ hosts: { box: { address: 'local' } }, targets: { shop: { hosts: ['box'], database: { kind: 'postgres', host: '127.0.0.1', staleRows } } } }));
    const lint = await runCli(['lint', config]);
    expect(lint.code).toBe(2);
    expect(lint.stdout + lint.stderr).toContain('targets.shop.database.staleRows.0: one statement per query, no ;');
    expect(lint.stdout + lint.stderr).toContain('targets.shop.database.staleRows.1: not a SELECT');
    expect(lint.stdout + lint.stderr).not.toContain('staleRows.2');
    const run = await runCli(['run', 'db', 'shop', '--config', config, '--json']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
  });
});

describe('triage run db on a private PostgreSQL cluster (max_connections 5, 1 reserved)', () => {
  let cluster: PgCluster;
  beforeAll(async () => {
    cluster = await pgCluster({ maxConnections: 5, reserved: 1 });
  });
  afterAll(async () => {
    await cluster?.cleanup();
    if (cluster) expect(isAlive(cluster.pid())).toBe(false);
  });
  // The app's role, with a password that needs every URL escape.
  const appUrl = () => `postgresql://app:${encodeURIComponent(cluster.appPassword)}@127.0.0.1:${cluster.port}/postgres`;

  it("healthy twin: the app's URL (scram password, percent-encoded) connects; 0 of 4 in use", async () => {
    const run = await diagnose('healthy (private cluster)', PG(appUrl()));
    expectHealthy(run);
    expect(stepOf(run, 'connections').summary).toBe('0 of 4 connections in use (0%)');
    expect(run.stdout).not.toContain(encodeURIComponent(cluster.appPassword));
    expect(run.stdout).not.toContain(cluster.appPassword);
  });

  it('db-connections-exhausted: 4 idle sessions of the app fill it, and the app is refused', async () => {
    await cluster.fill(4);
    const run = await diagnose('db-connections-exhausted (refused)', PG(appUrl()));
    expectCause(run, 'db-connections-exhausted');
    expect(run.json.findings[0].title).toBe("the database's connections are used up: it refuses new ones");
    expect(run.json.findings[0].evidence.join('\n')).toContain('remaining connection slots are reserved');
    expect(stepOf(run, 'locks').status).toBe('skipped');
  });

  it('db-connections-exhausted: a superuser still gets in and counts 4 of 4', async () => {
    const run = await diagnose('db-connections-exhausted (counted)', { database: { kind: 'postgres', host: '127.0.0.1', port: cluster.port, user: 'postgres' } });
    expectCause(run, 'db-connections-exhausted');
    expect(run.json.findings[0].title).toBe("the database's connections are used up: 4 of 4 in use (100%)");
    expect(run.json.findings[0].evidence.join('\n')).toContain('held by: user=app db=postgres client=127.0.0.1 app=db-test-session count=4');
  });

  it('db-unreachable: the cluster stopped', async () => {
    await cluster.stopServer();
    expect(isAlive(cluster.pid())).toBe(false);
    const run = await diagnose('db-unreachable (postgres stopped)', PG(appUrl()));
    expectCause(run, 'db-unreachable');
    expect(run.json.findings[0].title).toBe(`the database postgres at 127.0.0.1:${cluster.port} does not answer`);
    expect(run.json.findings[0].evidence.join('\n')).toContain('pg_isready: 127.0.0.1:');
    expect(stepOf(run, 'connections').status).toBe('skipped');
  });
});

describe('triage run db on MySQL/MariaDB', () => {
  it('healthy: the shared MariaDB at 127.0.0.1:3306 answers and has connections to spare (root from the config)', async () => {
    const run = await diagnose('healthy (shared MariaDB)', { database: { kind: 'mysql', host: '127.0.0.1', user: 'root' } });
    expectHealthy(run);
    expect(stepOf(run, 'reach').summary).toContain('mysqld is alive');
    expect(stepOf(run, 'connections').summary).toMatch(/^\d+ of \d+ connections in use/);
    expect(stepOf(run, 'locks').status).toBe('skipped');
  });

  describe('a private MariaDB (max_connections 10)', () => {
    let m: MariaDb;
    beforeAll(async () => {
      m = await mariaDb({ maxConnections: 10 });
    });
    afterAll(async () => {
      await m?.cleanup();
    });
    const mysqlEnv = () => ({ database: { kind: 'mysql', host: '127.0.0.1', port: m.port, urlEnv: 'DATABASE_URL' }, env: `DATABASE_URL=mysql://app:app-pw@127.0.0.1:${m.port}/mysql\n` });

    it("healthy twin: the app's URL connects", async () => {
      const run = await diagnose('healthy (private MariaDB)', mysqlEnv());
      expectHealthy(run);
      expect(stepOf(run, 'connections').summary).toBe('0 of 10 connections in use (0%)');
    });

    it('db-connections-exhausted: 10 sessions of the app fill it — Too many connections', async () => {
      await m.fill(10);
      const run = await diagnose('db-connections-exhausted (MariaDB)', mysqlEnv());
      expectCause(run, 'db-connections-exhausted');
      expect(run.json.findings[0].title).toContain('Too many connections');
      expect(run.stdout).not.toContain('app-pw');
    }, 120_000);

    it('db-unreachable: the server stopped', async () => {
      await m.stopServer();
      const run = await diagnose('db-unreachable (MariaDB stopped)', mysqlEnv());
      expectCause(run, 'db-unreachable');
      expect(run.json.findings[0].evidence.join('\n')).toMatch(/mysqladmin: error: 'Can't connect/);
    });
  });
});
