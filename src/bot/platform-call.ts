/**
 * One way to call a chat platform's API and turn its failures into ours, for
 * every adapter: a 429 becomes a {@link RateLimitedError} carrying the wait
 * the platform asked for (the core's outbox waits it out and retries — never
 * the adapter), a refusal becomes a `CHAT_DELIVERY` {@link TriageError} with
 * the platform's reason and how to fix it, and anything else (network,
 * timeouts) a `CHAT_DELIVERY` error that says to check the API is reachable.
 * Messages are redacted: a token in an error text does not reach a log.
 *
 * An adapter describes its platform's failures in a {@link PlatformErrors}
 * and is given the resulting `call`; it does not inherit one.
 *
 * Deliberately left out: retrying (the outbox's), and errors that are not
 * failures (Telegram's "message is not modified" is the adapter's to ignore).
 */
import { TriageError } from '../errors.ts';
import { redact } from '../redact.ts';
import { RateLimitedError } from './adapter.ts';

/** How one platform reports failures. */
export interface PlatformErrors {
  /** The platform in messages: `Telegram`, `Slack`. */
  name: string;
  /** When `err` is the platform's "too many requests": the seconds it asks to wait (a default when it names none); else `undefined`. */
  retryAfterSeconds(err: unknown): number | undefined;
  /** When `err` is the platform refusing the call: its reason (after "failed: ") and the fix; else `undefined`. */
  refusal(err: unknown): { reason: string; fix: string } | undefined;
  /** The fix for every other failure (the API is unreachable, a timeout). */
  unreachableFix: string;
}

/** Maps a failed call of `method` to a RateLimitedError (429) or a CHAT_DELIVERY TriageError. Ours pass through. */
export function platformError(p: PlatformErrors, err: unknown, method: string): Error {
  if (err instanceof RateLimitedError || err instanceof TriageError) return err;
  const retryAfter = p.retryAfterSeconds(err);
  if (retryAfter !== undefined) return new RateLimitedError(Math.max(0, retryAfter) * 1000);
  const refused = p.refusal(err);
  if (refused) return new TriageError('CHAT_DELIVERY', redact(`${p.name} ${method} failed: ${refused.reason}`), { fix: refused.fix, cause: err });
  const message = (err as { message?: unknown } | null | undefined)?.message;
  const why = typeof message === 'string' ? message : String(err);
  return new TriageError('CHAT_DELIVERY', redact(`${p.name} ${method} failed: ${why}`), { fix: p.unreachableFix, cause: err });
}

/** Calls a platform API method; rejects with {@link platformError}'s mapping. */
export type PlatformCall = <T>(method: string, fn: () => Promise<T>) => Promise<T>;

/**
 * The `call` for one platform.
 *
 *   const call = platformCall(TELEGRAM_ERRORS);
 *   const me = await call('getMe', () => api.getMe());
 */
export function platformCall(p: PlatformErrors): PlatformCall {
  return async (method, fn) => {
    try {
      return await fn();
    } catch (err) {
      throw platformError(p, err, method);
    }
  };
}
