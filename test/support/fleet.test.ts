/**
 * Smoke test of the test infrastructure itself: a real sshd fleet, a real
 * nginx, and the small broken apps each behave as the scenarios need.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { APP_KINDS, type AppHandle, type AppKind, freePort, startApp } from './apps.ts';
import { type Fleet, fleetConfigHosts, type RogueSshd, startFleet, startRogueSshd, unusedLoopbackHost } from './fleet.ts';
import { startNginx } from './nginx.ts';
import { isAlive } from './processes.ts';
import { SCENARIOS_502, type Setup502, setup502 } from './scenarios.ts';

const run = promisify(execFile);

/** Runs a command; never throws: `{ code, stdout, stderr }`. */
async function sh(cmd: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 255) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

function ssh(fleet: Fleet, host: { address: string; port: number; user: string }, command: string, knownHosts = fleet.knownHostsFile) {
  return sh('ssh', [
    '-F',
    '/dev/null',
    '-i',
    fleet.keyFile,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'ConnectTimeout=5',
    '-p',
    String(host.port),
    `${host.user}@${host.address}`,
    command,
  ]);
}

async function scannedFingerprint(address: string, port: number): Promise<string> {
  const scan = await run('ssh-keyscan', ['-T', '5', '-t', 'ed25519', '-p', String(port), address]);
  const fp = await sh('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], scan.stdout);
  return /SHA256:\S+/.exec(fp.stdout)?.[0] ?? `no fingerprint: ${fp.stderr}`;
}

async function pgrep(marker: string): Promise<number[]> {
  const r = await sh('pgrep', ['-f', marker]);
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

function get(url: string): Promise<{ status: number; body: string } | { error: string }> {
  return fetch(url, { signal: AbortSignal.timeout(5000) }).then(
    async (r) => ({ status: r.status, body: await r.text() }),
    (err: Error) => ({ error: String((err.cause as Error | undefined)?.message ?? err.message) }),
  );
}

describe('fleet of real sshd hosts', () => {
  let fleet: Fleet;
  let rogue: RogueSshd;
  let startMs = 0;

  beforeAll(async () => {
    const t = Date.now();
    fleet = await startFleet({ hosts: 2 });
    startMs = Date.now() - t;
    rogue = await startRogueSshd(fleet);
  });
  afterAll(async () => {
    await rogue?.stop();
    await fleet?.stop();
  });

  it('starts quickly on 127.0.0.2 and .3 with one shared port', () => {
    expect(startMs).toBeLessThan(10_000);
    expect(fleet.hosts.map((h) => [h.name, h.address])).toEqual([
      ['web1', '127.0.0.2'],
      ['web2', '127.0.0.3'],
    ]);
    expect(new Set(fleet.hosts.map((h) => h.port)).size).toBe(1);
    expect(fleet.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('logs in with the key and strict known_hosts on every host', async () => {
    for (const h of fleet.hosts) {
      const r = await ssh(fleet, h, 'echo hi');
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe('hi\n');
      expect(r.code).toBe(0);
    }
  });

  it('presents the pinned fingerprint', async () => {
    expect(await scannedFingerprint('127.0.0.3', fleet.port)).toBe(fleet.hostKeyFingerprint);
  });

  it('rogue sshd presents a different host key', async () => {
    expect(rogue.host.address).toBe('127.0.0.2');
    expect(rogue.host.port).not.toBe(fleet.port);
    const fp = await scannedFingerprint(rogue.host.address, rogue.host.port);
    expect(fp).toBe(rogue.fingerprint);
    expect(fp).not.toBe(fleet.hostKeyFingerprint);
    const r = await ssh(fleet, rogue.host, 'echo hi', rogue.staleKnownHostsFile);
    expect(r.code).toBe(255);
    expect(r.stderr).toContain('REMOTE HOST IDENTIFICATION HAS CHANGED');
  });

  it('unusedLoopbackHost refuses connections', async () => {
    const h = unusedLoopbackHost();
    const err = await new Promise<string>((resolve) => {
      const s = net.connect(h.port, h.address);
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(err).toBe('ECONNREFUSED');
  });

  it('gives the hosts: section of triage.yaml', () => {
    expect(fleetConfigHosts(fleet).web2).toEqual({
      address: '127.0.0.3',
      port: fleet.port,
      user: fleet.hosts[1].user,
      privateKey: fleet.keyFile,
      hostKey: fleet.hostKeyFingerprint,
    });
    expect(fleetConfigHosts(fleet, { pin: 'knownHosts' }).web1).toMatchObject({ knownHosts: fleet.knownHostsFile });
  });

  it('starts one sshd per 16 hosts and stops them all', async () => {
    const big = await startFleet({ hosts: 18 });
    try {
      expect(big.pids).toHaveLength(2);
      const last = big.hosts[17];
      expect(last.address).toBe('127.0.0.19');
      expect((await ssh(big, last, 'echo hi')).stdout).toBe('hi\n');
    } finally {
      await big.stop();
    }
    expect(big.pids.some(isAlive)).toBe(false);
    expect(fs.existsSync(big.dir)).toBe(false);
  });
});

describe('broken apps', () => {
  const apps = new Map<AppKind, AppHandle>();

  beforeAll(async () => {
    await Promise.all(
      APP_KINDS.map(async (kind) => {
        apps.set(kind, await startApp(kind, { port: await freePort(), delayMs: 400 }));
      }),
    );
  });
  afterAll(async () => {
    await Promise.all([...apps.values()].map((a) => a.stop()));
  });

  const log = (kind: AppKind) => fs.readFileSync(apps.get(kind)!.logFile, 'utf8');

  it('ok answers /health and /api, found by its marker', async () => {
    const app = apps.get('ok')!;
    expect(await get(`http://127.0.0.1:${app.port}/health`)).toEqual({ status: 200, body: '{"ok":true}' });
    expect(await get(`http://127.0.0.1:${app.port}/api/orders`)).toMatchObject({ status: 200 });
    expect(await pgrep(app.marker)).toEqual([app.pid]);
    expect(fs.readFileSync(app.envFile, 'utf8')).toMatch(/^JWT_SECRET=.{58}\nDATABASE_URL=postgres:\/\/app:s3cr3tpass@127\.0\.0\.1:5432\/app\n$/);
  });

  it('wrong-port listens on port+1 only', async () => {
    const app = apps.get('wrong-port')!;
    expect(app.listenPort).toBe(app.port + 1);
    expect(log('wrong-port')).toContain(`listening on 127.0.0.1:${app.port + 1}`);
    expect(await get(`http://127.0.0.1:${app.port + 1}/health`)).toMatchObject({ status: 200 });
    expect(await get(`http://127.0.0.1:${app.port}/health`)).toMatchObject({ error: expect.stringContaining('ECONNREFUSED') });
  });

  const crashSignatures: [AppKind, RegExp][] = [
    ['crash-module-py', /ModuleNotFoundError: No module named 'fastapi'/],
    ['crash-module-node', /Error: Cannot find module 'left-pad-not-installed'/],
    ['crash-syntax', /SyntaxError: Unexpected token/],
    ['crash-env', /Error: environment variable JWT_SECRET is not set/],
    ['crash-db', /Error: connect ECONNREFUSED 127\.0\.0\.1:\d+/],
    ['eaddrinuse', /Error: listen EADDRINUSE: address already in use 127\.0\.0\.1:\d+/],
  ];
  it.each(crashSignatures)('%s has exited with its error in the log', async (kind, signature) => {
    const app = apps.get(kind)!;
    expect(app.pid).toBeUndefined();
    expect(app.exitCode).toBe(1);
    expect(await pgrep(app.marker)).toEqual([]);
    expect(log(kind)).toMatch(signature);
  });

  it('crash-env has no .env; crash-db points DATABASE_URL at its closed port', () => {
    expect(fs.existsSync(apps.get('crash-env')!.envFile)).toBe(false);
    const db = apps.get('crash-db')!;
    expect(log('crash-db')).toContain(`ECONNREFUSED 127.0.0.1:${db.dbPort}`);
    expect(fs.readFileSync(db.envFile, 'utf8')).toContain(`@127.0.0.1:${db.dbPort}/app`);
  });

  it('crash-module-py ships a requirements.txt with fastapi', () => {
    expect(fs.readFileSync(`${apps.get('crash-module-py')!.workdir}/requirements.txt`, 'utf8')).toContain('fastapi');
  });

  it('eaddrinuse: an intruder with its own marker holds the port', async () => {
    const app = apps.get('eaddrinuse')!;
    expect(log('eaddrinuse')).toContain(`127.0.0.1:${app.port}`);
    expect(app.intruder).toBeDefined();
    expect(await pgrep(app.intruder!.marker)).toEqual([app.intruder!.pid]);
    const ss = await sh('ss', ['-Htlnp', `sport = :${app.port}`]);
    expect(ss.stdout).toContain(`pid=${app.intruder!.pid},`);
  });

  it('bad-response drops /health without an answer', async () => {
    const app = apps.get('bad-response')!;
    expect(await pgrep(app.marker)).toEqual([app.pid]);
    expect(await get(`http://127.0.0.1:${app.port}/health`)).toHaveProperty('error');
  });

  it('slow answers after delayMs', async () => {
    const app = apps.get('slow')!;
    const t = Date.now();
    expect(await get(`http://127.0.0.1:${app.port}/health`)).toMatchObject({ status: 200 });
    expect(Date.now() - t).toBeGreaterThanOrEqual(380);
  });

  it('stopped never ran: files and an old clean shutdown in the log', async () => {
    const app = apps.get('stopped')!;
    expect(app.pid).toBeUndefined();
    expect(await pgrep(app.marker)).toEqual([]);
    expect(log('stopped')).toMatch(/shutting down\n$/);
    expect(fs.existsSync(app.envFile)).toBe(true);
  });

  it('stop() ends running apps and the intruder', async () => {
    const ok = apps.get('ok')!;
    const intruder = apps.get('eaddrinuse')!.intruder!;
    await ok.stop();
    await apps.get('eaddrinuse')!.stop();
    expect(isAlive(ok.pid!)).toBe(false);
    expect(isAlive(intruder.pid)).toBe(false);
    expect(await pgrep(ok.marker)).toEqual([]);
  });
});

describe('nginx in front of an app', () => {
  it('gives 502 for a stopped app; nginx -t passes, then fails after breakSite()', async () => {
    const app = await startApp('stopped', { port: await freePort() });
    const nginx = await startNginx({ upstreamPort: app.port });
    try {
      expect(await get(`${nginx.url}/`)).toEqual({ status: 200, body: 'frontend ok' });
      expect(await get(`${nginx.url}/api/orders`)).toMatchObject({ status: 502 });
      expect(fs.readFileSync(nginx.errorLog, 'utf8')).toContain('Connection refused');
      const ok = await sh('/usr/sbin/nginx', ['-t', '-c', nginx.configPath]);
      expect(ok.stderr).toContain('test is successful');
      expect(ok.code).toBe(0);

      await nginx.breakSite();
      const bad = await sh('/usr/sbin/nginx', ['-t', '-c', nginx.configPath]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain(`unexpected "}" in ${nginx.sitePath}`);
      // The running master keeps its old config.
      expect(await get(`${nginx.url}/api/orders`)).toMatchObject({ status: 502 });
    } finally {
      await Promise.all([nginx.stop(), app.stop()]);
    }
    expect(isAlive(nginx.pid)).toBe(false);
  });

  it('proxies /api to a working app, also through an upstream block; 502 on a bad response', async () => {
    const [ok, bad] = await Promise.all([
      freePort().then((port) => startApp('ok', { port })),
      freePort().then((port) => startApp('bad-response', { port })),
    ]);
    const [direct, viaBlock, toBad] = await Promise.all([
      startNginx({ upstreamPort: ok.port }),
      startNginx({ upstreamPort: ok.port, useUpstreamBlock: true }),
      startNginx({ upstreamPort: bad.port }),
    ]);
    try {
      expect(await get(`${direct.url}/api/orders`)).toMatchObject({ status: 200, body: expect.stringContaining('"/api/orders"') });
      expect(fs.readFileSync(viaBlock.sitePath, 'utf8')).toContain('proxy_pass http://app_backend;');
      expect(await get(`${viaBlock.url}/api/x`)).toMatchObject({ status: 200 });
      expect(await get(`${toBad.url}/api/x`)).toMatchObject({ status: 502 });
      expect(fs.readFileSync(toBad.errorLog, 'utf8')).toContain('upstream prematurely closed connection');
    } finally {
      await Promise.all([direct.stop(), viaBlock.stop(), toBad.stop(), ok.stop(), bad.stop()]);
    }
  });
});

describe('setup502 scenarios over the fleet', () => {
  let fleet: Fleet;
  const setups: Setup502[] = [];

  beforeAll(async () => {
    fleet = await startFleet({ hosts: 2 });
    setups.push(...(await Promise.all(SCENARIOS_502.map((kind) => setup502(kind, { hosts: fleetConfigHosts(fleet), hostNames: ['web1', 'web2'] })))));
  });
  afterAll(async () => {
    await Promise.all(setups.map((s) => s.cleanup()));
    await fleet?.stop();
  });

  it('writes a triage.yaml per scenario with hosts and targets.shop', () => {
    for (const s of setups) {
      const written = parse(fs.readFileSync(s.configPath, 'utf8'));
      expect(written).toEqual(s.config);
      const shop = s.config.targets.shop;
      expect(shop).toMatchObject({
        hosts: ['web1', 'web2'],
        service: { manager: 'process', name: s.app.marker },
        health: `http://127.0.0.1:${shop.port}/health`,
        nginx: { config: s.nginx.configPath, site: s.nginx.sitePath, location: '/api' },
        workdir: s.app.workdir,
        envFile: '.env',
        requiredEnv: ['JWT_SECRET', 'DATABASE_URL'],
        logs: { file: s.app.logFile },
      });
      expect(shop.database.port).toBe(s.kind === 'db-unreachable' ? s.app.dbPort : 5432);
    }
    expect(new Set(setups.map((s) => s.config.targets.shop.port)).size).toBe(setups.length);
  });

  it('only healthy and nginx-config-invalid answer through nginx; the rest give 502', async () => {
    const codes = await Promise.all(setups.map(async (s) => [s.kind, await get(`${s.nginx.url}/api/orders`)] as const));
    for (const [kind, res] of codes) {
      expect(res, kind).toMatchObject({ status: kind === 'healthy' || kind === 'nginx-config-invalid' ? 200 : 502 });
    }
  });

  it('every host sees the scenario (read over ssh)', async () => {
    const s = setups.find((x) => x.kind === 'missing-env')!;
    for (const h of fleet.hosts) {
      const r = await ssh(fleet, h, `cat ${s.app.logFile}; test -e ${s.app.workdir}/.env || echo no-env`);
      expect(r.stdout).toContain('Error: environment variable JWT_SECRET is not set');
      expect(r.stdout).toContain('no-env');
    }
  });
});
