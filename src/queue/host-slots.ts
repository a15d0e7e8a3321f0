/**
 * A per-host limit shared by every worker: at most `limit` host jobs run
 * against the same host at once, across the whole fleet of workers, so a
 * sick host is not hammered when many runs (or many workers) point at it.
 *
 * Each holder leases a slot in a sorted set scored by its expiry; the lease
 * is renewed while held, so a worker killed with SIGKILL frees its slots
 * when the lease runs out.
 *
 * Redis may lose leases (restarted without persistence) or be unreachable
 * for longer than a lease. A renewal that finds its lease gone takes it again
 * when there is room (so the lease survives a restart); when there is no
 * room, or no renewal got through for 3/4 of the lease, the holder's `lease`
 * signal aborts: it must stop working on the host, because someone else may
 * hold the slot by now.
 *
 * Deliberately left out: fairness between waiters (they poll) and per-run
 * priorities.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { evalScript } from './redis-script.ts';

const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0`;

const RENEW = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0`;

/** The holder can no longer be sure it holds its slot on the host. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
  constructor(host: string, why: string) {
    super(`lost the lease on host ${host} (${why}); stopped its step and handed the job back`);
  }
}

/** Options for {@link HostSlots}. */
export interface HostSlotsOptions {
  /** Jobs per host at once, across all workers. Default 2. */
  limit?: number;
  /** Lease length; renewed every quarter of it while held. Default 30 000 ms. */
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

  /**
   * Runs `fn` while holding one of the host's slots; waits for a slot first
   * (or until `signal` aborts). `fn` gets a `lease` signal that aborts with a
   * {@link LeaseLostError} when the slot may no longer be ours.
   */
  async run<T>(host: string, fn: (lease: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const token = randomBytes(8).toString('hex');
    const key = this.key(host);
    const lease = new AbortController();
    for (;;) {
      const now = Date.now();
      const got = await evalScript(this.redis, ACQUIRE, 1, key, String(now), String(this.limit), String(now + this.leaseMs), token, String(this.leaseMs * 2));
      if (got === 1) break;
      if (signal?.aborted) return fn(lease.signal); // a cancelled job only records skipped steps: no load on the host
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
    let renewedAt = Date.now();
    let pending = false;
    const renew = setInterval(
      () => {
        if (Date.now() - renewedAt > this.leaseMs * 0.75) lease.abort(new LeaseLostError(host, `no renewal for ${Date.now() - renewedAt} ms`));
        if (pending || lease.signal.aborted) return;
        pending = true;
        const now = Date.now();
        evalScript(this.redis, RENEW, 1, key, String(now), String(this.limit), String(now + this.leaseMs), token, String(this.leaseMs * 2))
          .then(
            (r) => {
              if (r === 1) renewedAt = now;
              else lease.abort(new LeaseLostError(host, 'Redis lost it and the slots are taken'));
            },
            () => {},
          )
          .finally(() => {
            pending = false;
          });
      },
      Math.max(25, Math.floor(this.leaseMs / 4)),
    );
    renew.unref();
    try {
      return await fn(lease.signal);
    } finally {
      clearInterval(renew);
      this.redis.zrem(key, token).catch(() => {});
    }
  }
}
