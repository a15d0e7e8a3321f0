/**
 * Real broken pieces for the `host`, `health` and `504` runbook tests, each
 * with a healthy twin: a small tmpfs that is full, a PostgreSQL database with
 * a query that sleeps, TLS servers whose certificates are valid or expired
 * (a test CA made with openssl), a port that refuses, a plain-HTTP port
 * behind an https:// URL, and a `triage` run whose host resolves names
 * through a nameserver that does not exist (so `.invalid` names fail without
 * a DNS query ever leaving loopback).
 *
 * Deliberately left out: anything beyond this machine and loopback. Mounting
 * and the private /etc/resolv.conf need root (tests run as root here).
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { type AppHandle, startApp } from '../support/apps.ts';
import { type CliRun, purgePrefix } from '../support/cli.ts';
import { type NginxHandle, startNginx } from '../support/nginx.ts';
import { freePort, makeTempDir, removeTempDir, spawnTracked, type TrackedChild, waitUntil } from '../support/processes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Writes `config` as triage.yaml in `dir` and returns its path. */
export async function writeConfig(dir: string, config: object): Promise<string> {
  const file = path.join(dir, 'triage.yaml');
  await fsp.writeFile(file, stringify(config));
  return file;
}

/** A 1 MB tmpfs mounted on a fresh temp dir; `fill` writes it to 100%. */
export interface Tmpfs {
  dir: string;
  cleanup(): Promise<void>;
}

export async function tmpfs(opts: { fill: boolean }): Promise<Tmpfs> {
  const dir = await makeTempDir('triage-tmpfs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
  if (opts.fill) {
    try {
      fs.writeFileSync(path.join(dir, 'app.log.1'), Buffer.alloc(1024 * 1024, 'x'));
    } catch {
      // ENOSPC: as full as it gets
    }
  }
  return {
    dir,
    async cleanup() {
      execFileSync('umount', [dir]);
      await removeTempDir(dir);
    },
  };
}

// ---------------------------------------------------------------- 504

/** What {@link setup504} builds. */
export interface Setup504Options {
  /** Where its files go (a folder per setup is made inside). */
  root: string;
  app: 'ok' | 'slow';
  /** nginx's proxy_read_timeout for /api. Default 1s. */
  readTimeout?: string;
  upstreams?: string[];
  db?: PgDatabase;
  /** The `hosts:` section, e.g. `fleetConfigHosts(fleet)` or `{ web1: { address: 'local' } }`. */
  hosts: Record<string, object>;
}

export interface Setup504 {
  app: AppHandle;
  nginx: NginxHandle;
  configPath: string;
  cleanup(): Promise<void>;
}

/** A real app (answering at once, or after 4 s) behind a real nginx, and the triage.yaml for target `shop`. */
export async function setup504(o: Setup504Options): Promise<Setup504> {
  const d = await fsp.mkdtemp(path.join(o.root, `${o.app}-`));
  const port = await freePort();
  const env = { JWT_SECRET: randomBytes(30).toString('hex'), DATABASE_URL: o.db?.url ?? 'postgres://app@127.0.0.1:5432/app' };
  const app = await startApp(o.app, { port, dir: path.join(d, 'app'), delayMs: 4000, env });
  const nginx = await startNginx({ dir: path.join(d, 'nginx'), upstreamPort: port, proxyReadTimeout: o.readTimeout ?? '1s' }).catch(async (e) => {
    await app.stop();
    throw e;
  });
  const hosts = o.hosts;
  const shop = {
    hosts: Object.keys(hosts),
    service: { manager: 'process', name: app.marker },
    port,
    health: `http://127.0.0.1:${port}/health`,
    nginx: { config: nginx.configPath, site: nginx.sitePath, location: '/api' },
    workdir: app.workdir,
    envFile: '.env',
    logs: { file: app.logFile },
    ...(o.upstreams ? { upstreams: o.upstreams } : {}),
    ...(o.db ? { database: { kind: 'postgres', host: '127.0.0.1', port: 5432, urlEnv: 'DATABASE_URL' } } : {}),
  };
  const configPath = await writeConfig(d, { hosts, targets: { shop } });
  return { app, nginx, configPath, cleanup: async () => void (await Promise.all([app.stop(), nginx.stop()])) };
}

// ---------------------------------------------------------------- PostgreSQL

const PG = ['-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', '-X', '-q', '-A', '-t'];

function psql(sql: string, db = 'postgres'): string {
  return execFileSync('psql', [...PG, '-d', db, '-c', sql], { encoding: 'utf8' }).trim();
}

/** A database of its own on the real PostgreSQL at 127.0.0.1:5432 (trust auth). */
export interface PgDatabase {
  name: string;
  /** postgres://postgres@127.0.0.1:5432/NAME */
  url: string;
  /** Starts `SELECT pg_sleep(seconds)` in a second session and waits until it has run for `after` seconds. */
  sleepingQuery(seconds: number, after: number): Promise<TrackedChild>;
  cleanup(): Promise<void>;
}

export async function pgDatabase(): Promise<PgDatabase> {
  const name = `triage_t_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  psql(`CREATE DATABASE ${name}`);
  const sessions: TrackedChild[] = [];
  return {
    name,
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    async sleepingQuery(seconds, after) {
      const child = await spawnTracked('psql', [...PG, '-d', name, '-c', `SELECT pg_sleep(${seconds})`]);
      sessions.push(child);
      await waitUntil(
        `pg_sleep to run ${after} s in ${name}`,
        async () =>
          psql(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${name}' AND query LIKE 'SELECT pg_sleep%' AND now() - query_start > interval '${after} seconds'`) === '1' || undefined,
        { timeoutMs: (after + 5) * 1000, intervalMs: 100 },
      );
      return child;
    },
    async cleanup() {
      await Promise.all(sessions.map((s) => s.stop()));
      psql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
      psql(`DROP DATABASE IF EXISTS ${name}`);
    },
  };
}

