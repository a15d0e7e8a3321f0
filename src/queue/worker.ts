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
 * One holder per step: a host job runs its steps only while it knows it
 * holds both the job's BullMQ lock and its per-host lease. When it cannot
 * renew either for most of its lifetime (Redis gone, or restarted and
 * emptied), it kills the running step and gives the job up without
 * recording anything, so a worker that takes the job over never runs a step
 * at the same time as this one.
 *
 * Host-changing steps (`changes: true`) run at most once per approval: the
 * worker records "approved and started" before running one. A job resumed
 * after a crash that finds such a step started but not finished records it
 * as an error — "interrupted; not re-run without a new approval" — and never
 * runs it again by itself (the operator starts a new run to try again).
 *
 * Deliberately left out: deciding what to run (the producer and `prepareRun`)
 * and chat. Errors that retrying cannot fix (config or runbook no longer
 * valid) are `UnrecoverableError`s.
 */
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { LoadedConfig } from '../config.ts';
import { retentionPolicy } from '../config/redis.ts';
import { isTriageError } from '../errors.ts';
import { publishRunEnd, publishStep } from '../ops/events.ts';
import type { Executor } from '../executors/executor.ts';
import { createExecutor } from '../executors/index.ts';
import { diagnose, runHost } from '../runbooks/engine.ts';
import type { RunbookLibrary } from '../runbooks/loader.ts';
import { defaultRedactor, type Redactor, redactedErrorText } from '../redact.ts';
import { resolveSecretParams } from '../runbooks/params.ts';
import { prepareRun, type RunPlan } from '../runbooks/prepare.ts';
import type { HostResult, RunResult, StepResult } from '../runbooks/result.ts';
import type { Approval } from '../runbooks/remediation.ts';
import type { Step } from '../runbooks/schema.ts';
import { blankTemplate } from '../runbooks/template.ts';
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
import { HostSlots } from './host-slots.ts';
import { keyPrefix, type RedisHandle, redisLost } from './redis.ts';
import { RedisWatch, within } from './redis-watch.ts';
import { type RetentionOptions, type RetentionSweeper, type SweepReport, startRetention } from './retention.ts';
import { RunStore } from './store.ts';

/** Starting up gives up once Redis has been unreachable this long. */
const REDIS_DOWN_MS = 5000;

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
  /**
   * Retention sweeps (the config's `retention:`; see retention.ts): more
   * collections to sweep (another module's history), or `false` for none.
   */
  retention?: false | { extra?: RetentionOptions['extra']; onSwept?: (r: SweepReport) => void };
}

/** A running worker. */
export interface TriageWorker {
  readonly zones: string[];
  /** The periodic retention sweep this worker takes part in (absent with `retention: false`). */
  readonly retention?: RetentionSweeper;
  /**
   * Swaps in a reloaded config and runbooks: runs started after it use them
   * (a removed target is refused), runs in flight keep the plan they were
   * prepared with. Zones are fixed at start: returns the zones of the new
   * config that this worker does not serve.
   */
  reload(next: { config: LoadedConfig; library: RunbookLibrary }): { unservedZones: string[] };
  /**
   * Stops taking jobs and waits for in-flight ones; resolves within `graceMs`
   * (default 30 s) even when Redis is gone. Work not finished by then is
   * handed back (it stalls and another worker resumes it from the last
   * persisted step). While Redis is unreachable nothing in flight can be
   * recorded, so it does not wait for it.
   */
  close(graceMs?: number): Promise<void>;
}

