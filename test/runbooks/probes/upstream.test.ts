/**
 * The probes behind the 504 runbook: `timing` (curl's DNS/connect/TLS/first
 * byte breakdown against real loopback servers, and openssl reading an
 * expired certificate), `nginx-timeout` (proxy_read_timeout of a location),
 * `nginx-errors` (recent upstream lines of error.log, old ones counted). The
 * 504 runbook's slow-query step uses the db runbook's `db-sql` probe
 * (tested in db-sql.test.ts).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeTempDir, removeTempDir } from '../../support/processes.ts';
import { type LoopbackServer, makeCerts, plainServer, type TestCerts, tlsServer } from '../setups.ts';
import { facts, runProbe } from './harness.ts';

let dir: string;
let certs: TestCerts;
let valid: LoopbackServer;
let expired: LoopbackServer;
let plain: LoopbackServer;
beforeAll(async () => {
  dir = await makeTempDir('triage-upstream-probes-');
  certs = await makeCerts(path.join(dir, 'certs'));
  [valid, expired, plain] = await Promise.all([tlsServer(certs.valid), tlsServer(certs.expired), plainServer()]);
});
afterAll(async () => {
  await Promise.all([valid?.stop(), expired?.stop(), plain?.stop()]);
  await removeTempDir(dir);
});

/** The `upstream=` line for `url`, split into its key=value fields. */
function upstream(stdout: string, url: string): Record<string, string> {
  const line = stdout.split('\n').find((l) => l.startsWith(`upstream=${url} `));
  if (!line) throw new Error(`no upstream line for ${url} in:\n${stdout}`);
  const [head, error] = line.split(' error=');
  const fields = Object.fromEntries(head!.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return { ...fields, ...(error ? { error } : {}) };
}

describe('timing probe (real curl and openssl)', () => {
  it('a reachable HTTPS service: phase ok, with every phase timed', async () => {
    const r = await runProbe('timing', { args: ['5', valid.url], env: { CA_FILE: certs.ca }, real: ['curl'] });
    const u = upstream(r.stdout, valid.url);
    expect(u.phase).toBe('ok');
    expect(u.code).toBe('200');
    for (const k of ['dns', 'connect', 'tls', 'ttfb', 'total']) expect(Number(u[k])).toBeGreaterThanOrEqual(0);
    expect(Number(u.tls)).toBeGreaterThan(0);
    expect(facts(r.stdout).get('failed')).toBe('0');
  });

  it('an expired certificate: phase tls, and its end date read with openssl', async () => {
    const r = await runProbe('timing', { args: ['5', expired.url], env: { CA_FILE: certs.ca }, real: ['curl', 'openssl', 'timeout'] });
    const u = upstream(r.stdout, expired.url);
    expect(u.phase).toBe('tls');
    expect(u.error).toMatch(/certificate has expired/);
    expect(facts(r.stdout).get('cert')).toBe(`${expired.url} not_after=Jan  2 00:00:00 2020 GMT expired=yes`);
  });

  it('a certificate nobody vouches for (no CA_FILE): phase tls, not expired', async () => {
    const r = await runProbe('timing', { args: ['5', valid.url], env: { CA_FILE: '' }, real: ['curl', 'openssl', 'timeout'] });
    expect(upstream(r.stdout, valid.url).phase).toBe('tls');
    expect(facts(r.stdout).get('cert')).toMatch(/expired=no$/);
  });

  it('https:// to a plain HTTP port: the TLS handshake fails', async () => {
    const url = `https://127.0.0.1:${plain.port}/`;
    const r = await runProbe('timing', { args: ['5', url], env: { CA_FILE: '' }, real: ['curl'] });
    const u = upstream(r.stdout, url);
    expect(u.phase).toBe('tls');
    expect(u.error).toMatch(/^curl: \(35\)/);
  });

  it('a port that refuses: phase connect', async () => {
    const url = `http://127.0.0.1:${await freePort()}/`;
    const r = await runProbe('timing', { args: ['5', url], env: { CA_FILE: '' }, real: ['curl'] });
    const u = upstream(r.stdout, url);
    expect(u.phase).toBe('connect');
    expect(u.error).toMatch(/^curl: \(7\)/);
  });

  it('a name that does not resolve: phase dns (stub curl answering as for NXDOMAIN)', async () => {
    const curl = [{ args: '*https://payments.invalid/*', stdout: 'code=000 dns=0.000000 connect=0.000000 tls=0.000000 ttfb=0.000000 total=0.001', stderr: 'curl: (6) Could not resolve host: payments.invalid\n', exit: 6 }];
    const r = await runProbe('timing', { args: ['5', 'https://payments.invalid/'], env: { CA_FILE: '' }, stubs: { curl } });
    const u = upstream(r.stdout, 'https://payments.invalid/');
    expect(u.phase).toBe('dns');
    expect(u.error).toBe('curl: (6) Could not resolve host: payments.invalid');
  });

  it('a time-out says which phase hung: here the first byte (a server that accepts and never answers)', async () => {
    const net = await import('node:net');
    const port = await freePort();
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${port}/`;
      const r = await runProbe('timing', { args: ['1', url], env: { CA_FILE: '' }, real: ['curl'] });
      expect(upstream(r.stdout, url).phase).toBe('response');
    } finally {
      silent.close();
    }
  });

  it('empty URLs are skipped; a count of what failed ends the output', async () => {
    const r = await runProbe('timing', { args: ['5', '', valid.url], env: { CA_FILE: certs.ca }, real: ['curl'] });
    expect(facts(r.stdout).get('checked')).toBe('1');
  });
});

describe('nginx-timeout probe', () => {
  const site = (inner: string, outer = '') => `server {\n    listen 127.0.0.1:8080;\n${outer}    location /api {\n        proxy_pass http://127.0.0.1:9000;\n${inner}    }\n    location / { return 200 'x'; }\n}\n`;
  async function timeoutOf(siteText: string, location = '/api'): Promise<string> {
    const sitePath = path.join(dir, `site-${Math.random().toString(36).slice(2)}.conf`);
    await fsp.writeFile(sitePath, siteText);
    const r = await runProbe('nginx-timeout', { args: [path.join(dir, 'no-nginx.conf'), location, sitePath] });
    return r.stdout.trim();
  }

  it("reads the location's own proxy_read_timeout, in seconds", async () => {
    expect(await timeoutOf(site('        proxy_read_timeout 1500ms;  # tiny\n'))).toBe('proxy_read_timeout=1500ms seconds=1.5 source=location');
    expect(await timeoutOf(site('        proxy_read_timeout 2m;\n'))).toBe('proxy_read_timeout=2m seconds=120 source=location');
  });

  it('falls back to one set around the location, then to nginx’s default 60s', async () => {
    expect(await timeoutOf(site('', '    proxy_read_timeout 90;\n'))).toBe('proxy_read_timeout=90 seconds=90 source=outside-location');
    expect(await timeoutOf(site(''))).toBe('proxy_read_timeout=60s seconds=60 source=default');
  });

  it("another location's timeout is not this one's", async () => {
    const text = site('').replace("location / { return 200 'x'; }", "location /slow {\n        proxy_read_timeout 5m;\n    }");
    expect(await timeoutOf(text)).toBe('proxy_read_timeout=60s seconds=60 source=default');
  });
});

describe('nginx-errors probe', () => {
  const ts = (d: Date) => {
    const p = (n: number) => String(n).padStart(2, '0');
    return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  };

  it('shows upstream lines from the window, counts older ones, finds error.log through the config', async () => {
    const log = path.join(dir, 'error.log');
    const conf = path.join(dir, 'nginx-errors.conf');
    await fsp.writeFile(conf, `error_log ${log} warn;\nhttp { }\n`);
    const now = new Date();
    const old = new Date(now.getTime() - 26 * 3600_000);
    await fsp.writeFile(
      log,
      [
        `${ts(old)} [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, upstream: "http://127.0.0.1:9000/api"`,
        `${ts(now)} [notice] 7#7: signal process started`,
        `${ts(now)} [error] 7#7: *9 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 127.0.0.1, upstream: "http://127.0.0.1:9000/api/x"`,
        '',
      ].join('\n'),
    );
    const r = await runProbe('nginx-errors', { args: [conf, '600'], real: ['date'] });
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`source=${log}`);
    expect(lines[1]).toBe('window=600s');
    expect(lines.slice(2, -1)).toEqual([expect.stringContaining('upstream timed out (110: Connection timed out)')]);
    expect(lines.at(-1)).toBe('older=1');
  });

  it('says so when the log cannot be read', async () => {
    const conf = path.join(dir, 'missing-log.conf');
    await fsp.writeFile(conf, `error_log ${path.join(dir, 'nope', 'error.log')};\n`);
    const r = await runProbe('nginx-errors', { args: [conf, '600'] });
    expect(r.stdout.trim()).toBe(`note=nginx error log ${path.join(dir, 'nope', 'error.log')} is missing or unreadable`);
  });
});
