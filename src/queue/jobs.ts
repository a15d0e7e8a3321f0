/**
 * The job model, in one place: every queue, job name and payload/result type.
 *
 * A run is a BullMQ flow: one `run` parent job in the runs queue and one
 * `host` child per host in that host's zone queue (`hosts-<zone>`), so hosts
 * run in parallel on whichever workers serve their zone. When every child is
 * done, the parent diagnoses across hosts and publishes the one final result.
 *
 * Children use `ignoreDependencyOnFailure`: a host whose work is lost beyond
 * retries never leaves the parent waiting — the parent records it and the run
 * ends `failed` with the reason.
 */
import type { HostResult, RunResult } from '../runbooks/result.ts';

/** Queue of parent jobs (any worker serves it). */
export const RUNS_QUEUE = 'runs';
/** Queue of host jobs for one zone. */
export const hostQueueName = (zone: string): string => `hosts-${zone}`;

export const JobNames = { run: 'run', host: 'host' } as const;

/** What was asked for (words, re-checked by the worker against its own config). */
export interface RunRequestData {
  runId: string;
  runbook: string;
  target: string;
  host?: string;
  params: Record<string, string>;
  /** Who asked (`cli:<user>`, `tg:123`, `slack:U1`). */
  requestedBy: string;
  /** Where results go (a chat place), if anywhere. */
  replyTo?: string;
  /** Host-changing steps approved up front by `requestedBy` (`triage run --approve STEP`). */
  approved?: string[];
  /**
   * `ask` (default): a changing step not in `approved` waits for an operator's
   * approval in chat. `given`: only the steps in `approved` run; the others
   * are skipped at once as needing approval (the CLI: nobody there to ask).
   */
  approvals?: 'ask' | 'given';
}

/** Payload of the `run` parent job. */
export type RunJobData = RunRequestData & { hosts: string[] };
/** Result of the `run` parent job. */
export type RunJobResult = RunResult;

/** Payload of a `host` child job. */
export interface HostJobData extends RunRequestData {
  hostName: string;
}
/** Result of a `host` child job. */
export type HostJobResult = HostResult;

/** Lifecycle of a run. */
export type RunState = 'queued' | 'running' | 'waiting-approval' | 'done' | 'cancelled' | 'failed';

/** Events on a run's stream, in order; `id` is the stream id (use it to resume). */
export type RunEvent =
  | { id: string; type: 'state'; state: RunState; reason?: string; at: string }
  | { id: string; type: 'step'; host: string; step: import('../runbooks/result.ts').StepResult; at: string }
  | { id: string; type: 'approval'; host: string; stepId: string; title: string; at: string }
  | { id: string; type: 'final'; result: RunResult; state: RunState; at: string };

/** Default job options: retries for crash recovery, and cleanup. */
export const HOST_JOB_ATTEMPTS = 3;
export const RUN_JOB_ATTEMPTS = 3;
