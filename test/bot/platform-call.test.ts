/**
 * The one `call()` both chat adapters are given: however a platform reports
 * a failure, the outbox sees a RateLimitedError with the wait the platform
 * asked for, or a CHAT_DELIVERY error with the reason and how to fix it —
 * never a token.
 */
import { describe, expect, it } from 'vitest';
import { RateLimitedError } from '../../src/bot/adapter.ts';
import { type PlatformErrors, platformCall, platformError } from '../../src/bot/platform-call.ts';
import { TriageError } from '../../src/errors.ts';

/** A made-up platform that answers `{ status, wait?, reason? }` like many chat APIs do. */
const PAGER: PlatformErrors = {
  name: 'Pager',
  retryAfterSeconds: (err) => ((err as { status?: number }).status === 429 ? ((err as { wait?: number }).wait ?? 1) : undefined),
  refusal: (err) => {
    const e = err as { status?: number; reason?: string };
    return e.status && e.status !== 429 ? { reason: `${e.status} ${e.reason}`, fix: e.status === 401 ? 'check the pager token' : 'see the reason above' } : undefined;
  },
  unreachableFix: 'check that the Pager API is reachable from this machine',
};
const call = platformCall(PAGER);

async function failure(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to fail');
}

describe('platformCall', () => {
  it('returns what the platform answered', async () => {
    expect(await call('send', async () => ({ id: 7 }))).toEqual({ id: 7 });
  });

  it('turns "too many requests" into a RateLimitedError with the wait in ms (1 s when the platform names none)', async () => {
    const limited = await failure(() => call('send', () => Promise.reject({ status: 429, wait: 7 })));
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect((limited as RateLimitedError).retryAfterMs).toBe(7000);
    expect((platformError(PAGER, { status: 429 }, 'send') as RateLimitedError).retryAfterMs).toBe(1000);
    expect((platformError(PAGER, { status: 429, wait: -3 }, 'send') as RateLimitedError).retryAfterMs).toBe(0);
  });

  it('turns a refusal into CHAT_DELIVERY naming the method, the reason and the fix, with the original as cause', async () => {
    const refusal = { status: 401, reason: 'Unauthorized' };
    const err = (await failure(() => call('send', () => Promise.reject(refusal)))) as TriageError;
    expect(err).toBeInstanceOf(TriageError);
    expect(err.code).toBe('CHAT_DELIVERY');
    expect(err.message).toBe('Pager send failed: 401 Unauthorized');
    expect(err.fix).toBe('check the pager token');
    expect(err.cause).toBe(refusal);
  });

  it('says to check the API is reachable when the call never got an answer, and shows no token from the error text', async () => {
    const err = (await failure(() => call('getMe', () => Promise.reject(new Error('connect ECONNREFUSED https://api.example/bot123456:AAEhBOweik9ai2o4Xx3_yyyyyyyyyyyyyyy/getMe'))))) as TriageError;
    expect(err.code).toBe('CHAT_DELIVERY');
    expect(err.message).toMatch(/^Pager getMe failed: connect ECONNREFUSED /);
    expect(err.message).not.toContain('AAEhBOweik9ai2o4Xx3');
    expect(err.fix).toBe(PAGER.unreachableFix);
    expect(platformError(PAGER, 'socket hang up', 'send').message).toBe('Pager send failed: socket hang up');
  });

  it('passes our own errors through unchanged', () => {
    const limited = new RateLimitedError(5000);
    const ours = new TriageError('CHAT_DELIVERY', '"x" is not a Pager room', { fix: 'post to pager:<id>' });
    expect(platformError(PAGER, limited, 'send')).toBe(limited);
    expect(platformError(PAGER, ours, 'send')).toBe(ours);
  });
});
