/**
 * Prometheus metrics of one bot or worker process (prom-client), served on
 * `/metrics` by the ops server. Counters follow the ops events
 * (events.ts); queue depth and age, Redis reachability and readiness are
 * read when scraped. Every series is listed in {@link METRIC_NAMES}, which
 * the tests hold the alert rules and the dashboard in deploy/ to.
 *
 * Labels are bounded by the config, never by input: runbook and step ids,
 * cause codes, queue names, platforms, outcomes and error reasons. Target
 * and host names are deliberately not labels (a fleet of hundreds would
 * multiply every series); logs carry them.
 *
 * Deliberately left out: a process-global registry (each instance owns one,
 * so two in one test process do not collide) and push gateways.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { subscribeOps } from './events.ts';
import type { QueueSample, QueueStats } from './queue-stats.ts';
import { QUEUE_STATES } from './queue-stats.ts';
import type { Readiness } from './readiness.ts';

/** Every metric Triage itself registers (process and Node.js runtime metrics come on top, from prom-client's defaults). */
export const METRIC_NAMES = [
  'triage_runs_queued_total',
  'triage_runs_total',
  'triage_run_causes_total',
  'triage_run_duration_seconds',
  'triage_step_duration_seconds',
  'triage_queue_jobs',
  'triage_queue_oldest_waiting_seconds',
  'triage_redis_up',
  'triage_ready',
  'triage_ssh_connect_failures_total',
  'triage_chat_sends_total',
  'triage_chat_rate_limited_total',
  'triage_chat_retries_total',
  'triage_config_reloads_total',
] as const;

/** Options for {@link OpsMetrics}. */
export interface OpsMetricsOptions {
  /** `bot` or `worker`: the `role` label on every series. */
  role: string;
  /** Queue depth and age; absent = no queue series. */
  queues?: QueueStats;
  /** Readiness, for `triage_ready`. */
  readiness?: Readiness;
  /** Node.js and process metrics (`process_*`, `nodejs_*`). Default true. */
  defaultMetrics?: boolean;
}

/** The metrics of one process. Call {@link OpsMetrics.close} to stop counting. */
export class OpsMetrics {
  readonly registry = new Registry();
  private readonly unsubscribe: () => void;
  private readonly reloads: Counter<'outcome'>;
  private scrape: { at: number; p: Promise<{ redisUp: boolean; queues: QueueSample[] }> } | undefined;

  constructor(private readonly o: OpsMetricsOptions) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ role: o.role });
    if (o.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    const queued = new Counter({ name: 'triage_runs_queued_total', help: 'Runs submitted to the queue, by runbook.', labelNames: ['runbook'], registers });
    const runs = new Counter({
      name: 'triage_runs_total',
      help: 'Runs that ended, by runbook and outcome (healthy, unhealthy, error, failed, cancelled).',
      labelNames: ['runbook', 'outcome'],
      registers,
    });
    const causes = new Counter({ name: 'triage_run_causes_total', help: 'Runs that ended with a cause code, by runbook and cause.', labelNames: ['runbook', 'cause'], registers });
    const runDuration = new Histogram({
      name: 'triage_run_duration_seconds',
      help: 'Time from submit to the final result, by runbook.',
      labelNames: ['runbook'],
      buckets: [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
      registers,
    });
    const stepDuration = new Histogram({
      name: 'triage_step_duration_seconds',
      help: 'Time a step took on a host, by runbook, step and status (pass, fail, warn, skipped, error, timeout).',
      labelNames: ['runbook', 'step', 'status'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    const sshFailures = new Counter({
      name: 'triage_ssh_connect_failures_total',
      help: 'SSH connections that could not be made, by reason (an errno code such as ECONNREFUSED, or timeout, auth, host-key, handshake).',
      labelNames: ['reason'],
      registers,
    });
    const sends = new Counter({
      name: 'triage_chat_sends_total',
      help: 'Chat operations (post, edit, upload, private) by platform, kind and outcome (sent, gave-up).',
      labelNames: ['platform', 'kind', 'outcome'],
      registers,
    });
    const limited = new Counter({ name: 'triage_chat_rate_limited_total', help: 'Chat API answers that said "too many requests" (429), by platform.', labelNames: ['platform'], registers });
    const retries = new Counter({ name: 'triage_chat_retries_total', help: 'Chat operations tried again after an error, by platform.', labelNames: ['platform'], registers });
    this.reloads = new Counter({ name: 'triage_config_reloads_total', help: 'Config reloads, by outcome (applied, refused).', labelNames: ['outcome'], registers });

    const sample = () => this.sampleQueues();
    new Gauge({
      name: 'triage_queue_jobs',
      help: 'Jobs in each queue by state (waiting, active, delayed, prioritized, waiting-children, failed).',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        const s = await sample();
        this.reset();
        for (const q of s.queues) for (const state of QUEUE_STATES) this.set({ queue: q.queue, state }, q.counts[state]);
      },
    });
    new Gauge({
      name: 'triage_queue_oldest_waiting_seconds',
      help: 'Age of the oldest job waiting in each queue (0 when none waits).',
      labelNames: ['queue'],
      registers,
      async collect() {
        const s = await sample();
        this.reset();
        for (const q of s.queues) this.set({ queue: q.queue }, q.oldestWaitingSeconds);
      },
    });
    new Gauge({
      name: 'triage_redis_up',
      help: '1 when Redis answered the last scrape, else 0.',
      registers,
      async collect() {
        this.set((await sample()).redisUp ? 1 : 0);
      },
    });
    const readiness = o.readiness;
    new Gauge({
      name: 'triage_ready',
      help: '1 when every readiness check passes (as /readyz answers 200), else 0.',
      registers,
      async collect() {
        this.set(readiness ? ((await readiness.check()).ready ? 1 : 0) : 1);
      },
    });

    this.unsubscribe = subscribeOps({
      runQueued: (e) => queued.inc({ runbook: e.runbook }),
      runEnd: (e) => {
        const outcome = e.state === 'failed' || e.state === 'cancelled' ? e.state : e.status;
        runs.inc({ runbook: e.runbook, outcome });
        if (e.cause) causes.inc({ runbook: e.runbook, cause: e.cause });
        runDuration.observe({ runbook: e.runbook }, Math.max(0, e.durationMs) / 1000);
      },
      step: (e) => stepDuration.observe({ runbook: e.runbook, step: e.step, status: e.status }, Math.max(0, e.durationMs) / 1000),
      sshConnectFailure: (e) => sshFailures.inc({ reason: e.reason }),
      chatSend: (e) => {
        if (e.outcome === 'sent' || e.outcome === 'gave-up') sends.inc({ platform: e.platform, kind: e.kind, outcome: e.outcome });
        else if (e.outcome === 'rate-limited') limited.inc({ platform: e.platform });
        else retries.inc({ platform: e.platform });
      },
    });
  }

  /** Counts one config reload. */
  recordReload(applied: boolean): void {
    this.reloads.inc({ outcome: applied ? 'applied' : 'refused' });
  }

  /** The text `/metrics` serves. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Stops counting events. */
  close(): void {
    this.unsubscribe();
  }

  /** One queue sample per scrape, shared by the gauges that need it. */
  private sampleQueues(): Promise<{ redisUp: boolean; queues: QueueSample[] }> {
    const now = Date.now();
    if (!this.o.queues) return Promise.resolve({ redisUp: true, queues: [] });
    if (this.scrape && now - this.scrape.at < 1000) return this.scrape.p;
    const p = this.o.queues.sample(now);
    this.scrape = { at: now, p };
    return p;
  }
}
