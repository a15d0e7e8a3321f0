/**
 * The `logs` probe given the app's running processes (APP_PIDS): only what
 * was written since the oldest of them started is read, so yesterday's crash
 * in the log of an app that is up again is left out — dated lines by their
 * timestamp (UTC `Z` or local time), undated ones by the line before, a file
 * last written before the start entirely.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir, spawnTracked, type TrackedChild } from '../../support/processes.ts';
import { facts, runProbe } from './harness.ts';

const NO_LOGS = { LOG_FILE: '', LOG_JOURNAL: '', LOG_PM2: '', LOG_DOCKER: '', SERVICE_MANAGER: '', SERVICE_NAME: '', APP_PIDS: '' };
const REAL = ['date', 'getconf', 'stat'];

let dir: string;
let app: TrackedChild;
let startedAt: number;
beforeAll(async () => {
  dir = await makeTempDir('triage-logs-since-');
  app = await spawnTracked('sleep', ['600']);
  // /proc counts the start in clock ticks; a line in the next second is surely after it.
  startedAt = Date.now();
  await new Promise((r) => setTimeout(r, 1100));
});
afterAll(async () => {
  await app?.stop();
  await removeTempDir(dir);
});

const iso = (ms: number) => new Date(ms).toISOString();
const local = (ms: number) => {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};

async function logFile(text: string): Promise<string> {
  const f = path.join(dir, `app-${Math.random().toString(36).slice(2)}.log`);
  await fsp.writeFile(f, text);
  return f;
}

describe('logs probe with APP_PIDS', () => {
  it("leaves out yesterday's crash (ISO Z dates; the undated traceback goes with the line before it)", async () => {
    const yesterday = startedAt - 26 * 3600_000;
    const now = Date.now();
    const file = await logFile(
      [
        `[${iso(yesterday)}] shop-api: starting`,
        'Traceback (most recent call last):',
        '  File "api_server.py", line 9, in <module>',
        "ModuleNotFoundError: No module named 'fastapi'",
        `[${iso(now)}] shop-api: listening on 127.0.0.1:8000`,
        `[${iso(now)}] shop-api: error: TypeError: x is undefined`,
        '',
      ].join('\n'),
    );
    const r = await runProbe('logs', { args: ['100'], env: { ...NO_LOGS, LOG_FILE: file, APP_PIDS: String(app.pid) }, real: REAL });
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^source=tail -n 100 .*, since the running process started at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d; 4 older lines left out$/);
    expect(lines.slice(1)).toEqual([`[${iso(now)}] shop-api: error: TypeError: x is undefined`]);
    expect(r.leftInTmp).toEqual([]);
  });

  it('the same log without APP_PIDS (the app is down): every error line counts', async () => {
    const file = await logFile(`[${iso(startedAt - 3600_000)}] boom\nModuleNotFoundError: No module named 'fastapi'\n`);
    const r = await runProbe('logs', { args: ['100'], env: { ...NO_LOGS, LOG_FILE: file }, real: REAL });
    expect(r.stdout).toBe(`source=tail -n 100 ${file}\nModuleNotFoundError: No module named 'fastapi'\n`);
  });

  it('local-time dates (no Z) are compared in local time', async () => {
    const file = await logFile(`${local(startedAt - 7200_000)} ERROR old failure\n${local(Date.now())} ERROR new failure\n`);
    const r = await runProbe('logs', { args: ['100'], env: { ...NO_LOGS, LOG_FILE: file, APP_PIDS: String(app.pid) }, real: REAL });
    expect(r.stdout).toContain('ERROR new failure');
    expect(r.stdout).not.toContain('ERROR old failure');
  });

  it('an undated log last written before the process started is all old', async () => {
    const file = await logFile("Error: Cannot find module 'left-pad'\n");
    const before = new Date(startedAt - 3600_000);
    fs.utimesSync(file, before, before);
    const r = await runProbe('logs', { args: ['100'], env: { ...NO_LOGS, LOG_FILE: file, APP_PIDS: String(app.pid) }, real: REAL });
    expect(r.stdout).not.toContain('Cannot find module');
    expect(facts(r.stdout).get('source')).toMatch(/1 older lines left out$/);
  });

  it('an undated log written since is kept: nothing says it is old', async () => {
    const file = await logFile("Error: Cannot find module 'left-pad'\n");
    const r = await runProbe('logs', { args: ['100'], env: { ...NO_LOGS, LOG_FILE: file, APP_PIDS: String(app.pid) }, real: REAL });
    expect(r.stdout).toContain("Error: Cannot find module 'left-pad'");
  });

  it('journald is asked for lines since the start (--since @EPOCH)', async () => {
    const journalctl = [{ args: '-u shop.service -n 50 --no-pager -o cat --since @*', stdout: 'Error: listen EADDRINUSE: address already in use :::8000\n' }];
    const r = await runProbe('logs', { args: ['50'], env: { ...NO_LOGS, LOG_JOURNAL: 'shop.service', APP_PIDS: String(app.pid) }, real: REAL, stubs: { journalctl } });
    expect(r.stdout).toContain('EADDRINUSE');
    const since = Number(/--since @(\d+)/.exec(r.calls[0] ?? '')?.[1]);
    expect(Math.abs(since - Math.floor(startedAt / 1000))).toBeLessThanOrEqual(2);
  });

  it('pids that are gone or not numbers are ignored (no filter)', async () => {
    const file = await logFile(`[${iso(startedAt - 3600_000)}] Error: old\n`);
    const r = await runProbe('logs', { args: ['100'], env: { ...NO_LOGS, LOG_FILE: file, APP_PIDS: '$(id)\n999999999' }, real: REAL });
    expect(r.stdout).toContain('Error: old');
    expect(r.stdout).not.toMatch(/uid=/);
  });
});
