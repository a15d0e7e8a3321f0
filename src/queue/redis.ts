/**
 * Finding Redis. Order: config `redis:`, else `$REDIS_URL`, else
 * `redis://127.0.0.1:6379`. When nothing answers and the URL came from that
 * default (and `redis-server` is on the PATH), `run` and `demo` start a
 * private one (no persistence, temp dir) and stop it on exit. Otherwise the
 * caller gets `REDIS_UNAVAILABLE` (exit 3) quickly — never a hang.
 *
 * Beyond one server, `redis:` may name a Sentinel set (ioredis asks the
 * sentinels for the primary and, after a failover, reconnects to the new one)
 * or a Cluster. A Cluster client is handed out typed as `Redis`: it answers
 * the same commands for keys in one slot, and Triage keeps every key of a
 * deployment in one slot by putting its prefix in a hash tag
 * ({@link keyPrefix}: `triage` → `{triage}`, as BullMQ requires). Commands
 * that look at a whole server (SCAN, INFO) go to every master through
 * {@link RedisHandle.masters}.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { describeRedis, isClusterConfig, isSentinelConfig, type RedisConfig } from '../config/redis.ts';
import { resolveSecret } from '../config.ts';
import { TriageError } from '../errors.ts';
import { freePort } from '../net.ts';

/** Options for {@link connectRedis}. */
export interface ConnectRedisOptions {
  /** One server's URL; also what messages name when `redis` is a Sentinel set or a Cluster. */
  url: string;
  /** The config's `redis:` when it is a Sentinel set or a Cluster (a string is taken from `url`). */
  redis?: RedisConfig;
  /** Where `env:` secrets of `redis` are read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Start a private redis-server when nothing answers at `url`. Default false. */
  allowPrivate?: boolean;
  /** How long to wait for an answer. Default 2000 ms. */
  timeoutMs?: number;
}

/** A reachable Redis and how to let go of it. */
export interface RedisHandle {
  /** For messages: the URL, `redis+sentinel://h:p,h:p/NAME` or `redis+cluster://h:p,h:p` (never a password). */
  url: string;
  /** True when Triage started this server itself. */
  private: boolean;
  /** One server (default), a Sentinel set or a Cluster. */
  mode?: RedisMode;
  /** A new client for this server (BullMQ needs several). A Cluster client is typed as `Redis` (see the module notes). */
  client(opts?: RedisOptions): Redis;
  /**
   * One client per master, for commands about a whole server (INFO, SCAN):
   * the cluster's masters, else the one server. The caller disconnects them.
   */
  masters?(): Promise<Redis[]>;
  /** Stops the private server, if any. */
  stop(): Promise<void>;
}

export type RedisMode = 'single' | 'sentinel' | 'cluster';

/**
 * The key prefix to use with this Redis: unchanged on one server or
 * Sentinel; in a Cluster the prefix in a hash tag (`triage` → `{triage}`), so
 * every key of the deployment — BullMQ's and the run store's — is in one
 * slot. A prefix that already has a tag is kept as it is.
 */
export function keyPrefix(redis: Pick<RedisHandle, 'mode'>, prefix: string): string {
  if (redis.mode !== 'cluster' || /\{[^{}]+\}/.test(prefix)) return prefix;
  return `{${prefix}}`;
}

/** Checks that Redis answers at `url` (or starts a private one); throws `REDIS_UNAVAILABLE` otherwise. */
export async function connectRedis(o: ConnectRedisOptions): Promise<RedisHandle> {
  const timeoutMs = o.timeoutMs ?? 2000;
  if (isSentinelConfig(o.redis) || isClusterConfig(o.redis)) return connectTopology(o.redis, o.env ?? process.env, timeoutMs);
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
  const client = (opts?: RedisOptions) => new Redis(url, clientOptions(opts));
  return { url, private: isPrivate, mode: 'single', client, masters: async () => [client()], stop };
}

async function connectTopology(r: RedisConfig, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<RedisHandle> {
  const url = describeRedis(r);
  const secret = (ref: string | undefined, key: string) => (ref === undefined ? undefined : resolveSecret(ref, env, `redis.${key}`));
  let client: (opts?: RedisOptions) => Redis;
  let mode: RedisMode;
  let masters: () => Promise<Redis[]>;
  if (isClusterConfig(r)) {
    mode = 'cluster';
    const auth: RedisOptions = { username: r.username, password: secret(r.password, 'password'), ...(r.tls ? { tls: {} } : {}) };
    // Connection-level options go to the Cluster itself, the rest to each node's client.
    const make = ({ lazyConnect, enableOfflineQueue, retryStrategy, ...opts }: RedisOptions = {}) =>
      new Cluster(r.cluster, {
        redisOptions: clientOptions({ ...auth, ...opts }),
        enableReadyCheck: true,
        lazyConnect: lazyConnect ?? false,
        enableOfflineQueue: enableOfflineQueue ?? true,
        clusterRetryStrategy: retryStrategy ?? ((times) => Math.min(100 * times, 2000)),
      });
    // A Cluster answers the same commands as one server for keys in one slot (see the module notes).
    client = (opts) => make(opts) as unknown as Redis;
    masters = async () => {
      const c = make();
      c.on('error', () => {});
      try {
        await withTimeout(new Promise<void>((res, rej) => (c.status === 'ready' ? res() : c.once('ready', () => res()).once('end', () => rej(new Error('cluster ended'))))), 10_000);
        return c.nodes('master').map((n) => new Redis({ ...clientOptions(auth), host: n.options.host, port: n.options.port }));
      } finally {
        c.disconnect();
      }
    };
  } else if (isSentinelConfig(r)) {
    mode = 'sentinel';
    const base: RedisOptions = {
      sentinels: r.sentinels,
      name: r.name,
      username: r.username,
      password: secret(r.password, 'password'),
      sentinelPassword: secret(r.sentinelPassword, 'sentinelPassword'),
      db: r.db ?? 0,
      ...(r.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
      // Ask the sentinels again soon after losing the primary: a failover takes seconds, not minutes.
      sentinelRetryStrategy: (times) => Math.min(100 * times, 1000),
      retryStrategy: (times) => Math.min(100 * times, 1000),
    };
    client = (opts) => new Redis(clientOptions({ ...base, ...opts }));
    masters = async () => [client()];
  } else {
    throw new Error('connectTopology: a URL');
  }
  const probe = client({ lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, sentinelRetryStrategy: () => null, connectTimeout: timeoutMs });
  probe.on('error', () => {});
  try {
    if (mode === 'cluster') {
      await withTimeout(probe.connect(), timeoutMs + 1000);
    } else await withTimeout(probe.connect(), timeoutMs);
    await withTimeout(probe.ping(), timeoutMs);
  } catch (e) {
    throw new TriageError('REDIS_UNAVAILABLE', `Redis does not answer at ${url} (${(e as Error).message || 'no answer'})`, {
      fix: mode === 'cluster' ? 'check that the cluster nodes in redis: are reachable and the cluster is up (redis-cli cluster info)' : 'check that the sentinels in redis: are reachable and monitor that master name (redis-cli -p PORT sentinel masters)',
    });
  } finally {
    probe.disconnect();
  }
  return { url, private: false, mode, client, masters, stop: async () => {} };
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
