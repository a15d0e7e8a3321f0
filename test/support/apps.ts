/**
 * Small real apps that break the way the 502 write-ups describe (seeds 000,
 * 001, 003, 004): not started, wrong port, port taken, missing Python module,
 * missing Node module, syntax error, missing .env, database refused, garbage
 * responses, slow responses.
 *
 * Each app lives in its own workdir, runs detached in its own process group
 * with stdout+stderr appended to `<dir>/app.log`, and carries a unique marker
 * in its command line for `pgrep -f`. Apps that crash have exited, with the
 * error in the log, before `startApp` resolves.
 *
 * Deliberately left out: real frameworks and databases; the apps fail through
 * the same messages the real ones print.
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import {
  freePort,
  makeTempDir,
  randomId,
  readIfExists,
  removeTempDir,
  spawnTracked,
  type TrackedChild,
  tcpProbe,
  waitUntil,
} from './processes.ts';

export { freePort };

export type AppKind =
  /** GET /health → 200 {"ok":true}; GET /api/* → 200 JSON. Needs JWT_SECRET and DATABASE_URL from `.env`. */
  | 'ok'
  /** Like `ok` but listens on port+1. */
  | 'wrong-port'
  /** python3 api_server.py: ModuleNotFoundError: No module named 'fastapi'. */
  | 'crash-module-py'
  /** Error: Cannot find module 'left-pad-not-installed'. */
  | 'crash-module-node'
  /** SyntaxError: Unexpected token. */
  | 'crash-syntax'
  /** No .env: Error: environment variable JWT_SECRET is not set. */
  | 'crash-env'
  /** Error: connect ECONNREFUSED 127.0.0.1:<dbPort>. */
  | 'crash-db'
  /** An intruder holds the port: Error: listen EADDRINUSE: address already in use 127.0.0.1:<port>. */
  | 'eaddrinuse'
  /** Listens, then drops every request unanswered (nginx: upstream prematurely closed). */
  | 'bad-response'
  /** Listens; every request waits `delayMs` before 200. */
  | 'slow'
  /** Files and .env in place, never started; the log ends in a clean shutdown. */
  | 'stopped';

export const APP_KINDS: readonly AppKind[] = [
  'ok',
  'wrong-port',
  'crash-module-py',
  'crash-module-node',
  'crash-syntax',
  'crash-env',
  'crash-db',
  'eaddrinuse',
  'bad-response',
  'slow',
  'stopped',
];

/** Kinds whose process has exited by the time `startApp` resolves. */
export const CRASHING_KINDS: readonly AppKind[] = [
  'crash-module-py',
  'crash-module-node',
  'crash-syntax',
  'crash-env',
  'crash-db',
  'eaddrinuse',
];

export interface AppOptions {
  /** Where the app should listen (and where nginx proxies to). */
  port: number;
  /** The app's dir (= workdir, holds app.log). Default a fresh temp dir, removed by `stop()`. */
  dir?: string;
  /** `crash-db`: the closed port DATABASE_URL points at. Default a fresh free port. */
  dbPort?: number;
  /** `slow`: delay per request. Default 8000. */
  delayMs?: number;
  /**
   * The whole `.env` (replaces the defaults): JWT_SECRET=<58 random chars>,
   * DATABASE_URL=postgres://app:s3cr3tpass@127.0.0.1:5432/app (port `dbPort` for crash-db).
   */
  env?: Record<string, string>;
}

/** Another process squatting on the app's port (`eaddrinuse`). */
export interface IntruderHandle {
  pid: number;
  marker: string;
  logFile: string;
  stop(): Promise<void>;
}

