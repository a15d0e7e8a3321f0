/**
 * The on-call rotation: who is on call now, who is next, and since when.
 * `oncall.rotation` lists the people in order; who holds the shift is kept in
 * Redis (`P:oncall:shift`), moved on by a taken handoff. Before the first
 * handoff the first person in the rotation is on call.
 *
 * Deliberately left out: calendars, overrides and time-of-day shifts (a
 * handoff, scheduled or typed, is what moves the shift).
 */
import type { Redis } from 'ioredis';

/** Who holds the shift. */
export interface Shift {
  /** The identity on call (`tg:…` / `slack:…`). */
  person: string;
  /** When the shift began (ms); 0 when no handoff was ever taken. */
  sinceMs: number;
}

/** The rotation of one deployment. */
export class Rotation {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** `oncall.rotation`, in order; empty when no rotation is configured. */
    readonly people: readonly string[],
  ) {}

  private get key(): string {
    return `${this.prefix}:oncall:shift`;
  }

  /** Who is on call now. */
  async current(): Promise<Shift | null> {
    const h = await this.redis.hgetall(this.key);
    if (h.person) return { person: h.person, sinceMs: Number(h.sinceMs ?? 0) };
    const first = this.people[0];
    return first ? { person: first, sinceMs: 0 } : null;
  }

  /** The person after `person` in the rotation (wrapping); the first one when `person` is not in it. */
  after(person: string | undefined): string | undefined {
    if (!this.people.length) return undefined;
    const i = person ? this.people.indexOf(person) : -1;
    return this.people[(i + 1) % this.people.length];
  }

  /** Hands the shift to `person` from `atMs` on. */
  async take(person: string, atMs: number): Promise<void> {
    await this.redis.hset(this.key, { person, sinceMs: String(atMs) });
  }
}
