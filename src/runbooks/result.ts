/**
 * The run result: what `triage run --json` prints, what the queue stores and
 * what chat renders. The shape is fixed by SPEC.md; fields may be added,
 * never change meaning.
 */
import { z } from 'zod';
import { SeveritySchema } from './schema.ts';

export const StepStatusSchema = z.enum(['pass', 'fail', 'warn', 'skipped', 'error', 'timeout']);
export type StepStatus = z.infer<typeof StepStatusSchema>;

export const StepResultSchema = z.object({
  id: z.string(),
  title: z.string(),
  status: StepStatusSchema,
  exitCode: z.number().int().nullable(),
  durationMs: z.number().int(),
  /** Redacted, truncated stdout + stderr. */
  output: z.string(),
  /** The step's one-line fact (its `summary` template), redacted. */
  summary: z.string().optional(),
  /** Why a step was skipped or errored, in words. */
  reason: z.string().optional(),
  /** For `error`: the stable error code (e.g. `SSH_HOSTKEY`). */
  errorCode: z.string().optional(),
  truncated: z.boolean().optional(),
  /** Values captured from output (redacted). */
  captures: z.record(z.string(), z.unknown()).optional(),
});
export type StepResult = z.infer<typeof StepResultSchema>;

export const FindingSchema = z.object({
  code: z.string(),
  severity: SeveritySchema,
  host: z.string(),
  title: z.string(),
  evidence: z.array(z.string()),
  fix: z.string(),
});
export type Finding = z.infer<typeof FindingSchema>;

export const HostResultSchema = z.object({
  host: z.string(),
  reachable: z.boolean(),
  /** Set when the host could not be used: connect, auth or host-key error. */
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  steps: z.array(StepResultSchema),
});
export type HostResult = z.infer<typeof HostResultSchema>;

export const RunStatusSchema = z.enum(['healthy', 'unhealthy', 'error']);
export type RunStatus = z.infer<typeof RunStatusSchema>;

export const RunResultSchema = z.object({
  runId: z.string(),
  runbook: z.string(),
  target: z.string(),
  status: RunStatusSchema,
  cause: z.string().nullable(),
  summary: z.string(),
  findings: z.array(FindingSchema),
  hosts: z.array(HostResultSchema),
  startedAt: z.string(),
  durationMs: z.number().int(),
});
export type RunResult = z.infer<typeof RunResultSchema>;

/** Checks failed but no rule of the runbook explains them (SPEC.md): never reported as healthy. */
export const INCONCLUSIVE = 'inconclusive';

/** Cause codes the engine itself yields, whatever the runbook. */
export const ENGINE_CAUSES = {
  /** Could not connect or authenticate. */
  hostUnreachable: 'host-unreachable',
  /** The host presented a key that does not match the pin / known_hosts: possible man-in-the-middle. */
  hostKeyMismatch: 'host-key-mismatch',
  /** A worker lost the host's work beyond retries (crashes, no worker for the zone). */
  workLost: 'work-lost',
} as const;
