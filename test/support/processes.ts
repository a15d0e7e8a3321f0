/**
 * Shared plumbing for the test fleet, nginx and the broken apps: child
 * processes that are always stopped (by `stop()` and again on process exit),
 * temp dirs, free ports and bounded waits.
 *
 * Deliberately left out: anything Triage itself does. These helpers only set
 * up real things for tests to diagnose.
 */
import { type ChildProcess, execFile, spawn, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

export const execFileP = promisify(execFile);

/** Process groups / pids we started and have not stopped yet. */
const liveChildren = new Map<number, { group: boolean }>();
/** Temp dirs we created and have not removed yet. */
const liveDirs = new Set<string>();
let hooksInstalled = false;

function killEverythingSync(): void {
  for (const [pid, { group }] of liveChildren) {
    try {
      process.kill(group ? -pid : pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const dir of liveDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort on the way out
    }
  }
  liveDirs.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killEverythingSync);
  // Without a listener these signals end the process without an 'exit' event
  // and our children would outlive it. Re-raise once cleaned up so the
  // default action (or someone else's listener) still decides what happens.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killEverythingSync();
      process.removeListener(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** A fresh private temp dir, removed on process exit unless {@link removeTempDir} ran first. */
export async function makeTempDir(prefix: string): Promise<string> {
  installExitHooks();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  liveDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  liveDirs.delete(dir);
  await fsp.rm(dir, { recursive: true, force: true });
}

export function randomId(bytes = 6): string {
  return randomBytes(bytes).toString('hex');
}

/** A child we started, with a promise that settles when it has exited. */
export interface TrackedChild {
  child: ChildProcess;
  pid: number;
  /** Settles once the process has exited (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  hasExited(): boolean;
  /** Kills (the group with SIGTERM, then SIGKILL after `graceMs`) and waits for the exit. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns a child in its own process group (`detached: true`) and registers it
 * so that it is killed on process exit. `logFile` receives stdout and stderr
 * (appended).
 */
export async function spawnTracked(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; logFile?: string; stdin?: 'ignore' } = {},
): Promise<TrackedChild> {
  installExitHooks();
  const fd = opts.logFile ? fs.openSync(opts.logFile, 'a') : undefined;
  const spawnOpts: SpawnOptions = {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', fd ?? 'ignore', fd ?? 'ignore'],
  };
  let child: ChildProcess;
  try {
    child = spawn(command, args, spawnOpts);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  if (spawned || child.pid === undefined) {
    throw new Error(`could not start ${command}: ${spawned?.message ?? 'no pid'}`);
  }
  const pid = child.pid;
  liveChildren.set(pid, { group: true });
  child.unref();
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      // Once reaped its pid may be reused: never signal it again.
      liveChildren.delete(pid);
      resolve({ code, signal });
    });
  });
  const stop = async (graceMs = 5000): Promise<void> => {
    if (!done) {
      signalGroup(pid, 'SIGTERM');
      if (!(await settlesWithin(exited, graceMs))) {
        signalGroup(pid, 'SIGKILL');
        await settlesWithin(exited, 2000);
      }
    }
    liveChildren.delete(pid);
  };
  return { child, pid, exited, hasExited: () => done, stop };
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // gone already
    }
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); look at its state.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** All descendants of `pid` (children, grandchildren, ...) from /proc. */
export function descendantsOf(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(entry), Number(fields[1]));
    } catch {
      // raced with its exit
    }
  }
  const out: number[] = [];
  let frontier = [pid];
  for (let depth = 0; depth < 32 && frontier.length > 0; depth++) {
    const next: number[] = [];
    for (const [p, pp] of parentOf) if (frontier.includes(pp)) next.push(p);
    out.push(...next);
    frontier = next;
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export { canBind, freePort } from '../../src/net.ts';

/** Connects once; resolves with the first bytes received (up to `untilNewline`), or rejects. */
export function tcpProbe(host: string, port: number, opts: { readLine?: boolean; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`timeout talking to ${host}:${port}`));
    }, opts.timeoutMs ?? 1000);
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(buf);
    };
    sock.once('error', finish);
    sock.once('connect', () => {
      if (!opts.readLine) finish();
    });
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\n')) finish();
    });
    sock.once('end', () => finish(opts.readLine && !buf.includes('\n') ? new Error(`${host}:${port} closed early`) : undefined));
  });
}

/**
 * Polls `check` every `intervalMs` until it returns a truthy value or
 * `timeoutMs` passes (then throws `what`). `abort` (when it resolves) stops
 * the wait early with its error.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  opts: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastErr = '';
  for (;;) {
    const reason = opts.abort?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    if (Date.now() >= deadline) throw new Error(`${what}: gave up after ${opts.timeoutMs} ms${lastErr ? ` (${lastErr})` : ''}`);
    await sleep(opts.intervalMs ?? 50);
  }
}

/** One HTTP GET without keep-alive: `{ status, body }`, or rejects on connection errors. */
export function httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms: GET ${url}`)));
    req.on('error', reject);
  });
}

export function readIfExists(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

const INSTALL_HINT = 'apt-get install -y openssh-server nginx-light';

/**
 * Makes sure `binaries` exist. As root, installs the Debian packages
 * openssh-server and nginx-light when one is missing; otherwise throws an
 * Error saying exactly what to install.
 */
export async function ensureBinaries(binaries: string[]): Promise<void> {
  const missing = () => binaries.filter((b) => !fs.existsSync(b));
  if (missing().length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`${missing().join(', ')} not found. Install them with: sudo ${INSTALL_HINT}`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => execFileP('apt-get', ['install', '-y', 'openssh-server', 'nginx-light'], { env, timeout: 300_000 });
  try {
    await install();
  } catch {
    await execFileP('apt-get', ['update'], { env, timeout: 300_000 }).catch(() => undefined);
    await install().catch(() => undefined);
  }
  if (missing().length > 0) {
    throw new Error(`${missing().join(', ')} still missing after "${INSTALL_HINT}". Install them by hand: ${INSTALL_HINT}`);
  }
}
