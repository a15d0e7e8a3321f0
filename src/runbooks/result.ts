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
  /** For a step that changed the host: who approved it (`cli:alice`, `slack:U999`). */
  approvedBy: z.string().optional(),
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

/** One re-checked step: its status when the problem was found, and after the fix. */
export const RecheckResultSchema = z.object({
  id: z.string(),
  title: z.string(),
  before: StepStatusSchema,
  after: StepStatusSchema,
  /** The step's one-line fact after the fix (or its first output line). */
  summary: z.string().optional(),
});
export type RecheckResult = z.infer<typeof RecheckResultSchema>;

/**
 * What happened to the fix a host's most likely cause offered (its finding's
 * `remedy`). `outcome`: `worked` (ran, the re-check passed and the finding no
 * longer holds), `did-not-work` (ran, the re-check still shows a problem),
 * `needs-approval` (not run: nobody approved it), `interrupted` (a crash
 * stopped it; never re-run without a new approval), `cancelled`.
 */
export const RemediationSchema = z.object({
  host: z.string(),
  /** The finding (cause code) the fix is for. */
  finding: z.string(),
  /** The changing step's id, e.g. `restart` (what `--approve` and `/approve` name). */
  step: z.string(),
  title: z.string(),
  outcome: z.enum(['worked', 'did-not-work', 'needs-approval', 'interrupted', 'cancelled']),
  /** True once the changing step ran on the host. */
  ran: z.boolean(),
  /** Whether it fixed the problem; `null` when it did not run. */
  worked: z.boolean().nullable(),
  /** Who approved it (`cli:alice`, `slack:U999`), when someone did. */
  approvedBy: z.string().optional(),
  /** Why it did not run, or how the fix step itself ended when it failed. */
  reason: z.string().optional(),
  /** The steps run again after the fix, before and after. */
  recheck: z.array(RecheckResultSchema),
  /** What the re-check showed when it did not work (failing steps, the finding that still holds). */
  evidence: z.array(z.string()),
});
export type Remediation = z.infer<typeof RemediationSchema>;

export const HostResultSchema = z.object({
  host: z.string(),
  reachable: z.boolean(),
  /** Set when the host could not be used: connect, auth or host-key error. */
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  steps: z.array(StepResultSchema),
  /** The fix this host's cause offered (moved to the run's `remediation` by the diagnosis). */
  remediation: RemediationSchema.optional(),
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
  /** Fixes offered by the hosts' causes, one per host that offered one; absent when none did. */
  remediation: z.array(RemediationSchema).optional(),
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
