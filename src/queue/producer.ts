/**
 * The client side of the queue: submit runs, follow their progress, cancel,
 * approve, read status. Used by the CLI, chat and schedules alike.
 *
 * Deliberately left out: running anything (that is the worker's job) and
 * checking requests (call `prepareRun` first — `submit` takes a checked plan).
 */
import { FlowProducer, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Keep, type RetentionConfig, retentionPolicy } from '../config/redis.ts';
import { TriageError } from '../errors.ts';
import { publishRunQueued } from '../ops/events.ts';
import { newRunId, type RunPlan } from '../runbooks/prepare.ts';
import { HOST_JOB_ATTEMPTS, hostQueueName, JobNames, RUN_JOB_ATTEMPTS, RUNS_QUEUE, type RunEvent, type RunJobData, type RunRequestData } from './jobs.ts';
import { keyPrefix, type RedisHandle, redisLost } from './redis.ts';
import { RedisWatch, within } from './redis-watch.ts';
import { ageText, removedByRetention } from './retention.ts';
import { type RunRecord, RunStore } from './store.ts';

/** Options for {@link RunQueue}. */
export interface RunQueueOptions {
  redis: RedisHandle;
  /** Key prefix for BullMQ and Triage keys. Default `triage`. Tests use a unique one. In a Cluster it is put in a hash tag ({@link keyPrefix}). */
  prefix?: string;
  /** The config's `retention:` (BullMQ's removeOnComplete/removeOnFail come from `jobs`). Default: its defaults. */
  retention?: RetentionConfig;
}

/** Options for {@link RunQueue.submit}. */
export interface SubmitOptions {
  requestedBy: string;
  replyTo?: string;
  /** A second submit with the same key within an hour returns the first run. */
  idempotencyKey?: string;
  /** The words the run was asked with (kept for status and re-runs). */
  params?: Record<string, string>;
  host?: string;
  /** Host-changing steps `requestedBy` approves up front (see {@link RunRequestData.approved}). */
  approved?: string[];
  /** Whether changing steps not in `approved` wait for chat (`ask`, default) or are skipped (`given`). */
  approvals?: 'ask' | 'given';
}

export class RunQueue {
  readonly store: RunStore;
  readonly prefix: string;
  private readonly conn: Redis;
  private readonly flow: FlowProducer;
  private readonly redis: RedisHandle;
  private readonly blocking: Redis[] = [];
  private readonly jobKeep: { removeOnComplete: { age: number; count: number }; removeOnFail: { age: number; count: number } };

  constructor(o: RunQueueOptions) {
    this.redis = o.redis;
    this.prefix = keyPrefix(o.redis, o.prefix ?? 'triage');
    this.conn = o.redis.client();
    this.conn.on('error', () => {});
    this.store = new RunStore(this.conn, this.prefix);
    this.flow = new FlowProducer({ connection: this.conn, prefix: this.prefix });
    const jobs = retentionPolicy(o.retention).jobs;
    const bull = (k: Keep) => ({ age: Math.ceil(k.maxAgeMs / 1000), count: k.maxCount });
    this.jobKeep = { removeOnComplete: bull(jobs.completed), removeOnFail: bull(jobs.failed) };
  }

