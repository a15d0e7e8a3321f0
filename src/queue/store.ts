/**
 * Run state in Redis: the run record, each finished step, and an event
 * stream per run that live progress is read from.
 *
 * Exactly-once publishing: a step result is written with HSETNX and its event
 * appended in the same Lua script, so a host job retried after a crash can
 * neither rerun a finished step (it reads them back) nor publish it twice.
 * The final result is guarded the same way.
 *
 * Deliberately left out: BullMQ itself (see producer/worker) and chat.
 */
import type { Redis } from 'ioredis';
import type { RunResult, StepResult } from '../runbooks/result.ts';
import type { RunEvent, RunJobData, RunState } from './jobs.ts';
import { evalScript } from './redis-script.ts';

/** Run keys live this long after the run ends, unless told otherwise (retention usually removes them first; see retention.ts). */
const RETENTION_S = 31 * 24 * 3600;
/** Default cap on one run's event stream (`XADD MAXLEN ~`). */
const EVENTS_MAX_LEN = 10_000;
const TERMINAL: RunState[] = ['done', 'cancelled', 'failed'];

const RECORD_STEP = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'type', 'step', 'host', ARGV[3], 'data', ARGV[2], 'at', ARGV[4])
  return 1
end
return 0`;

const SET_STATE = `
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return 0 end
if cur == 'done' or cur == 'cancelled' or cur == 'failed' or cur == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updatedAt', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[3]) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'type', 'state', 'state', ARGV[1], 'at', ARGV[2], 'reason', ARGV[3])
return 1`;

const FINALIZE = `
if redis.call('HSETNX', KEYS[1], 'result', ARGV[1]) == 0 then return 0 end
local st = ARGV[2]
if redis.call('HGET', KEYS[1], 'state') == 'cancelled' then st = 'cancelled' end
redis.call('HSET', KEYS[1], 'state', st, 'finishedAt', ARGV[3], 'updatedAt', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[4]) end
redis.call('XADD', KEYS[2], '*', 'type', 'final', 'state', st, 'data', ARGV[1], 'at', ARGV[3])
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], tonumber(ARGV[5])) end
return 1`;

/** A run as stored. */
export interface RunRecord extends RunJobData {
  state: RunState;
  reason?: string;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  result?: RunResult;
}

/** Reads and writes run state under one key prefix. */
export class RunStore {
  private readonly ttlS: number;
  private readonly eventsMaxLen: number;

  /**
   * `ttlS`: how long a finished run's keys live at most (default 31 days; set
   * it a little past `retention.runs.maxAge`). `eventsMaxLen`: cap on one
   * run's event stream (default 10 000).
   */
  constructor(
    readonly redis: Redis,
    readonly prefix: string,
    o: { ttlS?: number; eventsMaxLen?: number } = {},
  ) {
    this.ttlS = Math.max(60, Math.ceil(o.ttlS ?? RETENTION_S));
    this.eventsMaxLen = o.eventsMaxLen ?? EVENTS_MAX_LEN;
  }

  key(runId: string, part?: 'steps' | 'events' | 'started'): string {
    return `${this.prefix}:run:${runId}${part ? `:${part}` : ''}`;
  }

  /** The pub/sub channel workers listen on for cancels. */
  get cancelChannel(): string {
    return `${this.prefix}:cancel`;
  }

  approvalKey(runId: string, host: string, stepId: string): string {
    return `${this.prefix}:approval:${runId}:${host}:${stepId}`;
  }

  /**
   * Claims an idempotency key for a new run. Returns the run id that owns the
   * key: `runId` when this call claimed it, another id for a duplicate.
   */
  async claim(idempotencyKey: string, runId: string, ttlS = 3600): Promise<string> {
    const k = `${this.prefix}:idem:${idempotencyKey}`;
    const ok = await this.redis.set(k, runId, 'EX', ttlS, 'NX');
    if (ok) return runId;
    return (await this.redis.get(k)) ?? runId;
  }

  /** Writes a new run record in state `queued` and its first event. */
  async create(data: RunJobData): Promise<void> {
    const now = new Date().toISOString();
    await this.redis
      .multi()
      .hset(this.key(data.runId), {
        runId: data.runId,
        runbook: data.runbook,
        target: data.target,
        host: data.host ?? '',
        params: JSON.stringify(data.params),
        hosts: JSON.stringify(data.hosts),
        requestedBy: data.requestedBy,
        replyTo: data.replyTo ?? '',
        state: 'queued',
        createdAt: now,
        updatedAt: now,
      })
      .xadd(this.key(data.runId, 'events'), '*', 'type', 'state', 'state', 'queued', 'at', now, 'reason', '')
      .zadd(`${this.prefix}:runs`, Date.now(), data.runId)
      .exec();
  }

  async get(runId: string): Promise<RunRecord | null> {
    const h = await this.redis.hgetall(this.key(runId));
    if (!h.runId) return null;
    return {
      runId: h.runId,
      runbook: h.runbook!,
      target: h.target!,
      ...(h.host ? { host: h.host } : {}),
      params: JSON.parse(h.params ?? '{}'),
      hosts: JSON.parse(h.hosts ?? '[]'),
      requestedBy: h.requestedBy ?? '',
      ...(h.replyTo ? { replyTo: h.replyTo } : {}),
      state: h.state as RunState,
      ...(h.reason ? { reason: h.reason } : {}),
      createdAt: h.createdAt!,
      updatedAt: h.updatedAt!,
      ...(h.finishedAt ? { finishedAt: h.finishedAt } : {}),
      ...(h.result ? { result: JSON.parse(h.result) } : {}),
    };
  }

  /** Most recent run ids, newest first. */
  async recent(n = 10): Promise<string[]> {
    return this.redis.zrevrange(`${this.prefix}:runs`, 0, n - 1);
  }

  /**
   * Finished steps of one host, in the order of `order` (the runbook's step
   * ids; ids not in it come last). Redis keeps no order in a hash this size,
   * so callers always say which order they want.
   */
  async steps(runId: string, host: string, order: string[] = []): Promise<StepResult[]> {
    const all = await this.redis.hgetall(this.key(runId, 'steps'));
    const rank = (id: string) => {
      const i = order.indexOf(id);
      return i < 0 ? order.length : i;
    };
    return Object.entries(all)
      .filter(([k]) => k.startsWith(`${host}\u0000`))
      .map(([, v]) => JSON.parse(v) as StepResult)
      .sort((a, b) => rank(a.id) - rank(b.id));
  }

  /** Records that a host-changing step was approved and is about to run (before it runs). */
  async markStarted(runId: string, host: string, stepId: string): Promise<void> {
    const k = this.key(runId, 'started');
    await this.redis.multi().hset(k, `${host}\u0000${stepId}`, new Date().toISOString()).expire(k, this.ttlS).exec();
  }

  /** Host-changing steps of one host that were approved and started (finished or not). */
  async startedSteps(runId: string, host: string): Promise<string[]> {
    const keys = await this.redis.hkeys(this.key(runId, 'started'));
    return keys.filter((k) => k.startsWith(`${host}\u0000`)).map((k) => k.slice(host.length + 1));
  }

  /** Records a finished step once; returns false when it was already recorded. */
  async recordStep(runId: string, host: string, step: StepResult): Promise<boolean> {
    const r = await evalScript(this.redis, RECORD_STEP, 2, this.key(runId, 'steps'), this.key(runId, 'events'), `${host}\u0000${step.id}`, JSON.stringify(step), host, new Date().toISOString(), String(this.eventsMaxLen));
    return r === 1;
  }

  /** Moves a run to `state` unless it already ended. */
  async setState(runId: string, state: RunState, reason = ''): Promise<boolean> {
    return (await evalScript(this.redis, SET_STATE, 2, this.key(runId), this.key(runId, 'events'), state, new Date().toISOString(), reason, String(this.eventsMaxLen))) === 1;
  }

  /** Publishes the one final result; later calls (a retried parent) do nothing and return false. */
  async finalize(runId: string, result: RunResult, state: RunState, reason = ''): Promise<boolean> {
    const r = await evalScript(
      this.redis,
      FINALIZE,
      4,
      this.key(runId),
      this.key(runId, 'events'),
      this.key(runId, 'steps'),
      this.key(runId, 'started'),
      JSON.stringify(result),
      state,
      new Date().toISOString(),
      reason,
      String(this.ttlS),
    );
    return r === 1;
  }

  /** Appends an approval request event. */
  async announceApproval(runId: string, host: string, stepId: string, title: string): Promise<void> {
    await this.redis.xadd(this.key(runId, 'events'), 'MAXLEN', '~', this.eventsMaxLen, '*', 'type', 'approval', 'host', host, 'step', stepId, 'data', title, 'at', new Date().toISOString());
  }

  async isEnded(runId: string): Promise<boolean> {
    const s = (await this.redis.hget(this.key(runId), 'state')) as RunState | null;
    return s !== null && TERMINAL.includes(s);
  }

  async isCancelled(runId: string): Promise<boolean> {
    return (await this.redis.hget(this.key(runId), 'state')) === 'cancelled';
  }

  /**
   * Events after `afterId` ('0' = from the start). With `blockMs`, waits that
   * long for new ones (use a connection of its own: XREAD BLOCK holds it).
   */
  async events(runId: string, afterId = '0', blockMs?: number, redis: Redis = this.redis): Promise<RunEvent[]> {
    const key = this.key(runId, 'events');
    const res = (blockMs
      ? await redis.xread('COUNT', 500, 'BLOCK', blockMs, 'STREAMS', key, afterId)
      : await redis.xread('COUNT', 500, 'STREAMS', key, afterId)) as [string, [string, string[]][]][] | null;
    if (!res) return [];
    return res[0]![1].map(([id, fields]) => parseEvent(id, fields));
  }

  /** Deletes every key under this prefix (tests). */
  async purge(): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await this.redis.del(...keys);
    } while (cursor !== '0');
  }
}

function parseEvent(id: string, fields: string[]): RunEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const at = f.at ?? '';
  switch (f.type) {
    case 'step':
      return { id, type: 'step', host: f.host!, step: JSON.parse(f.data!), at };
    case 'final':
      return { id, type: 'final', result: JSON.parse(f.data!), state: f.state as RunState, at };
    case 'approval':
      return { id, type: 'approval', host: f.host!, stepId: f.step!, title: f.data ?? '', at };
    default:
      return { id, type: 'state', state: f.state as RunState, ...(f.reason ? { reason: f.reason } : {}), at };
  }
}