/** Starts a worker for the given zones. */
export async function startWorker(o: WorkerOptions): Promise<TriageWorker> {
  const prefix = keyPrefix(o.redis, o.prefix ?? 'triage');
  const report = quietRepeats((e: Error) => o.onError?.(e));
  const conn = o.redis.client();
  conn.on('error', report);
  conn.on('ready', report.reset);
  const watch = new RedisWatch(conn);
  const policy = retentionPolicy(o.config.config.retention);
  // Keys outlive the age limit a little, so retention (which leaves a tombstone) usually removes them first.
  const store = new RunStore(conn, prefix, { ttlS: policy.runs.maxAgeMs / 1000 + 86_400, eventsMaxLen: policy.events.maxLen });
  const executor = o.executor ?? createExecutor();
  const ownsExecutor = !o.executor;
  const zones = o.zones?.length ? o.zones : allZones(o.config);
  // Replaced by reload(); plans already made (runs in flight) keep what they were made from.
  let config = o.config;
  let library = o.library;
  const running = new Map<string, Set<AbortController>>();
  const waitingApprovals = new Map<string, Set<Redis>>();
  const lockMs = o.lockDurationMs ?? 30_000;
  const slots = new HostSlots(conn, prefix, { limit: o.perHostLimit ?? 2, leaseMs: lockMs });
  /** Host jobs in flight: when this worker last knew it held each one's lock. */
  const locks = new Map<string, { renewedAt: number; lost: AbortController }>();
  let closing = false;

  // Cancels reach every worker through pub/sub.
  const sub = o.redis.client();
  sub.on('error', () => {});
  if (!(await untilOr(sub.subscribe(store.cancelChannel), Date.now() + 30_000, () => watch.downForMs() > REDIS_DOWN_MS))) {
    sub.disconnect();
    conn.disconnect();
    throw redisLost(o.redis.url, watch.downForMs());
  }
  sub.on('message', (_ch, runId: string) => {
    for (const ac of running.get(runId) ?? []) ac.abort();
    for (const c of waitingApprovals.get(runId) ?? []) c.disconnect();
  });

  const common = {
    connection: conn,
    prefix,
    stalledInterval: o.stalledIntervalMs ?? 15_000,
    lockDuration: lockMs,
    // Renewals every lockMs/8..lockMs/4 leave room under load before the lock-loss check (3/4 of lockMs) fires.
    lockRenewTime: Math.max(50, Math.floor(lockMs / 4)),
    maxStalledCount: 2,
  };

  const plans = new Map<string, RunPlan>();
  // Each run's redaction scope: its secret params and what its steps taught it. Dropped with the plan when the run
  // ends here; a worker that only ran host jobs keeps at most 500 (what it stored is redacted already).
  const scopes = new Map<string, Redactor>();
  const scopeFor = (runId: string): Redactor => {
    const known = scopes.get(runId);
    if (known) return known;
    const scope = defaultRedactor.scope();
    scopes.set(runId, scope);
    return scope;
  };
  const dropRun = (runId: string) => {
    plans.delete(runId);
    scopes.get(runId)?.clear();
    scopes.delete(runId);
  };
  const planFor = (d: { runId: string; runbook: string; target: string; host?: string; params: Record<string, string> }): RunPlan => {
    const cached = plans.get(d.runId);
    if (cached) return cached;
    try {
      const prepared = prepareRun(config, library, { runbook: d.runbook, target: d.target, host: d.host, params: d.params }, o.env);
      const plan = { ...prepared, params: resolveSecretParams(prepared.runbook, prepared.params, o.env ?? process.env, scopeFor(d.runId)) };
      plans.set(d.runId, plan);
      if (plans.size > 500) dropRun(plans.keys().next().value!);
      return plan;
    } catch (e) {
      // The config or runbooks changed under the run: retrying cannot help.
      throw isTriageError(e) ? new UnrecoverableError(redactedErrorText(e)) : e;
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
          const lock = { renewedAt: Date.now(), lost: new AbortController() };
          locks.set(job.id!, lock);
          const order = plan.runbook.steps.map((s) => s.id);
          const done = await store.steps(d.runId, host.name, order);
          // A changing step that started and never finished is not run again without a new approval.
          for (const stepId of await store.startedSteps(d.runId, host.name)) {
            const step = plan.runbook.steps.find((s) => s.id === stepId);
            if (!step || done.some((s) => s.id === stepId)) continue;
            const r = interrupted(step);
            if (await store.recordStep(d.runId, host.name, r)) done.push(r);
          }
          const ac = new AbortController();
          // Cancelled before this host started: the engine records the remaining steps as skipped.
          if (await store.isCancelled(d.runId)) ac.abort();
          else await store.setState(d.runId, 'running');
          const set = running.get(d.runId) ?? new Set<AbortController>();
          running.set(d.runId, set);
          set.add(ac);
          try {
            return await slots.run(
              host.name,
              async (lease) => {
                const lostHold = AbortSignal.any([lock.lost.signal, lease]);
                const gone = (): Error | undefined =>
                  lostHold.aborted ? (lease.aborted ? (lease.reason as Error) : new LockLostError(job.id!)) : undefined;
                // Step records are sent as each result arrives and pipelined on the one connection (Redis
                // applies them in order): a batch's results do not wait a round trip each. The job ends only
                // once every record is acknowledged, and a changing step waits for the ones before it.
                let recorded: Promise<unknown> = Promise.resolve();
                const result = await runHost({
                  runbook: plan.runbook,
                  target: plan.target,
                  host,
                  params: plan.params,
                  redactor: scopeFor(d.runId),
                  executor,
                  signatures: library.signatures,
                  signal: AbortSignal.any([ac.signal, lostHold]),
                  done,
                  onStep: (s) => {
                    // Lost the job or the host: record nothing; whoever holds it now runs this step.
                    const why = gone();
                    if (why) throw why;
                    // Told once per step, however often a retry records it.
                    const sent = store.recordStep(d.runId, host.name, s).then((first) => {
                      if (first) publishStep({ runId: d.runId, runbook: d.runbook, target: d.target, host: host.name, step: s.id, status: s.status, durationMs: s.durationMs });
                    });
                    recorded = Promise.all([recorded, sent]);
                    // A failed record fails the job (it is retried and resumes after what was stored) without waiting here.
                    recorded.catch(() => {});
                  },
                  approve: async (step) => {
                    await recorded;
                    const answer: Approval = d.approved?.includes(step.id)
                      ? { approved: true, by: d.requestedBy }
                      : d.approvals === 'given'
                        ? { approved: false, reason: `needs approval: re-run with --approve ${step.id}` }
                        : await waitForApproval(d.runId, host.name, step);
                    const why = gone();
                    if (why) throw why;
                    if (answer.approved) await store.markStarted(d.runId, host.name, step.id);
                    return answer;
                  },
                });
                await recorded;
                return result;
              },
              ac.signal,
            );
          } finally {
            locks.delete(job.id!);
            set.delete(ac);
            if (!set.size) running.delete(d.runId);
          }
        },
        { ...common, concurrency: o.concurrency ?? 8 },
      ),
  );

  // BullMQ renews each job's lock every lockMs/8..lockMs/4. Past 3/4 of lockMs without a renewal the lock may
  // be gone (another worker can take the job): stop the step before that can happen.
  for (const w of hostWorkers) {
    w.on('locksRenewed', ({ jobIds }: { jobIds: string[] }) => {
      const now = Date.now();
      for (const id of jobIds) {
        const l = locks.get(id);
        if (l) l.renewedAt = now;
      }
    });
    w.on('lockRenewalFailed', (jobIds: string[]) => {
      for (const id of jobIds) locks.get(id)?.lost.abort(new LockLostError(id));
    });
  }
  const lockCheck = setInterval(
    () => {
      const now = Date.now();
      for (const [id, l] of locks) if (now - l.renewedAt > lockMs * 0.75) l.lost.abort(new LockLostError(id));
    },
    Math.max(25, Math.floor(lockMs / 10)),
  );
  lockCheck.unref();

  const waitForApproval = async (runId: string, host: string, step: Step): Promise<Approval> => {
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
        if (await store.isEnded(runId)) return { approved: false, reason: 'the run ended before anyone approved it' };
        const r = await c.blpop(store.approvalKey(runId, host, step.id), 2).catch(() => null);
        if (r) {
          const answer = JSON.parse(r[1]) as { approved: boolean; by?: string };
          await store.setState(runId, 'running');
          return answer.approved
            ? { approved: true, ...(typeof answer.by === 'string' ? { by: answer.by } : {}) }
            : { approved: false, reason: `refused${typeof answer.by === 'string' ? ` by ${answer.by}` : ''}` };
        }
      }
      return { approved: false, reason: `needs approval: nobody approved it within ${Math.round((o.approvalTimeoutMs ?? 15 * 60_000) / 60_000)} min` };
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
        const message = `work lost after ${HOST_JOB_ATTEMPTS} attempts: ${reason}`;
        const finished = await store.steps(d.runId, hostName, plan.runbook.steps.map((s) => s.id));
        byHost.set(hostName, {
          host: hostName,
          reachable: false,
          error: { code: 'WORK_LOST', message },
          // Every step, in runbook order: the ones that never finished say so instead of going missing.
          steps: plan.runbook.steps.map((s) => finished.find((r) => r.id === s.id) ?? notFinished(s, message)),
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
        redactor: scopeFor(d.runId),
      });
      const state = lost.length ? 'failed' : 'done';
      const now = await store.get(d.runId);
      if (now?.state === 'cancelled') {
        // A cancelled run did not finish its checks: no verdict, but keep what was found.
        result.status = 'error';
        result.cause = null;
        result.summary = `${now.reason ?? 'cancelled'} before it finished`;
      }
      const first = await store.finalize(d.runId, result, state, lost.length ? `work lost on ${lost.join('; ')}` : '');
      dropRun(d.runId);
      if (first) publishRunEnd({ runId: d.runId, runbook: d.runbook, target: d.target, status: result.status, state: now?.state === 'cancelled' ? 'cancelled' : state, cause: result.cause, durationMs: result.durationMs });
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
      summary: `run failed: ${scopeFor(d.runId).redactMessage(err.message)}`,
      findings: [],
      hosts: [],
      startedAt: new Date(job.timestamp).toISOString(),
      durationMs: Date.now() - job.timestamp,
    };
    const first = await store.finalize(d.runId, result, 'failed', scopeFor(d.runId).redactMessage(err.message)).catch((e) => {
      o.onError?.(e);
      return false;
    });
    dropRun(d.runId);
    if (first) publishRunEnd({ runId: d.runId, runbook: d.runbook, target: d.target, status: 'error', state: 'failed', cause: null, durationMs: result.durationMs });
  });
  for (const w of [...hostWorkers, runWorker]) w.on('error', report);

  const ready = Promise.all([...hostWorkers, runWorker].map((w) => w.waitUntilReady()));
  if (!(await untilOr(ready, Date.now() + 30_000, () => watch.downForMs() > REDIS_DOWN_MS))) {
    clearInterval(lockCheck);
    for (const w of [...hostWorkers, runWorker]) void w.close(true).catch(() => {});
    sub.disconnect();
    conn.disconnect();
    throw redisLost(o.redis.url, watch.downForMs());
  }

  const retention =
    o.retention === false
      ? undefined
      : startRetention({ redis: conn, prefix, policy, queues: [RUNS_QUEUE, ...zones.map(hostQueueName)], up: () => watch.up, onError: report, ...(o.retention?.extra ? { extra: o.retention.extra } : {}), ...(o.retention?.onSwept ? { onSwept: o.retention.onSwept } : {}) });

  let closing$: Promise<void> | undefined;
  return {
    zones,
    ...(retention ? { retention } : {}),
    reload(next) {
      config = next.config;
      library = next.library;
      return { unservedZones: allZones(next.config).filter((z) => !zones.includes(z) && !o.zones?.length) };
    },
    close(graceMs = 30_000) {
      closing$ ??= (async () => {
        closing = true;
        await retention?.stop();
        const deadline = Date.now() + graceMs;
        for (const set of waitingApprovals.values()) for (const c of set) c.disconnect();
        const all = [...hostWorkers, runWorker];
        const graceful = Promise.all(all.map((w) => w.close())).then(
          () => true,
          () => true,
        );
        // Keep a little of the grace for handing work back and letting go of connections.
        const reserve = Math.min(2000, Math.floor(graceMs / 4));
        const redisGone = () => watch.downForMs() > 1000;
        // Without Redis nothing in flight can be recorded: waiting for it only burns the grace.
        const soon = (until: number) => (redisGone() ? Math.min(until, Date.now() + 300) : until);
        let finished = await untilOr(graceful, deadline - reserve, redisGone);
        if (!finished) {
          // Hand the work back: kill our steps; the jobs stall and another worker resumes them.
          for (const set of running.values()) for (const ac of set) ac.abort();
          finished = await untilOr(graceful, soon(deadline - reserve / 2), () => false);
        }
        clearInterval(lockCheck);
        // Commands still waiting for Redis fail now instead of holding the exit.
        sub.disconnect();
        conn.disconnect();
        if (!finished) await untilOr(graceful, soon(deadline - reserve / 4), () => false);
        if (ownsExecutor) await within(executor.close(), Math.max(100, deadline - Date.now()), undefined).catch(() => {});
        watch.stop();
      })();
      return closing$;
    },
  };
}

