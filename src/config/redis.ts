/**
 * The config's `redis:` and `retention:` keys.
 *
 * `redis:` is one of three forms: a URL (one server), a Sentinel set (ioredis
 * asks the sentinels for the current primary and follows a failover) or a
 * Cluster (every Triage key goes under one hash tag, so BullMQ's multi-key
 * scripts stay in one slot). Passwords are only `env:`/`file:` references.
 *
 * `retention:` bounds what Redis keeps: finished runs (record, steps, event
 * stream), the audit trail, resolved incidents and BullMQ's job records, by
 * count and by age. Every part has a default, so nothing grows without bound
 * even when the key is left out ({@link retentionPolicy}).
 *
 * The schema module passes its own building blocks in ({@link redisSchema}),
 * so this file imports nothing from it (no import cycle, one definition of a
 * port or a secret reference).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { DurationSchema } from '../runbooks/schema.ts';
import { say } from '../schema-errors.ts';

const FIX_SEP = '\nfix: ';
const DNS_RE = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One Redis node or sentinel. */
export interface RedisNode {
  host: string;
  port: number;
}

/** `redis: { sentinels: [...], name: mymaster }`. Secrets are `env:`/`file:` references. */
export interface RedisSentinelConfig {
  sentinels: RedisNode[];
  name: string;
  username?: string;
  password?: string;
  sentinelPassword?: string;
  db?: number;
  tls?: boolean;
}

/** `redis: { cluster: [...] }`. */
export interface RedisClusterConfig {
  cluster: RedisNode[];
  username?: string;
  password?: string;
  tls?: boolean;
}

/** What `redis:` may hold. */
export type RedisConfig = string | RedisSentinelConfig | RedisClusterConfig;

export const isSentinelConfig = (r: RedisConfig | undefined): r is RedisSentinelConfig => isObj(r) && 'sentinels' in r;
export const isClusterConfig = (r: RedisConfig | undefined): r is RedisClusterConfig => isObj(r) && 'cluster' in r;