  /**
   * Queues a run: a parent job and one child per host in the host's zone
   * queue. Returns the run id; `duplicate` when the idempotency key was
   * already used (then nothing new was queued).
   */
  async submit(plan: RunPlan, o: SubmitOptions): Promise<{ runId: string; duplicate: boolean }> {
    const fresh = newRunId();
    const runId = o.idempotencyKey ? await this.store.claim(o.idempotencyKey, fresh) : fresh;
    if (runId !== fresh) return { runId, duplicate: true };
    const req: RunRequestData = {
      runId,
      runbook: plan.runbook.name,
      target: plan.target.name,
      ...(o.host ? { host: o.host } : {}),
      params: o.params ?? Object.fromEntries(Object.entries(plan.params).map(([k, v]) => [k, String(v)])),
      requestedBy: o.requestedBy,
      ...(o.replyTo ? { replyTo: o.replyTo } : {}),
      ...(o.approved?.length ? { approved: o.approved } : {}),
      ...(o.approvals ? { approvals: o.approvals } : {}),
    };
    const data: RunJobData = { ...req, hosts: plan.hosts.map((h) => h.name) };
    await this.store.create(data);
    await this.flow.add({
      name: JobNames.run,
      queueName: RUNS_QUEUE,
      data,
      opts: { jobId: runId, attempts: RUN_JOB_ATTEMPTS, backoff: { type: 'fixed', delay: 500 }, ...this.jobKeep },
      children: plan.hosts.map((h) => ({
        name: JobNames.host,
        queueName: hostQueueName(h.zone ?? 'default'),
        data: { ...req, hostName: h.name },
        opts: {
          jobId: `${runId}.${h.name}`,
          attempts: HOST_JOB_ATTEMPTS,
          backoff: { type: 'fixed', delay: 500 },
          ignoreDependencyOnFailure: true,
          ...this.jobKeep,
        },
      })),
    });
    publishRunQueued({ runId, runbook: req.runbook, target: req.target, hosts: data.hosts, requestedBy: req.requestedBy });
    return { runId, duplicate: false };
  }

  /** The stored run, or `RUN_NOT_FOUND` (saying so when retention removed it). */
  async status(runId: string): Promise<RunRecord> {
    const r = await this.store.get(runId);
    if (r) return r;
    const removed = await removedByRetention(this.conn, this.prefix, runId);
    if (removed) {
      const why = removed.keep ? ` (runs are kept ${ageText(removed.keep.maxAgeMs)}, at most the newest ${removed.keep.maxCount})` : '';
      throw new TriageError('RUN_NOT_FOUND', `run ${runId.slice(0, 40)} was removed by retention on ${new Date(removed.atMs).toISOString()}${why}`, {
        fix: 'run it again for a fresh result; to keep runs longer, raise retention.runs.maxAge / maxCount in the config',
      });
    }
    throw new TriageError('RUN_NOT_FOUND', `no run "${runId.slice(0, 40)}"`, { fix: 'run ids look like r_… (see /status for recent runs)' });
  }

  /** Recent runs, newest first. */
  async recent(n = 10): Promise<RunRecord[]> {
    const ids = await this.store.recent(n);
    const out = await Promise.all(ids.map((id) => this.store.get(id)));
    return out.filter((r): r is RunRecord => r !== null);
  }

  /**
   * Stops a run: marks it cancelled and tells every worker to kill its running
   * steps; steps not started yet are skipped. Returns false when it had already ended.
   */
  async cancel(runId: string, by: string): Promise<boolean> {
    await this.status(runId);
    const changed = await this.store.setState(runId, 'cancelled', `cancelled by ${by}`);
    if (changed) await this.conn.publish(this.store.cancelChannel, runId);
    return changed;
  }

  /** Answers a pending approval of a host-changing step. */
  async approve(runId: string, host: string, stepId: string, by: string, approved = true): Promise<void> {
    await this.status(runId);
    const k = this.store.approvalKey(runId, host, stepId);
    await this.conn.multi().rpush(k, JSON.stringify({ approved, by })).expire(k, 3600).exec();
  }