export interface AppHandle {
  kind: AppKind;
  /** Pid while running; undefined for apps that crashed or were never started. */
  pid: number | undefined;
  /** Unique string in the command line: `pgrep -f <marker>` finds the app. */
  marker: string;
  workdir: string;
  /** stdout + stderr of the app (appended). */
  logFile: string;
  /** `<workdir>/.env` (absent for `crash-env`). */
  envFile: string;
  /** Where the app should listen. */
  port: number;
  /** Where it really listens, when running (port+1 for `wrong-port`). */
  listenPort: number | undefined;
  /** Exit code of a crashed app; undefined while running or never started. */
  exitCode: number | null | undefined;
  /** `crash-db`: the closed database port. */
  dbPort?: number;
  intruder?: IntruderHandle;
  /** Kills the process group (and the intruder) if still alive; removes the dir if this module created it. Idempotent. */
  stop(): Promise<void>;
}

const CRASH_WAIT_MS = 5000;
const LISTEN_WAIT_MS = 5000;

/** The ok server, in Node, with switches for the ways it breaks. */
function nodeServer(o: {
  listenPort: number;
  mode: 'ok' | 'bad-response' | 'slow';
  delayMs?: number;
  checkDb?: boolean;
  missingModule?: boolean;
  syntaxError?: boolean;
}): string {
  return `'use strict';
// shop-api: the JSON API behind nginx's location /api.
const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');
${o.missingModule ? "const leftPad = require('left-pad-not-installed');\n" : ''}
const PORT = ${o.listenPort};
const HOST = '127.0.0.1';

function log(msg) {
  console.log('[' + new Date().toISOString() + '] shop-api: ' + msg);
}

// Tiny .env loader (what dotenv does): KEY=VALUE lines, # comments, optional quotes.
function loadEnv(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code === 'ENOENT') {
      log('warning: ' + file + ' not found');
      return;
    }
    throw err;
  }
  for (const raw of text.split(/\\r?\\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 1) continue;
    const key = line.slice(0, eq).replace(/^export\\s+/, '').trim();
    let value = line.slice(eq + 1).trim();
    if (/^(['"]).*\\1$/.test(value)) value = value.slice(1, -1);
    if (!(key in process.env)) process.env[key] = value;
  }
}

loadEnv(path.join(__dirname, '.env'));
for (const name of ['JWT_SECRET', 'DATABASE_URL']) {
  if (!process.env[name]) {
    console.error('Error: environment variable ' + name + ' is not set');
    process.exit(1);
  }
}

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function handle(req, res) {
  const url = req.url || '/';
${
  o.mode === 'bad-response'
    ? `  console.error('[' + new Date().toISOString() + '] shop-api: unhandled error in ' + req.method + ' ' + url + ": TypeError: Cannot read properties of undefined (reading 'rows')");
  req.socket.destroy();
  return;`
    : o.mode === 'slow'
      ? `  setTimeout(() => json(res, 200, { ok: true, path: url, slow: true }), ${o.delayMs ?? 8000});
  return;`
      : ''
}
  if (url === '/health' || url.startsWith('/health?')) return json(res, 200, { ok: true });
  if (url === '/api' || url.startsWith('/api/') || url.startsWith('/api?')) {
    return json(res, 200, { ok: true, service: 'shop-api', path: url });
  }
${o.syntaxError ? "  if (url === '/orders' {\n    return json(res, 200, []);\n  }\n" : ''}  json(res, 404, { error: 'not found' });
}

function serve() {
  const server = http.createServer(handle);
  server.listen(PORT, HOST, () => log('listening on ' + HOST + ':' + PORT));
  const shutdown = (sig) => {
    log('received ' + sig + ', shutting down');
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

${
  o.checkDb
    ? `const db = new URL(process.env.DATABASE_URL);
const dbHost = db.hostname || '127.0.0.1';
const dbPort = Number(db.port || 5432);
log('connecting to database ' + dbHost + ':' + dbPort);
const sock = net.connect({ host: dbHost, port: dbPort });
sock.setTimeout(3000, () => sock.destroy(new Error('connect ETIMEDOUT ' + dbHost + ':' + dbPort)));
sock.once('connect', () => {
  sock.end();
  serve();
});
sock.once('error', (err) => {
  console.error(err.stack);
  log('fatal: could not connect to the database');
  process.exit(1);
});`
    : 'serve();'
}
`;
}