/** `redis:` for messages: the URL without its password, `redis+sentinel://h:p,h:p/NAME` or `redis+cluster://h:p,h:p`. */
export function describeRedis(r: RedisConfig): string {
  if (typeof r === 'string') return r.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:«redacted»@');
  const hosts = (ns: RedisNode[]) => ns.map((n) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(',');
  return isClusterConfig(r) ? `redis+cluster://${hosts(r.cluster)}` : `redis+sentinel://${hosts(r.sentinels)}/${r.name}`;
}

const REDIS_FORMS = 'write a URL (redis://HOST:6379), { sentinels: [{ host, port }], name: mymaster } or { cluster: [{ host, port }, ...] }';

/**
 * The `redis:` schema, from the config's own building blocks: `url` (one
 * server's URL, credentials refused), `secret` (an `env:`/`file:` reference)
 * and `port`. A wrong value is reported against the form it looks like.
 */
export function redisSchema(parts: { url: z.ZodType<string>; secret: z.ZodType<string>; port: z.ZodType<number> }): z.ZodType<RedisConfig> {
  const node = z
    .object({
      host: z
        .string()
        .refine((a) => isIP(a) !== 0 || DNS_RE.test(a), say('not an IP address or DNS name', 'write e.g. host: 10.0.0.7 or host: redis-1.internal'))
        .describe("The node's IP address or DNS name."),
      port: parts.port,
    })
    .strict();
  const user = z.string().regex(NAME_RE, say('not a Redis user name', 'letters, digits, . _ - (at most 64)'));
  const sentinel = z
    .object({
      sentinels: z.array(node).min(1, say('no sentinels listed', 'list at least one, e.g. sentinels: [{ host: 10.0.0.7, port: 26379 }]')),
      name: z.string().regex(NAME_RE, say('not a Sentinel master name', 'write the name the sentinels monitor, e.g. name: mymaster')),
      username: user.optional(),
      password: parts.secret.optional(),
      sentinelPassword: parts.secret.optional(),
      db: z.number().int().min(0).max(15).optional(),
      tls: z.boolean().optional(),
    })
    .strict();
  const cluster = z
    .object({
      cluster: z.array(node).min(1, say('no cluster nodes listed', 'list at least one, e.g. cluster: [{ host: 10.0.0.7, port: 7000 }]')),
      username: user.optional(),
      password: parts.secret.optional(),
      tls: z.boolean().optional(),
    })
    .strict();
  const formOf = (v: unknown): z.ZodType | undefined =>
    typeof v === 'string' ? parts.url : isObj(v) && 'cluster' in v ? cluster : isObj(v) && ('sentinels' in v || 'name' in v) ? sentinel : undefined;
  return z.union([parts.url, sentinel, cluster], {
    error: (iss) => {
      if (iss.input === undefined) return undefined;
      const first = formOf(iss.input)?.safeParse(iss.input).error?.issues[0];
      if (!first) return say('not a Redis address', REDIS_FORMS);
      const where = first.path.length ? `${first.path.map(String).join('.')}: ` : '';
      return first.message.includes(FIX_SEP) ? `${where}${first.message}` : say(`${where}${first.message}`, REDIS_FORMS);
    },
  }) as z.ZodType<RedisConfig>;
}

/** The `redis:` key's description (the generated docs/config.md shows it). */
export const REDIS_DESCRIPTION =
  'Redis for the queue, the run store and the audit log. One of: a URL (`redis://` or `rediss://`); a Sentinel set `{ sentinels: [{host, port}, ...], name, password?, sentinelPassword?, username?, db?, tls? }` (ioredis asks the sentinels for the primary and follows a failover); a Cluster `{ cluster: [{host, port}, ...], password?, username?, tls? }` (every key goes under one hash tag: the prefix `triage` becomes `{triage}`, as BullMQ needs). Passwords only as `env:NAME` or `file:PATH`. Default: `$REDIS_URL`, else `redis://127.0.0.1:6379`.';

export const REDIS_EXAMPLES: unknown[] = [
  'redis://127.0.0.1:6379',
  { sentinels: [{ host: '10.0.0.7', port: 26379 }, { host: '10.0.0.8', port: 26379 }], name: 'mymaster', password: 'env:REDIS_PASSWORD' },
  { cluster: [{ host: '10.0.0.7', port: 7000 }, { host: '10.0.0.8', port: 7000 }, { host: '10.0.0.9', port: 7000 }], password: 'env:REDIS_PASSWORD' },
];

// ---------------------------------------------------------------------------
// Retention

const AGE = /^(\d{1,6})(m|h|d)$/;
const AGE_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A retention age, `90m`, `12h` or `30d`; milliseconds once parsed. */
export const AgeSchema = z
  .string({ error: (i) => (i.input === undefined ? undefined : say('not an age', 'write e.g. 30d, 12h or 90m (days, hours or minutes)')) })
  .regex(AGE, say('not an age', 'write e.g. 30d, 12h or 90m (days, hours or minutes)'))
  .transform((v) => {
    const m = AGE.exec(v)!;
    return Number(m[1]) * AGE_MS[m[2]!]!;
  });

/** Count and age limits of one kind of history. */
export interface Keep {
  maxCount: number;
  /** Milliseconds. */
  maxAgeMs: number;
}

const keep = (what: string, count: number, age: string) =>
  z
    .object({
      maxCount: z
        .number()
        .int()
        .min(1, say('maxCount must be at least 1', 'write e.g. maxCount: 5000'))
        .optional()
        .meta({ description: `Keep at most this many ${what}; the oldest go first.`, default: count }),
      maxAge: AgeSchema.optional().meta({ description: `Drop ${what} older than this (\`30d\`, \`12h\`, \`90m\`).`, default: age }),
    })
    .strict();

/** Defaults of {@link retentionPolicy}: what Redis keeps when `retention:` says nothing. */
export const RETENTION_DEFAULTS = {
  runs: { maxCount: 5000, maxAge: '30d' },
  events: { maxLen: 10_000, queueMaxLen: 1000 },
  audit: { maxCount: 100_000, maxAge: '90d' },
  incidents: { maxCount: 5000, maxAge: '180d' },
  jobs: { completed: { maxCount: 1000, maxAge: '1d' }, failed: { maxCount: 5000, maxAge: '7d' } },
  every: '1m',
} as const;

const D = RETENTION_DEFAULTS;

/** The `retention:` schema. */
export const RetentionSchema = z
  .object({
    runs: keep('finished runs', D.runs.maxCount, D.runs.maxAge)
      .optional()
      .describe('Finished runs: the record, its steps and its event stream go together. `triage status` of a removed run says it was removed by retention.'),
    events: z
      .object({
        maxLen: z
          .number()
          .int()
          .min(100, say('maxLen must be at least 100', 'write e.g. maxLen: 10000'))
          .optional()
          .meta({ description: "Cap on one run's event stream (`XADD MAXLEN ~`), so a runaway run cannot fill Redis.", default: D.events.maxLen }),
        queueMaxLen: z
          .number()
          .int()
          .min(100, say('queueMaxLen must be at least 100', 'write e.g. queueMaxLen: 1000'))
          .optional()
          .meta({ description: "Cap on BullMQ's own event stream of each queue (trimmed every sweep; Triage reads its per-run streams, not these).", default: D.events.queueMaxLen }),
      })
      .strict()
      .optional()
      .describe("Each run's event stream."),
    audit: keep('audit entries', D.audit.maxCount, D.audit.maxAge).optional().describe('The chat audit trail (`XTRIM MAXLEN` and `MINID`).'),
    incidents: keep('resolved incidents', D.incidents.maxCount, D.incidents.maxAge).optional().describe('Resolved incidents and their timelines (open ones are always kept).'),
    jobs: z
      .object({
        completed: keep('completed queue jobs', D.jobs.completed.maxCount, D.jobs.completed.maxAge).optional().describe("BullMQ's `removeOnComplete`."),
        failed: keep('failed queue jobs', D.jobs.failed.maxCount, D.jobs.failed.maxAge).optional().describe("BullMQ's `removeOnFail`."),
      })
      .strict()
      .optional()
      .describe("BullMQ's own job records (the run store keeps every result, so these can be short)."),
    every: DurationSchema.optional().meta({ description: 'How often the workers enforce it (one worker per sweep; a few commands each).', default: D.every }),
  })
  .strict();
export type RetentionConfig = z.infer<typeof RetentionSchema>;

/** Every limit, defaults filled in. */
export interface RetentionPolicy {
  runs: Keep;
  events: { maxLen: number; queueMaxLen: number };
  audit: Keep;
  incidents: Keep;
  jobs: { completed: Keep; failed: Keep };
  /** Milliseconds between sweeps. */
  everyMs: number;
}

/** `retention:` with its defaults filled in. */
export function retentionPolicy(r: RetentionConfig | undefined): RetentionPolicy {
  const age = (s: string) => AgeSchema.parse(s);
  const k = (given: { maxCount?: number; maxAge?: number } | undefined, d: { maxCount: number; maxAge: string }): Keep => ({
    maxCount: given?.maxCount ?? d.maxCount,
    maxAgeMs: given?.maxAge ?? age(d.maxAge),
  });
  return {
    runs: k(r?.runs, D.runs),
    events: { maxLen: r?.events?.maxLen ?? D.events.maxLen, queueMaxLen: r?.events?.queueMaxLen ?? D.events.queueMaxLen },
    audit: k(r?.audit, D.audit),
    incidents: k(r?.incidents, D.incidents),
    jobs: { completed: k(r?.jobs?.completed, D.jobs.completed), failed: k(r?.jobs?.failed, D.jobs.failed) },
    everyMs: r?.every ?? 60_000,
  };
}