/** Resolves true when `p` settles before `deadline`, false at the deadline or as soon as `giveUp()` holds. */
async function untilOr(p: Promise<unknown>, deadline: number, giveUp: () => boolean): Promise<boolean> {
  let settled = false;
  void p.then(() => {
    settled = true;
  });
  while (!settled) {
    const left = deadline - Date.now();
    if (left <= 0 || giveUp()) return false;
    await Promise.race([p, new Promise((r) => setTimeout(r, Math.min(50, left)))]);
  }
  return true;
}

/** The job's lock could not be renewed in time: another worker may hold the job now. */
export class LockLostError extends Error {
  override name = 'LockLostError';
  constructor(jobId: string) {
    super(`lost the lock on job ${jobId} (Redis unreachable or restarted); stopped its step and handed it back`);
  }
}

function interrupted(step: Step): StepResult {
  return {
    id: step.id,
    title: blankTemplate(step.title),
    status: 'error',
    exitCode: null,
    durationMs: 0,
    output: '',
    reason: 'interrupted; not re-run without a new approval',
    errorCode: 'RUN_FAILED',
  };
}

function notFinished(step: Step, reason: string): StepResult {
  return { id: step.id, title: blankTemplate(step.title), status: 'error', exitCode: null, durationMs: 0, output: '', reason, errorCode: 'WORK_LOST' };
}

/** An error reporter that says each distinct problem once until `reset()` (a reconnect loop repeats itself). */
function quietRepeats(report: (e: Error) => void): ((e: Error) => void) & { reset: () => void } {
  const seen = new Set<string>();
  const f = (e: Error) => {
    if (seen.has(e.message)) return;
    if (seen.size < 50) seen.add(e.message);
    report(e);
  };
  return Object.assign(f, { reset: () => seen.clear() });
}

function allZones(loaded: LoadedConfig): string[] {
  const zones = new Set<string>(['default']);
  for (const h of Object.values(loaded.config.hosts)) zones.add((h as { zone?: string }).zone ?? 'default');
  return [...zones].sort();
}

function lostHost(host: string, reason: string): HostResult {
  return { host, reachable: false, error: { code: 'WORK_LOST', message: reason }, steps: [] };
}
