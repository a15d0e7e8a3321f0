/**
 * The `db-ping` probe: does the app's database answer? Against the real
 * PostgreSQL (pg_isready) and MariaDB (mysqladmin) on this machine, a port
 * where nothing listens, stubs for a server that is shutting down, and the
 * TCP fallback on a host with neither client. The address comes from the
 * app's own URL when its env file has one — and the URL's password shows
 * nowhere, not even in the commands the probe runs.
 */
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeTempDir, removeTempDir } from '../../support/processes.ts';
import { facts, runProbe } from './harness.ts';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('triage-db-ping-');
});
afterAll(async () => {
  await removeTempDir(dir);
});

const conf = (host: string, port: number | string, extra: Record<string, string> = {}) => ({ DB_HOST: host, DB_PORT: String(port), DB_WORKDIR: '', DB_ENV_FILE: '.env', DB_URL_VAR: '', ...extra });

async function envFile(name: string, body: string): Promise<string> {
  const d = await fsp.mkdtemp(path.join(dir, `${name}-`));
  await fsp.writeFile(path.join(d, '.env'), body);
  return d;
}

describe('db-ping probe, PostgreSQL', () => {
  it('the real server answers pg_isready', async () => {
    const r = await runProbe('db-ping', { args: ['postgres'], env: conf('127.0.0.1', 5432), real: ['pg_isready'] });
    const f = facts(r.stdout);
    expect(f.get('reachable'), r.stdout + r.stderr).toBe('yes');
    expect(f.get('tool')).toBe('pg_isready');
    expect(f.get('via')).toBe('config');
    expect(f.get('addr')).toBe('127.0.0.1:5432');
    expect(f.get('detail')).toContain('accepting connections');
  });

  it('a port where nothing listens does not answer', async () => {
    const port = await freePort();
    const r = await runProbe('db-ping', { args: ['postgres'], env: conf('127.0.0.1', port), real: ['pg_isready'] });
    expect(facts(r.stdout).get('reachable')).toBe('no');
    expect(facts(r.stdout).get('detail')).toContain('no response');
  });

  it("asks where the app's DATABASE_URL points, not the config, and never shows its password", async () => {
    const d = await envFile('url', 'OTHER=1\nexport DATABASE_URL="postgresql+asyncpg://app:hunter2-pw@db.internal:6543/shop?sslmode=require"\n');
    const r = await runProbe('db-ping', {
      args: ['postgres'],
      env: conf('127.0.0.1', 5432, { DB_WORKDIR: d, DB_URL_VAR: 'DATABASE_URL' }),
      stubs: { pg_isready: [{ args: '-h db.internal -p 6543 -t 5', stdout: 'db.internal:6543 - accepting connections\n' }] },
    });
    const f = facts(r.stdout);
    expect(f.get('via')).toBe('url');
    expect(f.get('addr')).toBe('db.internal:6543');
    expect(f.get('reachable')).toBe('yes');
    expect(r.stdout + r.stderr + r.calls.join('\n')).not.toContain('hunter2');
  });

  it('a server that is shutting down rejects (pg_isready exit 1)', async () => {
    const r = await runProbe('db-ping', {
      args: ['postgres'],
      env: conf('127.0.0.1', 5432),
      stubs: { pg_isready: [{ args: '*', stdout: '127.0.0.1:5432 - rejecting connections\n', exit: 1 }] },
    });
    expect(facts(r.stdout).get('reachable')).toBe('no');
    expect(facts(r.stdout).get('rejecting')).toBe('yes');
  });

  it('an env file without the variable: says so and uses the config', async () => {
    const d = await envFile('novar', 'JWT_SECRET=x\n');
    const r = await runProbe('db-ping', {
      args: ['postgres'],
      env: conf('127.0.0.1', 5432, { DB_WORKDIR: d, DB_URL_VAR: 'DATABASE_URL' }),
      real: ['pg_isready'],
    });
    expect(facts(r.stdout).get('note')).toBe(`DATABASE_URL is not set in ${d}/.env`);
    expect(facts(r.stdout).get('via')).toBe('config');
    expect(facts(r.stdout).get('reachable')).toBe('yes');
  });
});

describe('db-ping probe, MySQL/MariaDB', () => {
  it('the real MariaDB answers mysqladmin ping', async () => {
    const r = await runProbe('db-ping', { args: ['mysql'], env: conf('127.0.0.1', 3306), real: ['mysqladmin'] });
    expect(facts(r.stdout).get('reachable'), r.stdout).toBe('yes');
    expect(facts(r.stdout).get('detail')).toBe('mysqld is alive');
  });

  it('a port where nothing listens does not answer', async () => {
    const r = await runProbe('db-ping', { args: ['mysql'], env: conf('127.0.0.1', await freePort()), real: ['mysqladmin'] });
    expect(facts(r.stdout).get('reachable')).toBe('no');
    expect(facts(r.stdout).get('detail')).toMatch(/Can't connect|connect to server/);
  });

  it('takes host and port from a mysql:// URL', async () => {
    const d = await envFile('my', "DATABASE_URL='mysql+pymysql://root:pw@127.0.0.1:3306/shop'\n");
    const r = await runProbe('db-ping', { args: ['mysql'], env: conf('10.9.9.9', 1, { DB_WORKDIR: d, DB_URL_VAR: 'DATABASE_URL' }), real: ['mysqladmin'] });
    expect(facts(r.stdout).get('addr')).toBe('127.0.0.1:3306');
    expect(facts(r.stdout).get('reachable')).toBe('yes');
  });
});

describe('db-ping probe, no client on the host', () => {
  let server: net.Server;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    server = net.createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('falls back to a TCP connection (real bash)', async () => {
    const up = await runProbe('db-ping', { args: ['postgres'], env: conf('127.0.0.1', port), real: ['bash', 'timeout'] });
    expect(facts(up.stdout).get('tool')).toBe('tcp');
    expect(facts(up.stdout).get('reachable')).toBe('yes');
    const down = await runProbe('db-ping', { args: ['redis'], env: conf('127.0.0.1', await freePort()), real: ['bash', 'timeout'] });
    expect(facts(down.stdout).get('reachable')).toBe('no');
  });

  it('with no bash or nc either, says it cannot tell', async () => {
    const r = await runProbe('db-ping', { args: ['mongodb'], env: conf('127.0.0.1', port) });
    expect(facts(r.stdout).get('reachable')).toBe('unknown');
  });

  it('refuses a port that is not a number', async () => {
    const r = await runProbe('db-ping', { args: ['postgres'], env: conf('127.0.0.1', '5432; id') });
    expect(r.code).toBe(2);
    expect(r.stdout).not.toMatch(/uid=/);
  });
});
