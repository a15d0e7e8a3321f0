/**
 * Real databases in trouble, for the `db` runbook and its probes, each with a
 * healthy twin: a database of its own on the shared PostgreSQL at
 * 127.0.0.1:5432 (trust auth) with sessions that hold a row lock, wait on
 * it, or sleep; a PRIVATE PostgreSQL cluster (initdb as the postgres user, a
 * free loopback port, max_connections 5) that can be filled with idle
 * connections and stopped; a private MariaDB server (mariadbd as mysql,
 * max_connections 10) likewise.
 *
 * Every session is a `psql`/`mysql` child started with `spawnTracked` (its
 * own process group) and stopped by its PID; a session stays open without
 * stdin by running `\! sleep 600` (psql) or `SELECT SLEEP(600)` (mysql)
 * after its statements. Servers are stopped by the PID in their pid file.
 *
 * Deliberately left out: the shared MariaDB's settings (other tests use it;
 * only the private server is filled up).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { freePort, isAlive, makeTempDir, removeTempDir, sleep, spawnTracked, type TrackedChild, waitUntil } from '../support/processes.ts';

const PSQL = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'];

/** Runs one statement with psql as postgres and returns its trimmed output. */
export function psql(sql: string, o: { port?: number; db?: string; host?: string } = {}): string {
  return execFileSync('psql', ['-h', o.host ?? '127.0.0.1', '-p', String(o.port ?? 5432), '-U', 'postgres', '-d', o.db ?? 'postgres', ...PSQL, '-c', sql], { encoding: 'utf8' }).trim();
}

/** An open session, stopped (with its process group) by PID. */
export interface Session {
  child: TrackedChild;
  stop(): Promise<void>;
}

/** A database of its own on 127.0.0.1:5432, dropped by `cleanup` (its sessions stopped first). */
export interface PgDb {
  name: string;
  port: number;
  /** postgres://postgres@127.0.0.1:5432/NAME */
  url: string;
  sql(statement: string): string;
  /** Runs `statements` in one psql session that then stays open (idle, or idle in a transaction left open). */
  session(statements: string[], o?: { user?: string; password?: string; app?: string }): Promise<Session>;
  /** The backend pid of the session whose state is `state` (e.g. 'idle in transaction'), once there is one. */
  backendPid(where: string): Promise<number>;
  cleanup(): Promise<void>;
}

function pgDbOn(name: string, port: number, sessions: Session[]): Omit<PgDb, 'cleanup'> {
  const sql = (s: string) => psql(s, { port, db: name });
  return {
    name,
    port,
    url: `postgres://postgres@127.0.0.1:${port}/${name}`,
    sql,
    async session(statements, o = {}) {
      const args = ['-h', '127.0.0.1', '-p', String(port), '-U', o.user ?? 'postgres', '-d', name, ...PSQL];
      for (const st of statements) args.push('-c', st);
      args.push('-c', '\\! sleep 600');
      const child = await spawnTracked('psql', args, { env: { ...process.env, PGPASSWORD: o.password ?? '', PGAPPNAME: o.app ?? 'db-test-session' } });
      const s: Session = { child, stop: () => child.stop(2000) };
      sessions.push(s);
      return s;
    },
    async backendPid(where) {
      const pid = await waitUntil(
        `a session where ${where} in ${name}`,
        async () => {
          const out = psql(`SELECT pid FROM pg_stat_activity WHERE datname = '${name}' AND ${where} ORDER BY backend_start LIMIT 1`, { port });
          return out ? Number(out) : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 50 },
      );
      return pid;
    },
  };
}

/** A fresh database on the shared PostgreSQL at 127.0.0.1:5432. */
export async function pgDb(): Promise<PgDb> {
  const name = `triage_db_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  psql(`CREATE DATABASE ${name}`);
  const sessions: Session[] = [];
  return {
    ...pgDbOn(name, 5432, sessions),
    async cleanup() {
      await Promise.all(sessions.map((s) => s.stop()));
      psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
      psql(`DROP DATABASE IF EXISTS ${name}`);
    },
  };
}

// ---------------------------------------------------------------- private cluster

/** A private PostgreSQL cluster on a free loopback port, run by the postgres user. */
export interface PgCluster {
  port: number;
  dir: string;
  /** The non-superuser role `app` and its password (scram-sha-256; the superuser `postgres` has trust). */
  appUser: string;
  appPassword: string;
  db(): PgDb;
  /**
   * Opens `n` idle sessions as `app`, one at a time, each awaited through
   * the server's process titles (`ps`), not a query: a polling connection
   * would itself take a slot and make the last session fail.
   */
  fill(n: number): Promise<void>;
  /** pid of the postmaster. */
  pid(): number;
  /** Stops the server (pg_ctl stop -m fast; SIGKILL by PID if it lingers); `cleanup` still removes the data. */
  stopServer(): Promise<void>;
  cleanup(): Promise<void>;
}

function pgBin(tool: string): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const p = path.join(root, v, 'bin', tool);
    if (fs.existsSync(p)) return p;
  }
  throw new Error(`this test needs PostgreSQL's ${tool} (apt-get install postgresql)`);
}

function asPostgres(args: string[]): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A password with every character a URL must encode. */
export const APP_PASSWORD = 'p@ss:w/rd%1 x';