// ---------------------------------------------------------------- TLS

/** A test CA and two server certificates for localhost/127.0.0.1 it signed: one valid, one that expired in 2020. */
export interface TestCerts {
  ca: string;
  valid: { cert: string; key: string };
  expired: { cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

export async function makeCerts(dir: string): Promise<TestCerts> {
  await fsp.mkdir(path.join(dir, 'db'), { recursive: true });
  await fsp.writeFile(path.join(dir, 'db', 'index.txt'), '');
  await fsp.writeFile(path.join(dir, 'db', 'serial'), '1000\n');
  await fsp.writeFile(
    path.join(dir, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = test_ca',
      '[test_ca]',
      'database = db/index.txt',
      'new_certs_dir = db',
      'serial = db/serial',
      'default_md = sha256',
      'policy = any',
      'unique_subject = no',
      'copy_extensions = copy',
      'x509_extensions = server',
      '[any]',
      'commonName = supplied',
      '[server]',
      'basicConstraints = CA:FALSE',
      'subjectAltName = DNS:localhost,IP:127.0.0.1',
      '',
    ].join('\n'),
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=Triage Test CA', '-days', '30'], dir);
  for (const which of ['valid', 'expired'] as const) {
    openssl(['req', '-new', ...ec, '-keyout', `${which}.key`, '-out', `${which}.csr`, '-subj', '/CN=localhost'], dir);
    // `openssl ca` takes any start and end date, so no faketime is needed for an expired certificate.
    const dates = which === 'valid' ? ['-days', '30'] : ['-startdate', '20200101000000Z', '-enddate', '20200102000000Z'];
    openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', `${which}.csr`, '-out', `${which}.pem`, '-notext', ...dates], dir);
  }
  const p = (f: string) => path.join(dir, f);
  return { ca: p('ca.pem'), valid: { cert: p('valid.pem'), key: p('valid.key') }, expired: { cert: p('expired.pem'), key: p('expired.key') } };
}

/** A loopback server: its base URL and how to stop it. */
export interface LoopbackServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1 answering 200 `ok` with this certificate. */
export async function tlsServer(pair: { cert: string; key: string }): Promise<LoopbackServer> {
  const server = https.createServer({ cert: fs.readFileSync(pair.cert), key: fs.readFileSync(pair.key) }, (_req, res) => res.end('ok'));
  return listen(server, 'https');
}

/** A plain HTTP server on 127.0.0.1 (an https:// URL pointing at it fails the TLS handshake). */
export async function plainServer(): Promise<LoopbackServer> {
  return listen(
    http.createServer((_req, res) => res.end('ok')),
    'http',
  );
}

async function listen(server: http.Server | https.Server, scheme: string): Promise<LoopbackServer> {
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: `${scheme}://127.0.0.1:${port}/`,
    port,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------- DNS

/**
 * Runs the real `triage` CLI in a private mount namespace whose
 * /etc/resolv.conf names a nameserver on 127.0.0.1 where nothing listens: a
 * name outside /etc/hosts fails at once, and no DNS query leaves loopback.
 * Use with hosts `{ address: local }`, so the steps run in that namespace too.
 */
export async function runCliWithoutDns(args: string[]): Promise<CliRun> {
  const dir = await makeTempDir('triage-nodns-');
  const resolv = path.join(dir, 'resolv.conf');
  await fsp.writeFile(resolv, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  try {
    return await new Promise<CliRun>((resolve) => {
      execFile(
        'unshare',
        ['-m', 'sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv, process.execPath, path.join(ROOT, 'bin', 'triage.js'), ...args],
        { cwd: ROOT, env: { ...process.env, TRIAGE_CONFIG: '', TRIAGE_PREFIX: prefix }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          let json: unknown;
          try {
            json = JSON.parse(stdout);
          } catch {
            json = undefined;
          }
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr, json });
        },
      );
    });
  } finally {
    await purgePrefix(prefix).catch(() => {});
    await removeTempDir(dir);
  }
}