function pythonServer(port: number): string {
  return `#!/usr/bin/env python3
"""shop-api: the JSON API behind nginx's location /api (FastAPI + uvicorn)."""
import sys
from datetime import datetime, timezone

PORT = ${port}
print(f"[{datetime.now(timezone.utc).isoformat()}] shop-api: starting on 127.0.0.1:{PORT}", flush=True)

import fastapi
import uvicorn

app = fastapi.FastAPI()


@app.get("/health")
def health():
    return {"ok": True}


@app.get("/api/{rest:path}")
def api(rest: str):
    return {"ok": True, "service": "shop-api", "path": "/api/" + rest}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=PORT)
`;
}

/** A process that holds the port and hangs up on every connection. */
function intruderServer(port: number): string {
  return `'use strict';
// legacy-sync: an old worker nobody stopped; it still holds the API port.
const net = require('net');
const server = net.createServer((sock) => sock.destroy());
server.listen(${port}, '127.0.0.1', () => console.log('legacy-sync listening on 127.0.0.1:${port}'));
process.on('SIGTERM', () => process.exit(0));
`;
}

function defaultEnv(dbPort: number): Record<string, string> {
  return {
    JWT_SECRET: randomBytes(48).toString('base64url').slice(0, 58),
    DATABASE_URL: `postgres://app:s3cr3tpass@127.0.0.1:${dbPort}/app`,
  };
}

function envText(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
}

/** A minimal environment: the apps read their settings from .env, never from the test's environment. */
function appEnv(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TZ', 'PYENV_ROOT', 'PYENV_VERSION'];
  const env: NodeJS.ProcessEnv = { NODE_ENV: 'production', PYTHONUNBUFFERED: '1' };
  for (const k of keep) if (process.env[k] !== undefined) env[k] = process.env[k];
  return env;
}

interface Launched {
  proc: TrackedChild;
  exitCode: number | null | undefined;
}

/**
 * Starts `command args... --<flag>=<marker>` and waits: for a crash (exit
 * within 5 s, or throws) or for `listenPort` to accept TCP (within 5 s).
 */
async function launch(o: {
  command: string;
  args: string[];
  cwd: string;
  logFile: string;
  flag: string;
  marker: string;
  expect: { crash: true } | { listenPort: number };
}): Promise<Launched> {
  const proc = await spawnTracked(o.command, [...o.args, `--${o.flag}=${o.marker}`], {
    cwd: o.cwd,
    env: appEnv(),
    logFile: o.logFile,
  });
  const log = () => readIfExists(o.logFile).trim() || '(empty log)';
  try {
    if ('crash' in o.expect) {
      const res = await waitUntil(`${o.marker} to crash`, async () => (proc.hasExited() ? proc.exited : undefined), {
        timeoutMs: CRASH_WAIT_MS,
        intervalMs: 20,
      });
      return { proc, exitCode: res.code };
    }
    const port = o.expect.listenPort;
    const accepts = async (): Promise<boolean> => {
      await tcpProbe('127.0.0.1', port);
      return true;
    };
    await waitUntil(`${o.marker} to listen on 127.0.0.1:${port}`, accepts, {
      timeoutMs: LISTEN_WAIT_MS,
      intervalMs: 30,
      abort: () => (proc.hasExited() ? `it exited early. Log:\n${log()}` : undefined),
    });
    return { proc, exitCode: undefined };
  } catch (err) {
    await proc.stop();
    throw new Error(`${(err as Error).message}\nLog ${o.logFile}:\n${log()}`);
  }
}

async function startIntruder(dir: string, port: number): Promise<IntruderHandle> {
  const idir = path.join(dir, 'legacy-sync');
  await fsp.mkdir(idir, { recursive: true });
  const script = path.join(idir, 'legacy-sync.js');
  const logFile = path.join(idir, 'legacy-sync.log');
  await fsp.writeFile(script, intruderServer(port));
  const marker = `triage-intruder-${randomId()}`;
  const { proc } = await launch({
    command: process.execPath,
    args: [script],
    cwd: idir,
    logFile,
    flag: 'triage-intruder',
    marker,
    expect: { listenPort: port },
  });
  return { pid: proc.pid, marker, logFile, stop: () => proc.stop() };
}

