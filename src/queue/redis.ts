/**
 * Finding Redis. Order: config `redis:`, else `$REDIS_URL`, else
 * `redis://127.0.0.1:6379`. When nothing answers and the URL came from that
 * default (and `redis-server` is on the PATH), `run` and `demo` start a
 * private one (no persistence, temp dir) and stop it on exit. Otherwise the
 * caller gets `REDIS_UNAVAILABLE` (exit 3) quickly — never a hang.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { TriageError } from '../errors.ts';
import { freePort } from '../net.ts';

/** Options for {@link connectRedis}. */
export interface ConnectRedisOptions {
  url: string;
  /** Start a private redis-server when nothing answers at `url`. Default false. */
  allowPrivate?: boolean;
  /** How long to wait for an answer. Default 2000 ms. */
  timeoutMs?: number;
}

/** A reachable Redis and how to let go of it. */
export interface RedisHandle {
  url: string;
  /** True when Triage started this server itself. */
  private: boolean;
  /** A new client for this server (BullMQ needs several). */
  client(opts?: RedisOptions): Redis;
  /** Stops the private server, if any. */
  stop(): Promise<void>;
}

/** Checks that Redis answers at `url` (or starts a private one); throws `REDIS_UNAVAILABLE` otherwise. */
export async function connectRedis(o: ConnectRedisOptions): Promise<RedisHandle> {
  const timeoutMs = o.timeoutMs ?? 2000;
  const err = await ping(o.url, timeoutMs);
  if (!err) return handle(o.url, false, async () => {});
  if (o.allowPrivate && hasRedisServer()) return startPrivate();
  throw new TriageError('REDIS_UNAVAILABLE', `Redis does not answer at ${safeUrl(o.url)} (${err})`, {
    fix: 'start Redis (apt-get install redis-server), or set `redis:` in triage.yaml or $REDIS_URL to a reachable one',
  });
}

/** Options every Triage client uses: fail fast instead of queueing commands forever. */
export function clientOptions(over: RedisOptions = {}): RedisOptions {
  return { maxRetriesPerRequest: null, enableReadyCheck: true, connectTimeout: 5000, ...over };
}

function handle(url: string, isPrivate: boolean, stop: () => Promise<void>): RedisHandle {
  return { url, private: isPrivate, client: (opts) => new Redis(url, clientOptions(opts)), stop };
}

async function ping(url: string, timeoutMs: number): Promise<string | null> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => {});
  try {
    await withTimeout(r.connect(), timeoutMs);
    await withTimeout(r.ping(), timeoutMs);
    return null;
  } catch (e) {
    return (e as Error).message || 'no answer';
  } finally {
    r.disconnect();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

function hasRedisServer(): boolean {
  return spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;
}

const privateServers = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of privateServers) c.kill('SIGKILL');
});

async function startPrivate(): Promise<RedisHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'triage-redis-'));
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], {
    stdio: 'ignore',
  });
  privateServers.add(child);
  const url = `redis://127.0.0.1:${port}`;
  const stop = async () => {
    privateServers.delete(child);
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 50; i++) {
    if (!(await ping(url, 500))) return handle(url, true, stop);
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new TriageError('REDIS_UNAVAILABLE', 'could not start a private redis-server', { fix: 'start Redis yourself and set $REDIS_URL' });
}

/** The URL without its password, for messages. */
export function safeUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:«redacted»@');
}

/** `REDIS_UNAVAILABLE` for a Redis that went away and stayed away. */
export function redisLost(url: string, forMs: number): TriageError {
  return new TriageError('REDIS_UNAVAILABLE', `cannot reach Redis at ${safeUrl(url)} (no connection for ${Math.round(forMs / 100) / 10} s)`, {
    fix: 'check that Redis is running and reachable; the run may still finish once it is back (see `triage status`)',
  });
}
