/**
 * The queue worker: takes `host` jobs for its zones and `run` parent jobs,
 * drives the engine, and persists every step as it finishes.
 *
 * Crash safety: a host job persists each step (exactly once) before the next
 * starts. If the worker dies, BullMQ's stalled-job check hands the job to
 * another worker, which reads the finished steps back and resumes after them.
 * A host whose work is lost beyond retries is recorded by the parent, and the
 * run ends `failed` with the reason — never stuck `running`.
 *
 * Deliberately left out: deciding what to run (the producer and `prepareRun`)
 * and chat. Errors that retrying cannot fix (config or runbook no longer
 * valid) are `UnrecoverableError`s.
 */
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { LoadedConfig } from '../config.ts';
import { isTriageError } from '../errors.ts';
import type { Executor } from '../executors/executor.ts';
import { createExecutor } from '../executors/index.ts';
import { diagnose, runHost } from '../runbooks/engine.ts';
import type { RunbookLibrary } from '../runbooks/loader.ts';
import { resolveSecretParams } from '../runbooks/params.ts';
import { prepareRun, type RunPlan } from '../runbooks/prepare.ts';
import type { HostResult, RunResult } from '../runbooks/result.ts';
import type { Step } from '../runbooks/schema.ts';
import {
  HOST_JOB_ATTEMPTS,
  type HostJobData,
  type HostJobResult,
  hostQueueName,
  JobNames,
  RUN_JOB_ATTEMPTS,
  type RunJobData,
  type RunJobResult,
  RUNS_QUEUE,
} from './jobs.ts';
import type { RedisHandle } from './redis.ts';
import { HostSlots } from './host-slots.ts';
import { RunStore } from './store.ts';

/** Options for {@link startWorker}. */
export interface WorkerOptions {
  redis: RedisHandle;
  /** Key prefix shared with the producer. Default `triage`. */
  prefix?: string;
  config: LoadedConfig;
  library: RunbookLibrary;
  /** Zones whose hosts this worker serves. Default: every zone in the config. */
  zones?: string[];
  /** Host jobs run at once by this worker. Default 8. */
  concurrency?: number;
  /** Host jobs for the same host at once across ALL workers, so a sick host is not hammered. Default 2. */
  perHostLimit?: number;
  /** Default: SSH + local. */
  executor?: Executor;
  /** How often BullMQ looks for jobs whose worker died. Default 15 000 ms. */
  stalledIntervalMs?: number;
  /** How long a job's lock lives without renewal. Default 30 000 ms. */
  lockDurationMs?: number;
  /** How long a host-changing step waits for an operator. Default 15 minutes. */
  approvalTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Called for worker-level problems (logged by the CLI). */
  onError?: (err: Error) => void;
}

/** A running worker. */
export interface TriageWorker {
  readonly zones: string[];
  /**
   * Stops taking jobs and waits for in-flight ones up to `graceMs` (default
   * 30 s); after that they are handed back (they stall and another worker
   * resumes them from the last persisted step).
   */
  close(graceMs?: number): Promise<void>;
}

