/**
 * The nginx probes: `nginx-test` runs the real `nginx -t` on real config
 * files; `nginx-proxy` reads where a location proxies to — from the site
 * file, or through a recorded `nginx -T` when no site is given.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../support/processes.ts';
import { facts, fixture, runProbe } from './harness.ts';

let dir: string;
let conf: string;
let site: string;
beforeAll(async () => {
  dir = await makeTempDir('triage-probe-nginx-');
  conf = path.join(dir, 'nginx.conf');
  site = path.join(dir, 'site.conf');
  await fsp.writeFile(
    conf,
    `worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n  include ${site};\n}\n`,
  );
});
afterAll(async () => {
  await removeTempDir(dir);
});

async function writeSite(text: string): Promise<string> {
  await fsp.writeFile(site, text);
  return site;
}

describe('nginx-test probe (real nginx -t)', () => {
  it('a good config passes with nginx’s own words', async () => {
    await writeSite('server {\n  listen 127.0.0.1:8089;\n  location /api { proxy_pass http://127.0.0.1:8000; }\n}\n');
    const r = await runProbe('nginx-test', { args: [conf], real: ['nginx'] });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/syntax is ok/);
  });

  it('a broken site fails with the [emerg] line', async () => {
    await writeSite('server {\n  listen 127.0.0.1:8089;\n  location /api { proxy_pass http://127.0.0.1:8000 }\n}\n');
    const r = await runProbe('nginx-test', { args: [conf], real: ['nginx'] });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/\[emerg\] /);
  });

  it('no nginx on the host: exit 127 and says so', async () => {
    const r = await runProbe('nginx-test', { args: [conf] });
    expect(r.code).toBe(127);
    expect(r.stdout.trim()).toBe('nginx is not installed on this host');
  });
});

describe('nginx-proxy probe', () => {
  it('reads proxy_pass for the location straight from the site file', async () => {
    await writeSite('server {\n  location / { return 200; }\n  location /api/ {\n    proxy_pass http://127.0.0.1:8001/; # the app\n  }\n}\n');
    const f = facts((await runProbe('nginx-proxy', { args: [conf, '/api', site] })).stdout);
    expect(f.get('proxy_pass')).toBe('http://127.0.0.1:8001/');
    expect(f.get('upstream')).toBe('127.0.0.1:8001');
  });

  it('follows an upstream block to its first server, through nginx -T when no site is given', async () => {
    const r = await runProbe('nginx-proxy', {
      args: ['/etc/nginx/nginx.conf', '/api', ''],
      stubs: { nginx: [{ args: '-T -c /etc/nginx/nginx.conf', stdout: fixture('nginx-T-upstream.txt') }] },
    });
    const f = facts(r.stdout);
    expect(f.get('proxy_pass')).toBe('http://app_backend');
    expect(f.get('upstream_block')).toBe('app_backend');
    expect(f.get('upstream')).toBe('127.0.0.1:8000');
  });

  it('a unix socket and a bare host name', async () => {
    await writeSite('server {\n  location /api { proxy_pass http://unix:/run/app.sock:/; }\n  location /web { proxy_pass http://app.internal; }\n}\n');
    expect(facts((await runProbe('nginx-proxy', { args: [conf, '/api', site] })).stdout).get('upstream')).toBe('unix:/run/app.sock');
    expect(facts((await runProbe('nginx-proxy', { args: [conf, '/web', site], stubs: { nginx: [{ args: '*' }] } })).stdout).get('upstream')).toBe('app.internal:80');
  });

  it('a location without proxy_pass says so', async () => {
    await writeSite('server {\n  location /api { return 404; }\n}\n');
    const r = await runProbe('nginx-proxy', { args: [conf, '/api', site] });
    expect(r.stdout.trim()).toBe('no proxy_pass found for location /api');
  });
});
