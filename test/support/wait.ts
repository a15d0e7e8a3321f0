/** Bounded polling for tests: what the user would see, once it appears. */

/**
 * Calls `pred` every `everyMs` until it returns something other than
 * undefined/null/false/'' (and that value is returned), or `timeoutMs`
 * passes — then rejects with `what()` (e.g. the recent API calls) so a
 * failure says what did happen.
 */
export async function pollUntil<T>(
  pred: () => T | undefined | false | null,
  o: { timeoutMs?: number; what: () => string; everyMs?: number; label?: string },
): Promise<T> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = pred();
      if (v !== undefined && v !== false && v !== null && v !== '') return v;
      lastErr = undefined;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) {
      const why = lastErr ? ` (last predicate error: ${lastErr instanceof Error ? lastErr.message : String(lastErr)})` : '';
      throw new Error(`${o.label ?? 'waitFor'} timed out after ${timeoutMs} ms${why}\n${o.what()}`);
    }
    await new Promise((r) => setTimeout(r, o.everyMs ?? 15));
  }
}

/** The error `p` rejects with; fails when it resolves instead. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}
