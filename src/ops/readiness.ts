/**
 * Readiness: whether this process can do its job right now, as `/readyz`
 * answers it (200 when every check passes, 503 otherwise, with each check's
 * state in the body). Components report into one {@link Readiness}:
 *
 * - pushed states, for things that change at moments the component knows
 *   (`readiness.set('chat:telegram', true)` once an adapter is connected;
 *   `readiness.set('schedules', false, 'syncing')` then `true` once the
 *   job schedulers match the config);
 * - pulled probes, for things best checked when asked (`redis`: a PING
 *   bounded by a timeout, so a dead Redis turns `/readyz` 503 at once).
 *
 * A name registered as pending (`expect`) counts as not ready until it is
 * set, so a process is never ready before its parts have said so.
 *
 * Deliberately left out: liveness (`/healthz` is "the process answers", no
 * checks, so an orchestrator never restarts a process for Redis being down)
 * and history (each check says only its current state).
 */
import { within } from '../queue/redis-watch.ts';

/** One check's state. */
export interface CheckState {
  ready: boolean;
  /** Why not (or what, when ready), for people reading `/readyz`. */
  detail?: string;
}

/** A probe answers `null` when fine, else the reason it is not. */
export type ReadinessProbe = () => Promise<string | null>;

/** What `/readyz` answers. */
export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, CheckState>;
}

/** The readiness registry of one process. */
export class Readiness {
  private readonly states = new Map<string, CheckState>();
  private readonly probes = new Map<string, ReadinessProbe>();

  /** @param probeTimeoutMs a probe not answering in this long counts as not ready. Default 1500 ms. */
  constructor(private readonly probeTimeoutMs = 1500) {}

  /** Registers a check that is not ready until {@link Readiness.set} says so. */
  expect(name: string, detail = 'starting'): void {
    if (!this.states.has(name)) this.states.set(name, { ready: false, detail });
  }

  /** Reports a check's state. */
  set(name: string, ready: boolean, detail?: string): void {
    this.states.set(name, { ready, ...(detail ? { detail } : {}) });
  }

  /** Removes a check (a component that stopped for good). */
  remove(name: string): void {
    this.states.delete(name);
    this.probes.delete(name);
  }

  /** Registers a probe, run on every check. */
  probe(name: string, fn: ReadinessProbe): void {
    this.probes.set(name, fn);
  }

  /** Every check's current state; probes run in parallel, each bounded. */
  async check(): Promise<ReadinessReport> {
    const checks: Record<string, CheckState> = {};
    for (const [name, s] of this.states) checks[name] = { ...s };
    await Promise.all(
      [...this.probes].map(async ([name, fn]) => {
        const run = fn().catch((e: unknown) => (e instanceof Error ? e.message : String(e)) || 'failed');
        const why = await within(run, this.probeTimeoutMs, `no answer within ${this.probeTimeoutMs} ms`);
        checks[name] = why === null ? { ready: true } : { ready: false, detail: why };
      }),
    );
    return { ready: Object.values(checks).every((c) => c.ready), checks };
  }
}
