/**
 * How every chat adapter hands commands to the core (src/bot/dispatch.ts and
 * in-flight.ts): a failing command is logged, not thrown back at the
 * platform library; stop waits for the commands still running — at most its
 * deadline — and drops what arrives afterwards.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { IncomingCommand } from '../../src/bot/adapter.ts';
import { createDispatch } from '../../src/bot/dispatch.ts';
import { createInFlight } from '../../src/bot/in-flight.ts';

const command = (text: string, deliveryId = text): IncomingCommand => ({ platform: 'slack', user: 'slack:U1', room: 'slack:C1', text, via: 'text', deliveryId });

/** A core whose commands finish when the test says so. */
function slowCore() {
  const handled: string[] = [];
  const pending = new Map<string, () => void>();
  return {
    handled,
    handle: (cmd: IncomingCommand) =>
      new Promise<void>((resolve) => {
        pending.set(cmd.text, () => {
          handled.push(cmd.text);
          resolve();
        });
      }),
    finish: (text: string) => pending.get(text)?.(),
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('dispatch', () => {
  it('hands commands to the core once started, and none before', async () => {
    const seen: string[] = [];
    const commands = createDispatch({ platform: 'slack', logger: console });
    await commands.dispatch(command('/help early'));
    commands.open(async (cmd) => {
      seen.push(cmd.text);
    });
    await commands.dispatch(command('/diagnose 502 shop'));
    expect(seen).toEqual(['/diagnose 502 shop']);
  });

  it('logs a command that failed, naming it, and resolves: the platform library never sees the failure', async () => {
    const errors: unknown[][] = [];
    const after: string[] = [];
    const commands = createDispatch({ platform: 'telegram', logger: { error: (...a: unknown[]) => errors.push(a) }, afterEach: (cmd) => after.push(cmd.text) });
    commands.open(async () => {
      throw new Error('redis went away');
    });
    await expect(commands.dispatch(command('/status'))).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(errors[0]![0]).toBe('triage: telegram: command "/status" failed:');
    expect((errors[0]![1] as Error).message).toBe('redis went away');
    expect(after, 'afterEach runs for failed commands too (Telegram answers the click)').toEqual(['/status']);
  });

  it('stop waits for the commands still running, then drops what arrives later', async () => {
    const core = slowCore();
    const commands = createDispatch({ platform: 'slack', logger: console });
    commands.open(core.handle);
    void commands.dispatch(command('/diagnose 502 shop'));
    const status = commands.dispatch(command('/status'));
    let stopped = false;
    const stop = commands.close().then(() => {
      stopped = true;
    });
    core.finish('/status');
    await status;
    await new Promise((r) => setImmediate(r));
    expect(stopped, 'the /diagnose is still running').toBe(false);
    core.finish('/diagnose 502 shop');
    await stop;
    expect(core.handled).toEqual(['/status', '/diagnose 502 shop']);
    await commands.dispatch(command('/help'));
    expect(core.handled).not.toContain('/help');
  });

  it('stop gives up waiting for a command stuck past its deadline', async () => {
    vi.useFakeTimers();
    const core = slowCore();
    const commands = createDispatch({ platform: 'slack', logger: console, settleMs: 10_000 });
    commands.open(core.handle);
    void commands.dispatch(command('/diagnose 502 stuck'));
    let stopped = false;
    const stop = commands.close().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(9_999);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stop;
    expect(stopped).toBe(true);
    expect(core.handled).toEqual([]);
  });
});

describe('in-flight', () => {
  it('counts what runs and forgets each as it settles, rejected ones too', async () => {
    const inFlight = createInFlight();
    let fail: (e: Error) => void = () => {};
    const failing = inFlight.track(
      new Promise<void>((_, reject) => {
        fail = reject;
      }),
    ).catch(() => 'failed');
    const done = inFlight.track(Promise.resolve('ok'));
    expect(inFlight.size).toBe(2);
    await done;
    fail(new Error('x'));
    expect(await failing).toBe('failed');
    await inFlight.settled();
    expect(inFlight.size).toBe(0);
  });
});
