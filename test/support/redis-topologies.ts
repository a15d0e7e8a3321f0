/**
 * Redis beyond one node, on private loopback ports, for tests and the soak
 * bench: a Redis Cluster of N masters (`redis-server --cluster-enabled yes`
 * per node, then `redis-cli --cluster create ... --cluster-replicas 0`) and a
 * Sentinel set (a primary, a replica and three sentinels). Every process is
 * tracked by PID (processes.ts) and stopped by `stop()`; temp dirs go too.
 *
 * Deliberately left out: anything but 127.0.0.1, persistence, and TLS.
 */
import { writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { execFileP, freePort, makeTempDir, removeTempDir, spawnTracked, type TrackedChild, waitUntil } from './processes.ts';

/** A running Redis Cluster. */
export interface PrivateCluster {
  /** `[{ host: '127.0.0.1', port }, ...]`, as `redis: { cluster: ... }` takes them. */
  nodes: { host: string; port: number }[];
  pids(): number[];
  stop(): Promise<void>;
}

/** Starts `masters` cluster nodes and joins them into one cluster with every slot covered. */
export async function startRedisCluster(masters = 3): Promise<PrivateCluster> {
  const dir = await makeTempDir('triage-test-cluster-');
  const children: TrackedChild[] = [];
  const nodes: { host: string; port: number }[] = [];
  const stop = async () => {
    await Promise.all(children.map((c) => c.stop(2000)));
    await removeTempDir(dir);
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      const nodeDir = join(dir, String(port));
      await mkdir(nodeDir);
      children.push(
        await spawnTracked(
          'redis-server',
          // biome-ignore format: one flag and its value per line pair
          ['--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
            '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'],
          { logFile: join(nodeDir, 'redis.log') },
        ),
      );
      nodes.push({ host: '127.0.0.1', port });
    }
    for (const n of nodes) await waitUntil(`cluster node ${n.port}`, () => answers(n.port), { timeoutMs: 10_000 });
    await execFileP('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    for (const n of nodes) {
      await waitUntil(`cluster_state:ok on ${n.port}`, async () => (await info(n.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'), { timeoutMs: 20_000, intervalMs: 100 });
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { nodes, pids: () => children.map((c) => c.pid), stop };
}

/** A running primary + replica watched by three sentinels. */
export interface PrivateSentinel {
  /** The master group name (`mymaster`). */
  name: string;
  sentinels: { host: string; port: number }[];
  /** Port of the server that is primary right now, by asking a live sentinel. */
  primaryPort(): Promise<number>;
  /** PID of the redis-server on `port` (the primary or the replica). */
  pidOf(port: number): number;
  /** Kills the redis-server on `port` by PID with SIGKILL and waits for it to be gone. */
  kill(port: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a primary, one replica of it and three sentinels (quorum 2,
 * `down-after-milliseconds` 1000, so a dead primary is replaced within a few
 * seconds), and waits until the sentinels know the replica and each other.
 */
export async function startRedisSentinel(o: { name?: string; downAfterMs?: number } = {}): Promise<PrivateSentinel> {
  const name = o.name ?? 'mymaster';
  const dir = await makeTempDir('triage-test-sentinel-');
  const servers = new Map<number, TrackedChild>();
  const sentinels: TrackedChild[] = [];
  const stop = async () => {
    await Promise.all([...sentinels, ...servers.values()].map((c) => c.stop(2000)));
    await removeTempDir(dir);
  };
  const server = async (port: number, replicaOf?: number) => {
    const d = join(dir, `redis-${port}`);
    await mkdir(d);
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', d, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'];
    if (replicaOf) args.push('--replicaof', '127.0.0.1', String(replicaOf));
    servers.set(port, await spawnTracked('redis-server', args, { logFile: join(d, 'redis.log') }));
    await waitUntil(`redis-server on ${port}`, () => answers(port), { timeoutMs: 10_000 });
  };
  const sentinelPorts: number[] = [];
  try {
    const primary = await freePort();
    await server(primary);
    const replica = await freePort();
    await server(replica, primary);
    await waitUntil('the replica in sync', async () => (await info(replica, 'INFO', 'replication')).includes('master_link_status:up'), { timeoutMs: 15_000, intervalMs: 100 });
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${primary} 2`,
          `sentinel down-after-milliseconds ${name} ${o.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      sentinels.push(await spawnTracked('redis-server', [conf, '--sentinel'], { logFile: join(dir, `sentinel-${port}.log`) }));
      sentinelPorts.push(port);
    }
    for (const port of sentinelPorts) {
      await waitUntil(
        `sentinel ${port} knows the replica and the other sentinels`,
        async () => {
          const r = client(port);
          try {
            const replicas = (await r.call('SENTINEL', 'REPLICAS', name)) as unknown[];
            const others = (await r.call('SENTINEL', 'SENTINELS', name)) as unknown[];
            return replicas.length >= 1 && others.length >= 2;
          } finally {
            r.disconnect();
          }
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const primaryPort = async (): Promise<number> => {
    for (const [i, port] of sentinelPorts.entries()) {
      if (sentinels[i]!.hasExited()) continue;
      const r = client(port);
      try {
        const addr = (await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as [string, string];
        return Number(addr[1]);
      } catch {
        // try the next sentinel
      } finally {
        r.disconnect();
      }
    }
    throw new Error('no sentinel answers');
  };
  return {
    name,
    sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
    primaryPort,
    pidOf: (port) => servers.get(port)!.pid,
    async kill(port) {
      const c = servers.get(port);
      if (!c || c.hasExited()) return;
      process.kill(c.pid, 'SIGKILL');
      await c.exited;
    },
    stop,
  };
}

function client(port: number): Redis {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000, enableOfflineQueue: true });
  r.on('error', () => {});
  return r;
}

async function info(port: number, ...cmd: string[]): Promise<string> {
  const r = client(port);
  try {
    return String(await r.call(cmd[0]!, ...cmd.slice(1)));
  } finally {
    r.disconnect();
  }
}

async function answers(port: number): Promise<boolean> {
  try {
    return (await info(port, 'PING')) === 'PONG';
  } catch {
    return false;
  }
}
