/**
 * The probes that read the app's own state on the host: `logs` (error lines
 * from a file, journald, pm2 or docker — held in memory, never in a temp
 * file) and `env-file` (are the required variables set, in the file and in
 * the running process — lengths only, never values).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir, spawnTracked } from '../../support/processes.ts';
import { facts, fixture, runProbe } from './harness.ts';

const NO_LOGS = { LOG_FILE: '', LOG_JOURNAL: '', LOG_PM2: '', LOG_DOCKER: '', SERVICE_MANAGER: '', SERVICE_NAME: '' };

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('triage-probe-app-');
});
afterAll(async () => {
  await removeTempDir(dir);
});

describe('logs probe', () => {
  it('a log file: only the error lines of the last LINES, and nothing written to TMPDIR', async () => {
    const file = path.join(dir, 'api.log');
    await fsp.writeFile(file, `old Error: outside the window\n${'INFO request ok\n'.repeat(20)}${fixture('py-traceback.txt')}INFO shutting down\n`);
    const r = await runProbe('logs', { args: ['10'], env: { ...NO_LOGS, LOG_FILE: file } });
    expect(facts(r.stdout).get('source')).toBe(`tail -n 10 ${file}`);
    expect(r.stdout).toContain("ModuleNotFoundError: No module named 'fastapi'");
    expect(r.stdout).not.toContain('outside the window');
    expect(r.stdout).not.toContain('INFO');
    expect(r.leftInTmp).toEqual([]);
  });

  it('a missing log file is a note, not an error', async () => {
    const r = await runProbe('logs', { args: ['10'], env: { ...NO_LOGS, LOG_FILE: path.join(dir, 'nope.log') } });
    expect(facts(r.stdout).get('note')).toMatch(/is missing or unreadable/);
  });

  it('journald, named in logs.journal or taken from a systemd service', async () => {
    const journalctl = [{ args: '-u wushipay-api.service -n 300 --no-pager -o cat', stdout: fixture('journal-wushipay.txt') }];
    for (const env of [
      { ...NO_LOGS, LOG_JOURNAL: 'wushipay-api.service' },
      { ...NO_LOGS, SERVICE_MANAGER: 'systemd', SERVICE_NAME: 'wushipay-api.service' },
    ]) {
      const r = await runProbe('logs', { args: ['300'], env, stubs: { journalctl } });
      expect(facts(r.stdout).get('source')).toBe('journalctl -u wushipay-api.service');
      expect(r.stdout).toContain("No module named 'fastapi'");
      expect(r.leftInTmp).toEqual([]);
    }
  });

  it('an empty journal gives a source and no error lines', async () => {
    const r = await runProbe('logs', {
      args: ['50'],
      env: { ...NO_LOGS, LOG_JOURNAL: 'shop.service' },
      stubs: { journalctl: [{ args: '*', stdout: fixture('journal-empty.txt') }] },
    });
    expect(r.stdout.trim()).toBe('source=journalctl -u shop.service');
  });

  it('pm2 (recorded `pm2 logs --raw`), from logs.pm2 or a pm2 service', async () => {
    const pm2 = [{ args: 'logs bad-api --lines 300 --nostream --raw', stdout: fixture('pm2-logs-raw.txt') }];
    const r = await runProbe('logs', { args: ['300'], env: { ...NO_LOGS, SERVICE_MANAGER: 'pm2', SERVICE_NAME: 'bad-api' }, stubs: { pm2 } });
    expect(facts(r.stdout).get('source')).toBe('pm2 logs bad-api');
    expect(r.stdout).toContain('Error: environment variable JWT_SECRET is not set');
  });

  it('docker, from logs.docker', async () => {
    const docker = [{ args: 'logs --tail 300 shop-api', stderr: 'Error: connect ECONNREFUSED 127.0.0.1:5432\n    at TCPConnectWrap.afterConnect\n' }];
    const r = await runProbe('logs', { args: ['300'], env: { ...NO_LOGS, LOG_DOCKER: 'shop-api' }, stubs: { docker } });
    expect(facts(r.stdout).get('source')).toBe('docker logs shop-api');
    expect(r.stdout).toContain('ECONNREFUSED 127.0.0.1:5432');
  });

  it('nothing configured: a note saying what to set', async () => {
    const r = await runProbe('logs', { args: ['300'], env: NO_LOGS });
    expect(facts(r.stdout).get('note')).toBe('no logs configured (set target.logs)');
  });

  it('a variable of the same name on the host does not leak in: the step’s (empty) value wins', async () => {
    // probeCommand sets every declared variable; here the host's LOG_FILE would point at a real file.
    const file = path.join(dir, 'host.log');
    await fsp.writeFile(file, 'Error: from the host env\n');
    process.env.LOG_FILE = file;
    try {
      const r = await runProbe('logs', { args: ['10'], env: {} });
      expect(facts(r.stdout).get('note')).toBe('no logs configured (set target.logs)');
    } finally {
      delete process.env.LOG_FILE;
    }
  });
});

describe('env-file probe', () => {
  const SECRET = 'probe-test-secret-0123456789';

  it('set, empty and missing variables in the file, by length only', async () => {
    const envFile = path.join(dir, '.env');
    await fsp.writeFile(envFile, `JWT_SECRET="${SECRET}"\nexport DATABASE_URL=\n# REDIS_URL=x\n`);
    const r = await runProbe('env-file', { args: [envFile, 'JWT_SECRET', 'DATABASE_URL', 'REDIS_URL'], env: { PIDS: '' } });
    const f = facts(r.stdout);
    expect(f.get('env_file')).toBe('present');
    expect(r.stdout).toContain(`var JWT_SECRET file=set(${SECRET.length} chars) process=unknown`);
    expect(r.stdout).toContain('var DATABASE_URL file=empty');
    expect(r.stdout).toContain('var REDIS_URL file=missing');
    expect(f.get('verdict')).toBe('not set: DATABASE_URL REDIS_URL');
    expect(r.stdout).not.toContain(SECRET);
  });

  it('no file: every variable is no-file', async () => {
    const r = await runProbe('env-file', { args: [path.join(dir, 'absent.env'), 'JWT_SECRET'], env: { PIDS: '' } });
    expect(facts(r.stdout).get('env_file')).toBe('missing');
    expect(r.stdout).toContain('var JWT_SECRET file=no-file');
  });

  it('reads the running process’s environment (a real process), never printing the value', async () => {
    const envFile = path.join(dir, 'proc.env');
    await fsp.writeFile(envFile, `JWT_SECRET=${SECRET}\nDATABASE_URL=postgres://x\n`);
    const app = await spawnTracked('sleep', ['30'], { env: { PATH: process.env.PATH, JWT_SECRET: SECRET } });
    try {
      const r = await runProbe('env-file', { args: [envFile, 'JWT_SECRET', 'DATABASE_URL'], env: { PIDS: `999999999\n${app.pid}` } });
      expect(r.stdout).toContain(`var JWT_SECRET file=set(${SECRET.length} chars) process=set(${SECRET.length} chars)`);
      expect(r.stdout).toContain('var DATABASE_URL file=set(12 chars) process=missing');
      expect(r.stdout).not.toContain(SECRET);
    } finally {
      await app.stop();
    }
  });

  it('a name that is not a variable name is skipped, not put into a regex', async () => {
    const r = await runProbe('env-file', { args: [path.join(dir, '.env'), 'A.*|'], env: { PIDS: '' } });
    expect(facts(r.stdout).get('note')).toBe('skipped A.*|: not a variable name');
    expect(r.stdout).not.toContain('var A.*|');
  });
});
