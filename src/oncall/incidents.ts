/**
 * Incidents, in Redis under the deployment's prefix. An incident is keyed by
 * target + cause: the first unhealthy run with that pair opens it, every later
 * one updates it (count, last seen, last run) — a check that keeps failing
 * never opens a second incident while the first is open. A healthy run of the
 * same target marks its open incidents "recovered?"; only a person resolves.
 *
 * Every change is a timeline entry (runs, recoveries, acks, notes, resolves:
 * who and when). Resolved incidents stay (history is kept); only the
 * open-index entry goes, so the next failure opens a fresh incident.
 *
 * Safe with several bots on one Redis: recording a run is one Lua call that
 * claims the run id first (a run is counted once, whoever sees it), finds or
 * opens the incident and updates it; acks, notes and resolves are atomic too.
 *
 * Keys (`P` = prefix): `P:incident:<id>` (hash), `P:incident:<id>:timeline`
 * (list of JSON entries), `P:incidents:open` (hash `target\0cause` → id),
 * `P:incidents` (zset of every id by first seen), `P:incident:seq`,
 * `P:incident:by-run:<run id>`, `P:incident:by-thread:<room>\0<thread>`,
 * `P:oncall:notes` (zset: every `/note`, for handoffs).
 *
 * Deliberately left out: chat (see on-call.ts), and deleting old incidents
 * (they are small; a deployment that wants a limit trims `P:incidents`).
 */
import type { Redis } from 'ioredis';
import type { RunResult } from '../runbooks/result.ts';

/** Incident ids look like `i12`. */
export const INCIDENT_ID_RE = /^i[0-9]{1,9}$/;

/** One incident, as stored. Times are ISO strings. */
export interface Incident {
  id: string;
  target: string;
  cause: string;
  /** Runbook of the run that opened it. */
  runbook: string;
  state: 'open' | 'resolved';
  /** Unhealthy runs counted into it. */
  count: number;
  firstSeen: string;
  lastSeen: string;
  lastRun: string;
  /** The last run's one-line summary. */
  summary: string;
  ackedBy?: string;
  ackedAt?: string;
  /** Set when a later run of the target was healthy; cleared by the next failure. */
  recoveredAt?: string;
  recoveredRun?: string;
  resolvedBy?: string;
  resolvedAt?: string;
  /** Where its thread lives: room and the thread root's id. */
  room?: string;
  thread?: string;
}

/** One line of an incident's history. */
export interface TimelineEntry {
  at: string;
  kind: 'run' | 'recovered' | 'ack' | 'note' | 'resolved';
  /** Who (acks, notes, resolves) or who asked for the run. */
  by?: string;
  runId?: string;
  text?: string;
}

/** A note as kept for handoffs. */
export interface ShiftNote {
  at: string;
  by: string;
  text: string;
  incident?: string;
}

/** A finished run, as far as incidents care. */
export interface FinishedRun {
  runId: string;
  runbook: string;
  target: string;
  requestedBy?: string;
  result: RunResult;
}

/** What recording a run did. */
export type RunOutcome =
  | { kind: 'opened' | 'repeat'; incident: Incident }
  | { kind: 'recovered'; incidents: Incident[] }
  | { kind: 'none' };

const RETENTION_S = 30 * 86_400;

const RECORD_FAILURE = `
local seen = redis.call('GET', KEYS[3])
if seen then return {seen, 'seen'} end
local id = redis.call('HGET', KEYS[1], ARGV[1])
local kind = 'repeat'
if not id then
  id = 'i' .. redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], ARGV[1], id)
  redis.call('ZADD', KEYS[4], ARGV[4], id)
  redis.call('HSET', ARGV[9] .. ':incident:' .. id, 'id', id, 'target', ARGV[5], 'cause', ARGV[6], 'runbook', ARGV[7], 'state', 'open', 'count', 0, 'firstSeen', ARGV[3])
  kind = 'opened'
end
local ik = ARGV[9] .. ':incident:' .. id
redis.call('HINCRBY', ik, 'count', 1)
redis.call('HSET', ik, 'lastSeen', ARGV[3], 'lastRun', ARGV[2], 'summary', ARGV[8])
redis.call('HDEL', ik, 'recoveredAt', 'recoveredRun')
redis.call('SET', KEYS[3], id, 'EX', ${RETENTION_S})
redis.call('RPUSH', ik .. ':timeline', ARGV[10])
return {id, kind}`;

