/**
 * The work a chat adapter has started and not yet seen finish (commands it
 * handed to the core), so that `stop()` can wait for it — but not forever: a
 * command stuck on a dead host must not hold a shutdown hostage, so the wait
 * ends at a deadline and whatever is still running is left to the process
 * exit.
 *
 * Deliberately left out: cancelling what is still running at the deadline
 * (the core owns its runs and their cancellation) and refusing new work (see
 * `dispatch.ts`, which stops handing commands over).
 */

/** How long {@link InFlight.settled} waits by default: 10 s. */
export const DEFAULT_SETTLE_MS = 10_000;

/** A set of running promises that forgets each one as it settles. */
export interface InFlight {
  /** Tracks `p` until it settles, then forgets it; returns `p`. */
  track<T>(p: Promise<T>): Promise<T>;
  /** How many are running now. */
  readonly size: number;
  /**
   * Resolves when everything running now has settled, or after `withinMs`
   * (default {@link DEFAULT_SETTLE_MS}), whichever comes first. Never rejects;
   * the timer does not keep the process alive.
   */
  settled(withinMs?: number): Promise<void>;
}

/** Creates an empty {@link InFlight}. */
export function createInFlight(): InFlight {
  const running = new Set<Promise<unknown>>();
  return {
    track(p) {
      running.add(p);
      const forget = () => running.delete(p);
      p.then(forget, forget);
      return p;
    },
    get size() {
      return running.size;
    },
    async settled(withinMs = DEFAULT_SETTLE_MS) {
      if (running.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, withinMs);
        timer.unref();
      });
      await Promise.race([Promise.allSettled([...running]), deadline]);
      clearTimeout(timer);
    },
  };
}