/** Starts a worker for the given zones. */
export async function startWorker(o: WorkerOptions): Promise<TriageWorker> {
  const prefix = o.prefix ?? 'triage';
  const conn = o.redis.client();
  conn.on('error', (e) => o.onError?.(e));
  const store = new RunStore(conn, prefix);
  const executor = o.executor ?? createExecutor();
  const ownsExecutor = !o.executor;
  const zones = o.zones?.length ? o.zones : allZones(o.config);
  const running = new Map<string, Set<AbortController>>();
  const waitingApprovals = new Map<string, Set<Redis>>();
  const slots = new HostSlots(conn, prefix, { limit: o.perHostLimit ?? 2, leaseMs: o.lockDurationMs ?? 30_000 });
  let closing = false;

  // Cancels reach every worker through pub/sub.
  const sub = o.redis.client();
  sub.on('error', () => {});
  await sub.subscribe(store.cancelChannel);
  sub.on('message', (_ch, runId: string) => {
    for (const ac of running.get(runId) ?? []) ac.abort();
    for (const c of waitingApprovals.get(runId) ?? []) c.disconnect();
  });

  const common = {
    connection: conn,
    prefix,
    stalledInterval: o.stalledIntervalMs ?? 15_000,
    lockDuration: o.lockDurationMs ?? 30_000,
    maxStalledCount: 2,
  };

  const plans = new Map<string, RunPlan>();
  const planFor = (d: { runId: string; runbook: string; target: string; host?: string; params: Record<string, string> }): RunPlan => {
    const cached = plans.get(d.runId);
    if (cached) return cached;
    try {
      const prepared = prepareRun(o.config, o.library, { runbook: d.runbook, target: d.target, host: d.host, params: d.params }, o.env);
      const plan = { ...prepared, params: resolveSecretParams(prepared.runbook, prepared.params, o.env ?? process.env) };
      plans.set(d.runId, plan);
      if (plans.size > 500) plans.delete(plans.keys().next().value!);
      return plan;
    } catch (e) {
      // The config or runbooks changed under the run: retrying cannot help.
      throw isTriageError(e) ? new UnrecoverableError(e.toLine()) : e;
    }
  };

  const hostWorkers = zones.map(
    (zone) =>
      new Worker<HostJobData, HostJobResult>(
        hostQueueName(zone),
        async (job) => {
          const d = job.data;
          const plan = planFor(d);
          const host = plan.hosts.find((h) => h.name === d.hostName);
          if (!host) throw new UnrecoverableError(`host ${d.hostName} is no longer in target ${d.target}`);
          const done = await store.steps(d.runId, host.name);
          const ac = new AbortController();
          // Cancelled before this host started: the engine records the remaining steps as skipped.
          if (await store.isCancelled(d.runId)) ac.abort();
          else await store.setState(d.runId, 'running');
          const set = running.get(d.runId) ?? new Set<AbortController>();
          running.set(d.runId, set);
          set.add(ac);
          try {
            return await slots.run(host.name, () =>
              runHost({
                runbook: plan.runbook,
                target: plan.target,
                host,
                params: plan.params,
                executor,
                signal: ac.signal,
                done,
                onStep: async (s) => {
                  await store.recordStep(d.runId, host.name, s);
                },
                approve: (step) => waitForApproval(d.runId, host.name, step),
              }),
              ac.signal,
            );
          } finally {
            set.delete(ac);
            if (!set.size) running.delete(d.runId);
          }
        },
        { ...common, concurrency: o.concurrency ?? 8 },
      ),
  );

  const waitForApproval = async (runId: string, host: string, step: Step): Promise<boolean> => {
    await store.announceApproval(runId, host, step.id, step.title);
    await store.setState(runId, 'waiting-approval');
    const c = o.redis.client();
    c.on('error', () => {});
    const set = waitingApprovals.get(runId) ?? new Set<Redis>();
    waitingApprovals.set(runId, set);
    set.add(c);
    try {
      const deadline = Date.now() + (o.approvalTimeoutMs ?? 15 * 60_000);
      while (Date.now() < deadline) {
        // Stopping: hand the job back; the next worker resumes after the persisted steps and asks again.
        if (closing) throw new Error('worker stopping while waiting for approval; handed back');
        if (await store.isEnded(runId)) return false;
        const r = await c.blpop(store.approvalKey(runId, host, step.id), 2).catch(() => null);
        if (r) {
          const answer = JSON.parse(r[1]) as { approved: boolean };
          await store.setState(runId, 'running');
          return answer.approved;
        }
      }
      return false;
    } finally {
      set.delete(c);
      if (!set.size) waitingApprovals.delete(runId);
      c.disconnect();
    }
  };

  const runWorker = new Worker<RunJobData, RunJobResult>(
    RUNS_QUEUE,
    async (job) => {
      const d = job.data;
      const record = await store.get(d.runId);
      const startedAt = record?.createdAt ?? new Date(job.timestamp).toISOString();
      const children = (await job.getChildrenValues()) as Record<string, HostResult>;
      const failures = await job.getIgnoredChildrenFailures();
      const plan = planFor(d);
      const byHost = new Map<string, HostResult>();
      for (const v of Object.values(children)) byHost.set(v.host, v);
      const lost: string[] = [];
      for (const [key, reason] of Object.entries(failures)) {
        const hostName = key.slice(key.lastIndexOf(`${d.runId}.`) + d.runId.length + 1);
        lost.push(`${hostName}: ${reason}`);
        byHost.set(hostName, {
          host: hostName,
          reachable: false,
          error: { code: 'WORK_LOST', message: `work lost after ${HOST_JOB_ATTEMPTS} attempts: ${reason}` },
          steps: await store.steps(d.runId, hostName),
        });
      }
      const hosts = d.hosts.map((h) => byHost.get(h) ?? lostHost(h, 'no result'));
      const result = diagnose({
        runId: d.runId,
        runbook: plan.runbook,
        target: plan.target,
        hostSpecs: plan.hosts,
        params: plan.params,
        hosts,
        startedAt,
        durationMs: Date.now() - Date.parse(startedAt),
      });
      const state = lost.length ? 'failed' : 'done';
      const now = await store.get(d.runId);
      if (now?.state === 'cancelled') {
        // A cancelled run did not finish its checks: no verdict, but keep what was found.
        result.status = 'error';
        result.cause = null;
        result.summary = `${now.reason ?? 'cancelled'} before it finished`;
      }
      await store.finalize(d.runId, result, state, lost.length ? `work lost on ${lost.join('; ')}` : '');
      plans.delete(d.runId);
      return result;
    },
    { ...common, concurrency: 4 },
  );

  // A parent that fails for good still gets a final result, so the run never hangs `running`.
  runWorker.on('failed', async (job: Job<RunJobData> | undefined, err: Error) => {
    if (!job || job.name !== JobNames.run) return;
    const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? RUN_JOB_ATTEMPTS);
    if (!final) return;
    const d = job.data;
    const result: RunResult = {
      runId: d.runId,
      runbook: d.runbook,
      target: d.target,
      status: 'error',
      cause: null,
      summary: `run failed: ${err.message}`,
      findings: [],
      hosts: [],
      startedAt: new Date(job.timestamp).toISOString(),
      durationMs: Date.now() - job.timestamp,
    };
    await store.finalize(d.runId, result, 'failed', err.message).catch((e) => o.onError?.(e));
  });
  for (const w of [...hostWorkers, runWorker]) w.on('error', (e) => o.onError?.(e));

  await Promise.all([...hostWorkers, runWorker].map((w) => w.waitUntilReady()));

  let closed = false;
  return {
    zones,
    async close(graceMs = 30_000) {
      if (closed) return;
      closed = true;
      closing = true;
      for (const set of waitingApprovals.values()) for (const c of set) c.disconnect();
      const all = [...hostWorkers, runWorker];
      const graceful = Promise.all(all.map((w) => w.close()));
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
      if ((await Promise.race([graceful, timer])) === 'timeout') {
        // Hand the work back: abort our steps; the jobs stall and another worker resumes them.
        for (const set of running.values()) for (const ac of set) ac.abort();
        await Promise.all(all.map((w) => w.close(true)));
      }
      sub.disconnect();
      conn.disconnect();
      if (ownsExecutor) await executor.close();
    },
  };
}

function allZones(loaded: LoadedConfig): string[] {
  const zones = new Set<string>(['default']);
  for (const h of Object.values(loaded.config.hosts)) zones.add((h as { zone?: string }).zone ?? 'default');
  return [...zones].sort();
}

function lostHost(host: string, reason: string): HostResult {
  return { host, reachable: false, error: { code: 'WORK_LOST', message: reason }, steps: [] };
}
