/**
 * The user's story: nginx answers 504, the on-call engineer runs
 * `triage run 504 shop`, and Triage says what the app waits on — over real
 * SSH, against a real nginx with a tiny proxy_read_timeout in front of a
 * real app: the app itself is too slow, a query sleeps in the real
 * PostgreSQL, or a third party fails at DNS, TCP or TLS (a refusing port, a
 * plain-HTTP port behind https://, an expired certificate, a `.invalid`
 * name). Each cause has a healthy twin.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from '../support/cli.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { freePort, httpGet, makeTempDir, removeTempDir } from '../support/processes.ts';
import { type LoopbackServer, makeCerts, pgDatabase, plainServer, runCliWithoutDns, type Setup504, type Setup504Options, setup504, type TestCerts, tlsServer } from './setups.ts';

let fleet: Fleet;
let dir: string;
let certs: TestCerts;
let valid: LoopbackServer;
let expired: LoopbackServer;
let plain: LoopbackServer;
beforeAll(async () => {
  fleet = await startFleet({ hosts: 1 });
  dir = await makeTempDir('triage-504-');
  certs = await makeCerts(path.join(dir, 'certs'));
  [valid, expired, plain] = await Promise.all([tlsServer(certs.valid), tlsServer(certs.expired), plainServer()]);
});
afterAll(async () => {
  await Promise.all([valid?.stop(), expired?.stop(), plain?.stop()]);
  await removeTempDir(dir);
  await fleet?.stop();
});

const durations: Record<string, number> = {};

async function diagnose(s: Setup504, params: Record<string, string> = {}, run: (args: string[]) => Promise<CliRun> = runCli): Promise<CliRun> {
  const args = Object.entries(params).flatMap(([k, v]) => ['--param', `${k}=${v}`]);
  const r = await run(['run', '504', 'shop', '--config', s.configPath, '--json', ...args]);
  expect(r.json, r.stdout + r.stderr).toBeDefined();
  return r;
}

async function withSetup504<T>(o: Omit<Setup504Options, 'hosts' | 'root'> & { hosts?: Record<string, object> }, fn: (s: Setup504) => Promise<T>): Promise<T> {
  const s = await setup504({ ...o, root: dir, hosts: o.hosts ?? fleetConfigHosts(fleet) });
  try {
    return await fn(s);
  } finally {
    await s.cleanup();
  }
}

function expectCause(run: CliRun, code: string, name: string) {
  const r = run.json;
  expect(r.status, JSON.stringify(r.findings, null, 2)).toBe('unhealthy');
  expect(r.cause).toBe(code);
  expect(run.code).toBe(1);
  const top = r.findings[0];
  expect(top.code).toBe(code);
  expect(top.evidence.length).toBeGreaterThan(0);
  expect(top.fix).not.toBe('');
  durations[name] = r.durationMs;
  return top;
}

function expectHealthy(run: CliRun, name: string) {
  expect(run.json.status, JSON.stringify(run.json.findings, null, 2)).toBe('healthy');
  expect(run.json.cause).toBeNull();
  expect(run.code).toBe(0);
  durations[name] = run.json.durationMs;
}

describe('upstream-timeout: the app is slower than proxy_read_timeout', () => {
  it('names the measured time against the timeout read from the site, and quotes nginx', async () => {
    await withSetup504({ app: 'slow' }, async (s) => {
      // What the user saw: a request through nginx that ended in 504.
      expect((await httpGet(`${s.nginx.url}/api/orders`, 8000)).status).toBe(504);
      const top = expectCause(await diagnose(s), 'upstream-timeout', 'upstream-timeout');
      expect(top.title).toBe("the app is slower than nginx's proxy_read_timeout (1s) on /api");
      expect(top.evidence[0]).toMatch(/^the app took curl: \(28\) Operation timed out after 3\d\d\d milliseconds.*; nginx waits 1s \(location\)$/);
      expect(top.evidence[1]).toMatch(/^nginx: .*upstream timed out \(110: Connection timed out\) while reading response header from upstream.*"GET \/api\/orders/);
      expect(top.fix).toContain(`raise proxy_read_timeout in ${s.nginx.sitePath} (location /api)`);
    });
  });

  it('healthy twin: the same nginx in front of an app that answers at once', async () => {
    await withSetup504({ app: 'ok' }, async (s) => {
      expect((await httpGet(`${s.nginx.url}/api/orders`, 8000)).status).toBe(200);
      expectHealthy(await diagnose(s), 'upstream-timeout twin');
    });
  });

  it("yesterday's 'upstream timed out' in error.log is counted, not blamed", async () => {
    await withSetup504({ app: 'ok' }, async (s) => {
      const d = new Date(Date.now() - 26 * 3600_000);
      const p = (n: number) => String(n).padStart(2, '0');
      const at = `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
      await fsp.appendFile(s.nginx.errorLog, `${at} [error] 9#9: *7 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 127.0.0.1, upstream: "http://127.0.0.1:1/api/x"\n`);
      const run = await diagnose(s);
      expectHealthy(run, 'old nginx lines');
      const step = run.json.hosts[0].steps.find((x: { id: string }) => x.id === 'nginx_errors');
      expect(step.captures.older).toBe(1);
      expect(step.captures.cause).toBeNull();
    });
  });

  it('without a proxy_read_timeout of its own, nginx waits 60s: an app answering in 4 s is in time', async () => {
    await withSetup504({ app: 'slow', readTimeout: '60s' }, async (s) => {
      await fsp.writeFile(s.nginx.sitePath, (await fsp.readFile(s.nginx.sitePath, 'utf8')).replace(/ *proxy_read_timeout 60s;\n/, ''));
      const run = await diagnose(s);
      expectHealthy(run, 'default 60s');
      expect(run.json.hosts[0].steps[0].summary).toBe('proxy_read_timeout 60s (default)');
    });
  });
});

describe('db-slow: the app waits on a long-running query (real PostgreSQL)', () => {
  it('a query sleeping in the app’s database while the app times out', async () => {
    const db = await pgDatabase();
    try {
      await withSetup504({ app: 'slow', db }, async (s) => {
        await db.sleepingQuery(30, 1.5);
        const run = await diagnose(s, { slow_query: '1s' });
        const top = expectCause(run, 'db-slow', 'db-slow');
        expect(top.title).toMatch(/^the app waits on its database: 1 queries have run for up to \d+ s$/);
        expect(top.evidence[0]).toMatch(/^pid=\d+ seconds=\d+ since=\S+ wait=Timeout\/PgSleep query=SELECT pg_sleep\(30\)$/);
        expect(top.fix).toContain('pg_cancel_backend');
        // The URL is read on the host; it is not in the result.
        expect(run.stdout).not.toContain(db.url);
      });
    } finally {
      await db.cleanup();
    }
  });

  it('healthy twin: the same database, no long query, an app that answers', async () => {
    const db = await pgDatabase();
    try {
      await withSetup504({ app: 'ok', db }, async (s) => {
        const run = await diagnose(s, { slow_query: '1s' });
        expectHealthy(run, 'db-slow twin');
        expect(run.json.hosts[0].steps.find((x: { id: string }) => x.id === 'db_slow').summary).toBe('0 queries running longer than 1 s');
      });
    } finally {
      await db.cleanup();
    }
  });

  it('a long query while the app answers in time is noted, not blamed', async () => {
    const db = await pgDatabase();
    try {
      await withSetup504({ app: 'ok', db }, async (s) => {
        await db.sleepingQuery(30, 1.5);
        const run = await diagnose(s, { slow_query: '1s' });
        expectHealthy(run, 'db-slow, app in time');
        expect(run.json.findings).toEqual([expect.objectContaining({ code: 'db-slow', severity: 'info' })]);
      });
    } finally {
      await db.cleanup();
    }
  });
});

describe('upstream-unreachable: a third party fails at DNS, TCP or TLS', () => {
  it('connect phase: a port that refuses', async () => {
    const url = `http://127.0.0.1:${await freePort()}/v1/charge`;
    await withSetup504({ app: 'ok', upstreams: [url] }, async (s) => {
      const top = expectCause(await diagnose(s), 'upstream-unreachable', 'upstream-unreachable (connect)');
      expect(top.title).toBe(`${url} is unreachable from web1: the TCP connection fails (connect phase)`);
      expect(top.evidence[0]).toMatch(new RegExp(`^${url} phase=connect code=000 dns=[\\d.]+ connect=[\\d.]+ tls=[\\d.]+ ttfb=[\\d.]+ total=[\\d.]+ error=curl: \\(7\\)`));
    });
  });

  it('TLS phase: https:// to a port that speaks plain HTTP', async () => {
    const url = `https://127.0.0.1:${plain.port}/`;
    await withSetup504({ app: 'ok', upstreams: [url] }, async (s) => {
      const top = expectCause(await diagnose(s), 'upstream-unreachable', 'upstream-unreachable (tls)');
      expect(top.title).toBe(`${url} is unreachable from web1: the TLS handshake fails (TLS phase)`);
      expect(top.evidence[0]).toContain('error=curl: (35)');
    });
  });

  it('TLS phase: an expired certificate, with its end date', async () => {
    await withSetup504({ app: 'ok', upstreams: [expired.url] }, async (s) => {
      const top = expectCause(await diagnose(s, { ca_file: certs.ca }), 'upstream-unreachable', 'upstream-unreachable (expired)');
      expect(top.title).toBe(`the TLS certificate of ${expired.url} expired on Jan  2 00:00:00 2020 GMT`);
      expect(top.evidence[0]).toContain('certificate has expired');
      expect(top.fix).toContain('renew the certificate');
    });
  });

  it('DNS phase: a name under .invalid (the host’s resolver answers nothing; address: local)', async () => {
    await withSetup504({ app: 'ok', upstreams: ['https://api.payments.invalid/v1/charge'], hosts: { web1: { address: 'local' } } }, async (s) => {
      const top = expectCause(await diagnose(s, {}, runCliWithoutDns), 'upstream-unreachable', 'upstream-unreachable (dns)');
      expect(top.title).toBe('https://api.payments.invalid/v1/charge is unreachable from web1: its name does not resolve (DNS phase)');
      expect(top.evidence[0]).toContain('error=curl: (6) Could not resolve host: api.payments.invalid');
    });
  });

  it('healthy twin: the same kind of third party with a valid certificate from the CA it is told to trust', async () => {
    await withSetup504({ app: 'ok', upstreams: [valid.url] }, async (s) => {
      const run = await diagnose(s, { ca_file: certs.ca });
      expectHealthy(run, 'upstream-unreachable twin');
      expect(run.json.hosts[0].steps.find((x: { id: string }) => x.id === 'upstreams').summary).toBe('1 checked, 0 failing');
    });
  });
});

afterAll(() => {
  console.log(`504 runbook diagnosis times (ms): ${JSON.stringify(durations)}`);
});