  /**
   * Yields the run's events in order until its final result, starting after
   * `afterId` ('0' = from the beginning, so a reconnecting follower catches up
   * and sees nothing twice). Stops early when `signal` aborts.
   *
   * Redis going away does not end it by itself (it reconnects and carries on)
   * unless `redisDownMs` is set: then it throws `REDIS_UNAVAILABLE` once Redis
   * has been unreachable that long. A run whose record vanished (a Redis
   * restarted without persistence) throws `RUN_FAILED`.
   */
  async *follow(runId: string, opts: { afterId?: string; signal?: AbortSignal; redisDownMs?: number } = {}): AsyncGenerator<RunEvent> {
    const conn = this.redis.client();
    conn.on('error', () => {});
    const watch = new RedisWatch(conn);
    this.blocking.push(conn);
    let last = opts.afterId ?? '0';
    let gaveUp: TriageError | undefined;
    // A command sent while Redis is away neither fails nor answers (not even after disconnect()): race it.
    let halt: () => void = () => {};
    const halted = new Promise<'halted'>((r) => {
      halt = () => r('halted');
    });
    const drop = () => {
      halt();
      conn.disconnect();
    };
    if (opts.signal?.aborted) drop();
    opts.signal?.addEventListener('abort', drop, { once: true });
    const limit = opts.redisDownMs;
    const check =
      limit === undefined
        ? undefined
        : setInterval(() => {
            if (watch.downForMs() < limit) return;
            gaveUp = redisLost(this.redis.url, limit);
            drop();
          }, Math.min(250, Math.max(20, Math.floor(limit / 4))));
    check?.unref();
    const guarded = async <T>(p: Promise<T>): Promise<T> => {
      p.catch(() => {});
      const r = await Promise.race([p, halted]);
      if (r !== 'halted') return r as T;
      if (gaveUp) throw gaveUp;
      throw new Aborted();
    };
    let quiet = 0;
    try {
      for (;;) {
        if (opts.signal?.aborted) return;
        let events: RunEvent[];
        try {
          events = await guarded(this.store.events(runId, last, 1000, conn));
          if (!events.length && ++quiet % 5 === 0 && !(await guarded(conn.exists(this.store.key(runId))))) {
            // Gone because retention removed it (it had ended): say that, not "lost".
            if (await guarded(removedByRetention(conn, this.prefix, runId))) await guarded(this.status(runId));
            throw new TriageError('RUN_FAILED', `run ${runId} is gone from Redis (was Redis restarted without persistence?)`, {
              fix: 'run it again; give Redis persistence (appendonly yes) to keep runs across restarts',
            });
          }
        } catch (e) {
          if (gaveUp) throw gaveUp;
          if (opts.signal?.aborted || e instanceof Aborted) return;
          throw e;
        }
        for (const e of events) {
          last = e.id;
          yield e;
          if (e.type === 'final') return;
        }
      }
    } finally {
      if (check) clearInterval(check);
      opts.signal?.removeEventListener('abort', drop);
      watch.stop();
      conn.disconnect();
      const i = this.blocking.indexOf(conn);
      if (i >= 0) this.blocking.splice(i, 1);
    }
  }

  /**
   * Waits for the final result (or `timeoutMs`), calling `onEvent` for each
   * event on the way. Throws `REDIS_UNAVAILABLE` once Redis has been
   * unreachable for `redisDownMs` (default 5000 ms): a few seconds of
   * reconnecting, never minutes.
   */
  async wait(
    runId: string,
    o: { timeoutMs?: number; redisDownMs?: number; onEvent?: (e: RunEvent) => void | Promise<void> } = {},
  ): Promise<Extract<RunEvent, { type: 'final' }>> {
    const ac = new AbortController();
    const timer = o.timeoutMs ? setTimeout(() => ac.abort(), o.timeoutMs) : undefined;
    try {
      for await (const e of this.follow(runId, { signal: ac.signal, redisDownMs: o.redisDownMs ?? 5000 })) {
        await o.onEvent?.(e);
        if (e.type === 'final') return e;
      }
    } finally {
      if (timer) clearTimeout(timer);
    }
    const r = await within(this.status(runId), 2000, null);
    if (!r) throw redisLost(this.redis.url, 2000);
    throw new TriageError('RUN_FAILED', `run ${runId} did not finish in time (still ${r.state})`, {
      fix: r.state === 'queued' ? 'no worker took the work: start `triage worker` for the hosts’ zone' : 'see `triage status` later',
    });
  }

  /** A BullMQ view of one queue (for tests and ops). */
  queue(name: string): Queue {
    return new Queue(name, { connection: this.conn, prefix: this.prefix });
  }

  /** Lets go of every connection; bounded even when Redis is gone. */
  async close(): Promise<void> {
    for (const c of this.blocking.splice(0)) c.disconnect();
    await within(this.flow.close(), 1000, undefined).catch(() => {});
    this.conn.disconnect();
  }
}

class Aborted extends Error {
  override name = 'Aborted';
}
