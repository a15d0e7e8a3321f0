/**
 * The probes that look at the network from the host: `listener` (what holds
 * a port), `http` (one GET) and `tcp` (can it connect) — against real
 * loopback servers with the real ss/curl/bash, and against stubs for the
 * fallbacks (lsof, wget, nc) and for hosts that have none of them.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../support/processes.ts';
import { facts, fixture, runProbe } from './harness.ts';

let server: http.Server;
let port: number;
beforeAll(async () => {
  port = await freePort();
  server = http.createServer((req, res) => {
    res.statusCode = req.url === '/health' ? 200 : 500;
    res.end('x');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('listener probe', () => {
  it('names the address and the process holding the port (real ss and ps)', async () => {
    const r = await runProbe('listener', { args: [String(port)], real: ['ss', 'ps'] });
    const f = facts(r.stdout);
    expect(f.get('listener')).toBe(`127.0.0.1:${port}`);
    expect(f.get('pid')).toBe(String(process.pid));
    expect(f.get('cmd')).toContain('node');
  });

  it('says when nothing listens', async () => {
    const free = await freePort();
    const r = await runProbe('listener', { args: [String(free)], real: ['ss', 'ps'] });
    expect(r.stdout.trim()).toBe(`nothing listens on :${free}`);
  });

  it('without ss, asks lsof', async () => {
    const r = await runProbe('listener', {
      args: ['8000'],
      real: ['ps'],
      stubs: { lsof: [{ args: '-nP -t -iTCP:8000 -sTCP:LISTEN', stdout: `${process.pid}\n` }] },
    });
    expect(facts(r.stdout).get('listener')).toBe('*:8000');
    expect(facts(r.stdout).get('pid')).toBe(String(process.pid));
  });

  it('with neither, says so instead of "nothing listens"', async () => {
    const r = await runProbe('listener', { args: ['8000'] });
    expect(facts(r.stdout).get('note')).toBe('neither ss nor lsof is installed');
    expect(r.stdout).not.toContain('nothing listens');
  });
});

describe('http probe', () => {
  it('a 200 with its time, and a 500 (real curl)', async () => {
    const ok = await runProbe('http', { args: [`http://127.0.0.1:${port}/health`], real: ['curl'] });
    expect(ok.stdout).toMatch(/^http_code=200 time=[0-9.]+$/m);
    const bad = await runProbe('http', { args: [`http://127.0.0.1:${port}/boom`], real: ['curl'] });
    expect(bad.stdout).toMatch(/^http_code=500 /m);
  });

  it('a refused connection gives curl’s own error line', async () => {
    const r = await runProbe('http', { args: [`http://127.0.0.1:${await freePort()}/health`], real: ['curl'] });
    expect(r.stdout).toMatch(/^curl: \(7\) /m);
    expect(r.code).toBe(0);
  });

  it('without curl, reads the status line from wget -S', async () => {
    const r = await runProbe('http', {
      args: ['http://127.0.0.1:8000/health', '5'],
      stubs: { wget: [{ args: '-q -O /dev/null -T 5 -t 1 -S -- http://127.0.0.1:8000/health', stderr: fixture('wget-S-500.txt'), exit: 8 }] },
    });
    expect(r.stdout.trim()).toBe('http_code=500');
  });

  it('with neither, says so', async () => {
    expect(facts((await runProbe('http', { args: ['http://127.0.0.1:8000/'] })).stdout).get('note')).toBe('neither curl nor wget is installed');
  });
});

describe('tcp probe', () => {
  it('reachable and unreachable ports (real bash /dev/tcp)', async () => {
    const open = await runProbe('tcp', { args: ['127.0.0.1', String(port)], real: ['bash', 'timeout'] });
    expect(facts(open.stdout).get('tcp')).toBe('reachable');
    const closed = await runProbe('tcp', { args: ['127.0.0.1', String(await freePort())], real: ['bash', 'timeout'] });
    expect(facts(closed.stdout).get('tcp')).toBe('unreachable');
  });

  it('without bash, asks nc', async () => {
    const up = await runProbe('tcp', { args: ['db.internal', '5432'], stubs: { nc: [{ args: '-z -w 3 db.internal 5432', exit: 0 }] } });
    expect(facts(up.stdout).get('tcp')).toBe('reachable');
    const down = await runProbe('tcp', { args: ['db.internal', '5432'], stubs: { nc: [{ args: '*', exit: 1 }] } });
    expect(facts(down.stdout).get('tcp')).toBe('unreachable');
  });

  it('with neither, unknown', async () => {
    expect((await runProbe('tcp', { args: ['127.0.0.1', '5432'] })).stdout).toMatch(/^tcp=unknown/m);
  });
});

// A raw TCP listener that never answers HTTP still counts as reachable for tcp.
describe('tcp probe against a silent listener', () => {
  it('connects without waiting for a greeting', async () => {
    const silent = net.createServer(() => {});
    const p = await freePort();
    await new Promise<void>((resolve) => silent.listen(p, '127.0.0.1', resolve));
    try {
      const r = await runProbe('tcp', { args: ['127.0.0.1', String(p)], real: ['bash', 'timeout'] });
      expect(facts(r.stdout).get('tcp')).toBe('reachable');
    } finally {
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