/** Writes the app for `kind` into its dir and starts it (except `stopped`). */
export async function startApp(kind: AppKind, opts: AppOptions): Promise<AppHandle> {
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await makeTempDir('triage-shop-'));
  const marker = `triage-app-${randomId()}`;
  const logFile = path.join(dir, 'app.log');
  const envFile = path.join(dir, '.env');
  const port = opts.port;
  let intruder: IntruderHandle | undefined;
  try {
    await fsp.mkdir(dir, { recursive: true });
    const dbPort = kind === 'crash-db' ? (opts.dbPort ?? (await freePort())) : undefined;
    const env = opts.env ?? defaultEnv(dbPort ?? 5432);
    if (kind !== 'crash-env') await fsp.writeFile(envFile, envText(env), { mode: 0o600 });
    await fsp.writeFile(path.join(dir, '.env.example'), envText(Object.fromEntries(Object.keys(defaultEnv(5432)).map((k) => [k, '']))));
    await fsp.writeFile(logFile, '');

    const listenPort = kind === 'wrong-port' ? port + 1 : port;
    const crashes = CRASHING_KINDS.includes(kind);
    let command = process.execPath;
    let script = path.join(dir, 'server.js');

    if (kind === 'crash-module-py') {
      command = 'python3';
      script = path.join(dir, 'api_server.py');
      await fsp.writeFile(script, pythonServer(port));
      await fsp.writeFile(path.join(dir, 'requirements.txt'), 'fastapi==0.115.0\nuvicorn==0.30.6\n');
    } else {
      const source = nodeServer({
        listenPort,
        mode: kind === 'bad-response' ? 'bad-response' : kind === 'slow' ? 'slow' : 'ok',
        delayMs: opts.delayMs,
        checkDb: kind === 'crash-db',
        missingModule: kind === 'crash-module-node',
        syntaxError: kind === 'crash-syntax',
      });
      await fsp.writeFile(script, source);
      const dependencies: Record<string, string> = kind === 'crash-module-node' ? { 'left-pad-not-installed': '^1.0.0' } : {};
      await fsp.writeFile(
        path.join(dir, 'package.json'),
        `${JSON.stringify({ name: 'shop-api', version: '1.0.0', private: true, type: 'commonjs', main: 'server.js', dependencies }, null, 2)}\n`,
      );
    }

    let launched: Launched | undefined;
    if (kind === 'stopped') {
      const t = Date.now() - 26 * 3600_000;
      const at = (ms: number) => new Date(t + ms).toISOString();
      await fsp.writeFile(
        logFile,
        `[${at(0)}] shop-api: listening on 127.0.0.1:${port}\n[${at(3 * 3600_000)}] shop-api: received SIGTERM, shutting down\n`,
      );
    } else {
      if (kind === 'eaddrinuse') intruder = await startIntruder(dir, port);
      launched = await launch({
        command,
        args: [script],
        cwd: dir,
        logFile,
        flag: 'triage-app',
        marker,
        expect: crashes ? { crash: true } : { listenPort },
      });
    }

    const running = launched && !crashes ? launched.proc : undefined;
    let stopped: Promise<void> | undefined;
    return {
      kind,
      pid: running?.pid,
      marker,
      workdir: dir,
      logFile,
      envFile,
      port,
      listenPort: running ? listenPort : undefined,
      exitCode: crashes ? launched?.exitCode : undefined,
      dbPort,
      intruder,
      stop() {
        stopped ??= (async () => {
          await Promise.all([launched?.proc.stop(), intruder?.stop()]);
          if (ownDir) await removeTempDir(dir);
        })();
        return stopped;
      },
    };
  } catch (err) {
    await intruder?.stop();
    if (ownDir) await removeTempDir(dir);
    throw err;
  }
}
