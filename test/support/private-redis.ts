/**
 * A redis-server of the test's own, on its own port, that the test may kill
 * (by PID) and start again on the same port — for Redis outages. With
 * `persist: true` it keeps its data in an append-only file across restarts
 * (`appendfsync always`); without, a restart comes back empty, like the
 * private Redis Triage itself starts.
 *
 * Deliberately left out: anything but loopback, and replication.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, makeTempDir, removeTempDir, spawnTracked, type TrackedChild, waitUntil } from './processes.ts';

export interface PrivateRedis {
  port: number;
  /** `redis://[:password@]127.0.0.1:<port>`. */
  url: string;
  /** PID of the running server (changes on restart). */
  pid(): number;
  /** True while a server process is up. */
  running(): boolean;
  /** Kills the server by PID (default SIGKILL) and waits for it to be gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same port (and dir), and waits until it answers. */
  restart(): Promise<void>;
  /** Stops the server and removes its dir. Idempotent. */
  stop(): Promise<void>;
}

export async function startPrivateRedis(o: { persist?: boolean; password?: string } = {}): Promise<PrivateRedis> {
  const dir = await makeTempDir('triage-test-redis-');
  const port = await freePort();
  const auth = o.password ? `:${encodeURIComponent(o.password)}@` : '';
  const url = `redis://${auth}127.0.0.1:${port}`;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--loglevel',
    'warning',
    ...(o.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
    ...(o.password ? ['--requirepass', o.password] : []),
  ];
  let child: TrackedChild | undefined;
  const start = async () => {
    child = await spawnTracked('redis-server', args, { logFile: join(dir, 'redis.log') });
    await waitUntil(`redis-server on ${port}`, async () => answers(url), { timeoutMs: 10_000 });
  };
  await start();
  let stopped: Promise<void> | undefined;
  return {
    port,
    url,
    pid: () => child!.pid,
    running: () => !!child && !child.hasExited(),
    async kill(signal = 'SIGKILL') {
      if (!child || child.hasExited()) return;
      process.kill(child.pid, signal);
      await child.exited;
    },
    async restart() {
      if (child && !child.hasExited()) throw new Error('restart: the server is still running; kill() it first');
      await start();
    },
    stop() {
      stopped ??= (async () => {
        await child?.stop(2000);
        await removeTempDir(dir);
      })();
      return stopped;
    },
  };
}

async function answers(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, connectTimeout: 500 });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}
