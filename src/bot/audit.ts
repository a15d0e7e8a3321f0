/**
 * The audit trail: one entry per chat command, whatever happened to it, in a
 * Redis stream `<prefix>:audit` capped at about 100 000 entries. Text and
 * detail are redacted and clipped before they are stored, so the trail can be
 * shown to anyone who may read the channel.
 *
 * Deliberately left out: who looked at the trail, and export elsewhere.
 */
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { redact } from '../redact.ts';
import { clip } from '../text.ts';

export const AuditOutcomeSchema = z.enum(['ok', 'denied', 'invalid', 'error', 'duplicate']);
export type AuditOutcome = z.infer<typeof AuditOutcomeSchema>;

/** One audited command, as stored. */
export const AuditEntrySchema = z.object({
  /** Stream id (set when read back). */
  id: z.string().optional(),
  at: z.string(),
  platform: z.string(),
  user: z.string(),
  room: z.string(),
  /** The command line, redacted and clipped to 200 characters. */
  text: z.string(),
  outcome: AuditOutcomeSchema,
  /** The run this command started or acted on. */
  runId: z.string().optional(),
  /** Why (refusal reason, error code), redacted and clipped to 300 characters. */
  detail: z.string().optional(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;

/** Options for {@link AuditLog}. */
export interface AuditLogOptions {
  /** Approximate cap on entries (`XADD MAXLEN ~`). Default 100 000. */
  maxLen?: number;
}

/** Appends to and reads the audit stream. */
export class AuditLog {
  readonly key: string;
  private readonly maxLen: number;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    o: AuditLogOptions = {},
  ) {
    this.key = `${prefix}:audit`;
    this.maxLen = o.maxLen ?? 100_000;
  }

  /** Stores one entry (redacted and clipped here, whatever the caller passed). */
  async record(e: Omit<AuditEntry, 'at' | 'id'> & { at?: string }): Promise<void> {
    const entry: AuditEntry = {
      at: e.at ?? new Date().toISOString(),
      platform: clip(e.platform, 20),
      user: clip(redact(e.user), 80),
      room: clip(redact(e.room), 80),
      text: clip(redact(e.text), 200),
      outcome: e.outcome,
      ...(e.runId ? { runId: clip(e.runId, 60) } : {}),
      ...(e.detail ? { detail: clip(redact(e.detail), 300) } : {}),
    };
    await this.redis.xadd(this.key, 'MAXLEN', '~', this.maxLen, '*', 'e', JSON.stringify(entry));
  }

  /**
   * The newest `count` entries (default 50), oldest first so the newest
   * prints last; with `since`, only entries at or after that time.
   */
  async list(o: { count?: number; since?: Date | string } = {}): Promise<AuditEntry[]> {
    const min = o.since === undefined ? '-' : `${new Date(o.since).getTime()}-0`;
    const rows = (await this.redis.xrevrange(this.key, '+', min, 'COUNT', o.count ?? 50)) as [string, string[]][];
    const out: AuditEntry[] = [];
    for (const [id, fields] of rows.reverse()) {
      const i = fields.indexOf('e');
      const parsed = AuditEntrySchema.safeParse(safeJson(fields[i + 1]));
      if (parsed.success) out.push({ ...parsed.data, id });
    }
    return out;
  }
}

function safeJson(s: string | undefined): unknown {
  try {
    return s === undefined ? undefined : JSON.parse(s);
  } catch {
    return undefined;
  }
}

/** One line for `triage audit`: `2026-01-01T09:00:00.000Z ok tg:1 in tg:-100 "/diagnose 502 shop" r_… detail`. */
export function formatAuditLine(e: AuditEntry): string {
  return [e.at, e.outcome.padEnd(9), e.user, 'in', e.room, JSON.stringify(e.text), e.runId, e.detail ? `— ${e.detail}` : undefined]
    .filter((x): x is string => !!x)
    .join(' ');
}
