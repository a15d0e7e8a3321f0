/**
 * A per-host limit shared by every worker: at most `limit` host jobs run
 * against the same host at once, across the whole fleet of workers, so a
 * sick host is not hammered when many runs (or many workers) point at it.
 *
 * Each holder leases a slot in a sorted set scored by its expiry; the lease
 * is renewed while held, so a worker killed with SIGKILL frees its slots
 * when the lease runs out.
 *
 * Deliberately left out: fairness between waiters (they poll) and per-run
 * priorities.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0`;

/** Options for {@link HostSlots}. */
export interface HostSlotsOptions {
  /** Jobs per host at once, across all workers. Default 2. */
  limit?: number;
  /** Lease length; renewed every third of it while held. Default 30 000 ms. */
  leaseMs?: number;
  /** How often a waiter tries again. Default 200 ms. */
  pollMs?: number;
}

export class HostSlots {
  private readonly limit: number;
  private readonly leaseMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    o: HostSlotsOptions = {},
  ) {
    this.limit = o.limit ?? 2;
    this.leaseMs = o.leaseMs ?? 30_000;
    this.pollMs = o.pollMs ?? 200;
  }

  private key(host: string): string {
    return `${this.prefix}:hostslots:${host}`;
  }

  /** Runs `fn` while holding one of the host's slots; waits for a slot first (or until `signal` aborts). */
  async run<T>(host: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const token = randomBytes(8).toString('hex');
    const key = this.key(host);
    for (;;) {
      const now = Date.now();
      const got = await this.redis.eval(ACQUIRE, 1, key, String(now), String(this.limit), String(now + this.leaseMs), token, String(this.leaseMs * 2));
      if (got === 1) break;
      if (signal?.aborted) return fn(); // a cancelled job only records skipped steps: no load on the host
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
    const renew = setInterval(() => {
      this.redis.zadd(key, 'XX', Date.now() + this.leaseMs, token).catch(() => {});
    }, Math.max(100, Math.floor(this.leaseMs / 3)));
    renew.unref();
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      await this.redis.zrem(key, token).catch(() => {});
    }
  }
}