const RECOVER = `
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return 0 end
if redis.call('HSETNX', KEYS[1], 'recoveredAt', ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'recoveredRun', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
return 1`;

const ACK = `
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return 'not-open' end
if redis.call('HSETNX', KEYS[1], 'ackedBy', ARGV[1]) == 0 then return 'already' end
redis.call('HSET', KEYS[1], 'ackedAt', ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
return 'ok'`;

const RESOLVE = `
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return 'not-open' end
redis.call('HSET', KEYS[1], 'state', 'resolved', 'resolvedBy', ARGV[1], 'resolvedAt', ARGV[2])
if redis.call('HGET', KEYS[3], ARGV[4]) == ARGV[5] then redis.call('HDEL', KEYS[3], ARGV[4]) end
redis.call('RPUSH', KEYS[2], ARGV[3])
return 'ok'`;

/** Reads and writes incidents under one prefix. */
export class IncidentStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {}

  private key(id: string, part?: 'timeline'): string {
    return `${this.prefix}:incident:${id}${part ? `:${part}` : ''}`;
  }

  private get openIndex(): string {
    return `${this.prefix}:incidents:open`;
  }

  private threadKey(room: string, thread: string): string {
    return `${this.prefix}:incident:by-thread:${room}\u0000${thread}`;
  }

  /**
   * Counts a finished run: an unhealthy one opens or updates the incident of
   * its target + cause; a healthy one marks the target's open incidents
   * "recovered?". Recording the same run again changes nothing.
   */
  async recordRun(run: FinishedRun): Promise<RunOutcome> {
    const at = new Date(this.now()).toISOString();
    const { result } = run;
    if (result.status === 'unhealthy' && result.cause) {
      const entry: TimelineEntry = { at, kind: 'run', runId: run.runId, text: `${result.cause}: ${result.summary}`.slice(0, 300), ...(run.requestedBy ? { by: run.requestedBy } : {}) };
      const [id, kind] = (await this.redis.eval(
        RECORD_FAILURE,
        4,
        this.openIndex,
        `${this.prefix}:incident:seq`,
        `${this.prefix}:incident:by-run:${run.runId}`,
        `${this.prefix}:incidents`,
        `${run.target}\u0000${result.cause}`,
        run.runId,
        at,
        String(this.now()),
        run.target,
        result.cause,
        run.runbook,
        result.summary.slice(0, 300),
        this.prefix,
        JSON.stringify(entry),
      )) as [string, string];
      if (kind === 'seen') return { kind: 'none' };
      const incident = await this.get(id);
      return incident ? { kind: kind as 'opened' | 'repeat', incident } : { kind: 'none' };
    }
    if (result.status !== 'healthy') return { kind: 'none' };
    const recovered: Incident[] = [];
    for (const inc of await this.open()) {
      if (inc.target !== run.target) continue;
      const entry: TimelineEntry = { at, kind: 'recovered', runId: run.runId, text: `${run.runbook} on ${run.target} was healthy` };
      const changed = await this.redis.eval(RECOVER, 2, this.key(inc.id), this.key(inc.id, 'timeline'), at, run.runId, JSON.stringify(entry));
      if (changed === 1) recovered.push({ ...inc, recoveredAt: at, recoveredRun: run.runId });
    }
    return recovered.length ? { kind: 'recovered', incidents: recovered } : { kind: 'none' };
  }

  /** Marks an open incident acknowledged (the first ack counts). */
  async ack(id: string, by: string): Promise<'ok' | 'already' | 'not-open'> {
    const at = new Date(this.now()).toISOString();
    const entry: TimelineEntry = { at, kind: 'ack', by };
    return (await this.redis.eval(ACK, 2, this.key(id), this.key(id, 'timeline'), by, at, JSON.stringify(entry))) as 'ok' | 'already' | 'not-open';
  }

  /** Resolves an open incident; the next failure of its target + cause opens a new one. */
  async resolve(id: string, by: string, note?: string): Promise<'ok' | 'not-open'> {
    const inc = await this.get(id);
    if (!inc) return 'not-open';
    const at = new Date(this.now()).toISOString();
    const entry: TimelineEntry = { at, kind: 'resolved', by, ...(note ? { text: note } : {}) };
    return (await this.redis.eval(
      RESOLVE,
      3,
      this.key(id),
      this.key(id, 'timeline'),
      this.openIndex,
      by,
      at,
      JSON.stringify(entry),
      `${inc.target}\u0000${inc.cause}`,
      id,
    )) as 'ok' | 'not-open';
  }

  /** Adds a note to an incident's timeline (any state) and to the shift's notes. */
  async note(id: string | undefined, by: string, text: string): Promise<void> {
    const at = new Date(this.now()).toISOString();
    const m = this.redis.multi();
    if (id) m.rpush(this.key(id, 'timeline'), JSON.stringify({ at, kind: 'note', by, text } satisfies TimelineEntry));
    const note: ShiftNote = { at, by, text, ...(id ? { incident: id } : {}) };
    m.zadd(`${this.prefix}:oncall:notes`, this.now(), JSON.stringify(note));
    await m.exec();
  }

  /** Notes added since `sinceMs`, oldest first. */
  async notesSince(sinceMs: number): Promise<ShiftNote[]> {
    const raw = await this.redis.zrangebyscore(`${this.prefix}:oncall:notes`, sinceMs, '+inf');
    return raw.map((r) => JSON.parse(r) as ShiftNote);
  }

  async get(id: string): Promise<Incident | null> {
    const h = await this.redis.hgetall(this.key(id));
    if (!h.id) return null;
    const opt = (k: string) => (h[k] ? { [k]: h[k] } : {});
    return {
      id: h.id,
      target: h.target ?? '',
      cause: h.cause ?? '',
      runbook: h.runbook ?? '',
      state: h.state === 'resolved' ? 'resolved' : 'open',
      count: Number(h.count ?? 0),
      firstSeen: h.firstSeen ?? '',
      lastSeen: h.lastSeen ?? h.firstSeen ?? '',
      lastRun: h.lastRun ?? '',
      summary: h.summary ?? '',
      ...opt('ackedBy'),
      ...opt('ackedAt'),
      ...opt('recoveredAt'),
      ...opt('recoveredRun'),
      ...opt('resolvedBy'),
      ...opt('resolvedAt'),
      ...opt('room'),
      ...opt('thread'),
    } as Incident;
  }

  /** Open incidents, oldest first. */
  async open(): Promise<Incident[]> {
    const ids = await this.redis.hvals(this.openIndex);
    const all = await Promise.all(ids.map((id) => this.get(id)));
    return all.filter((i): i is Incident => i !== null && i.state === 'open').sort((a, b) => a.firstSeen.localeCompare(b.firstSeen));
  }

  /** The newest `n` incidents, open or not, newest first. */
  async recent(n = 20): Promise<Incident[]> {
    const ids = await this.redis.zrevrange(`${this.prefix}:incidents`, 0, n - 1);
    const all = await Promise.all(ids.map((id) => this.get(id)));
    return all.filter((i): i is Incident => i !== null);
  }

  async timeline(id: string): Promise<TimelineEntry[]> {
    return (await this.redis.lrange(this.key(id, 'timeline'), 0, -1)).map((r) => JSON.parse(r) as TimelineEntry);
  }

  /** The incident a run was counted into. */
  async ofRun(runId: string): Promise<string | null> {
    return this.redis.get(`${this.prefix}:incident:by-run:${runId}`);
  }

  /** The incident whose thread this is (its own, or a later run card's). */
  async ofThread(room: string, thread: string): Promise<string | null> {
    return this.redis.get(this.threadKey(room, thread));
  }

  /** Links a thread to an incident; the first thread linked becomes the incident's own. */
  async linkThread(id: string, room: string, thread: string): Promise<void> {
    await this.redis
      .multi()
      .hsetnx(this.key(id), 'room', room)
      .hsetnx(this.key(id), 'thread', thread)
      .set(this.threadKey(room, thread), id, 'EX', RETENTION_S)
      .exec();
  }
}