export async function pgCluster(o: { maxConnections: number; reserved: number }): Promise<PgCluster> {
  const dir = await makeTempDir('triage-pgc-');
  await fsp.chmod(dir, 0o755);
  const data = path.join(dir, 'data');
  execFileSync('chown', ['postgres:postgres', dir]);
  const port = await freePort();
  asPostgres([pgBin('initdb'), '-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C']);
  await fsp.appendFile(
    path.join(data, 'postgresql.conf'),
    [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      `max_connections = ${o.maxConnections}`,
      `superuser_reserved_connections = ${o.reserved}`,
      'fsync = off',
      'shared_buffers = 16MB',
      '',
    ].join('\n'),
  );
  await fsp.writeFile(path.join(data, 'pg_hba.conf'), ['local all postgres trust', 'host all postgres 127.0.0.1/32 trust', 'host all app 127.0.0.1/32 scram-sha-256', ''].join('\n'));
  asPostgres([pgBin('pg_ctl'), '-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '30', 'start']);
  const pidOf = () => Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const pid = pidOf();
  psql(`CREATE ROLE app LOGIN PASSWORD '${APP_PASSWORD.replace(/'/g, "''")}'`, { port });
  const sessions: Session[] = [];
  let stopped = false;
  const stopServer = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(sessions.map((s) => s.stop()));
    try {
      asPostgres([pgBin('pg_ctl'), '-D', data, '-m', 'fast', '-w', '-t', '20', 'stop']);
    } catch {
      // fall through to the PID
    }
    for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  };
  return {
    port,
    dir,
    appUser: 'app',
    appPassword: APP_PASSWORD,
    db: () => ({ ...pgDbOn('postgres', port, sessions), cleanup: async () => {} }),
    async fill(n) {
      const db = pgDbOn('postgres', port, sessions);
      const idleApp = () => execFileSync('ps', ['-o', 'args=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').filter((l) => /^postgres: .*app postgres 127\.0\.0\.1\(\d+\) idle$/.test(l.trim())).length;
      const before = idleApp();
      for (let i = 1; i <= n; i++) {
        const s = await db.session([], { user: 'app', password: APP_PASSWORD });
        await waitUntil(`idle session ${i} of app on :${port}`, async () => (idleApp() >= before + i ? true : undefined), {
          timeoutMs: 10_000,
          intervalMs: 50,
          abort: () => (s.child.hasExited() ? 'psql exited (refused?)' : undefined),
        });
      }
    },
    pid: () => pid,
    stopServer,
    async cleanup() {
      await stopServer();
      await removeTempDir(dir);
    },
  };
}

// ---------------------------------------------------------------- private MariaDB

/** A private MariaDB server on a free loopback port: root with no password, and a user `app` without the right to exceed max_connections. */
export interface MariaDb {
  port: number;
  /** Opens `n` idle connections as `app` (each a `mysql` child sleeping in SELECT SLEEP). */
  fill(n: number): Promise<void>;
  /** Stops the server by the PID in its pid file. */
  stopServer(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function mariaDb(o: { maxConnections: number }): Promise<MariaDb> {
  const dir = await makeTempDir('triage-mdb-');
  await fsp.chmod(dir, 0o755);
  execFileSync('chown', ['mysql:mysql', dir]);
  const data = path.join(dir, 'data');
  const port = await freePort();
  execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--user=mysql', '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
  const server = await spawnTracked(
    'mariadbd',
    [
      '--no-defaults',
      `--datadir=${data}`,
      '--user=mysql',
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${path.join(dir, 'sock')}`,
      `--pid-file=${path.join(dir, 'pid')}`,
      `--max-connections=${o.maxConnections}`,
      '--skip-log-bin',
      '--innodb-buffer-pool-size=8M',
    ],
    { logFile: path.join(dir, 'log') },
  );
  const mysql = (sql: string) => execFileSync('mysql', ['-h', '127.0.0.1', '-P', String(port), '-u', 'root', '-N', '-B', '-e', sql], { encoding: 'utf8' });
  await waitUntil(
    `mariadbd on :${port}`,
    async () => {
      try {
        mysql('SELECT 1');
        return true;
      } catch {
        return undefined;
      }
    },
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  mysql("CREATE USER app@'%' IDENTIFIED BY 'app-pw'; GRANT SELECT ON *.* TO app@'%'");
  const sessions: TrackedChild[] = [];
  const stopServer = async () => {
    await Promise.all(sessions.map((s) => s.stop(2000)));
    await server.stop(20_000);
  };
  return {
    port,
    async fill(n) {
      const open = () => spawnTracked('mysql', ['-h', '127.0.0.1', '-P', String(port), '-u', 'app', '-e', 'SELECT SLEEP(600)'], { env: { ...process.env, MYSQL_PWD: 'app-pw' } });
      for (let i = 0; i < n; i++) sessions.push(await open());
      await waitUntil(
        `${n} sessions on :${port}`,
        async () => {
          // A client refused while the server was still letting go of an earlier connection (the
          // diagnosis's own) exits at once: open another in its place.
          for (let i = 0; i < sessions.length; i++) if (sessions[i]!.hasExited()) sessions[i] = await open();
          return Number(mysql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'app'").trim()) >= n ? true : undefined;
        },
        // ten mysql clients starting on a loaded 2-core machine took over 15 s once in CI
        { timeoutMs: 60_000, intervalMs: 100 },
      );
    },
    stopServer,
    async cleanup() {
      await stopServer();
      await removeTempDir(dir);
    },
  };
}
