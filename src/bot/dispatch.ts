/**
 * Hands an adapter's incoming commands to the core, the same way on every
 * platform: a command that fails is logged (the core has already answered
 * in chat what it could) and never reaches the platform library, which would
 * otherwise treat it as a transport failure and redeliver; every command is
 * tracked in flight so `stop()` can wait for it (see `in-flight.ts`); a
 * command that arrives before `start` or after `stop` is dropped.
 *
 * An adapter is given one of these, not a base class: what happens around a
 * command that is platform business (Slack's ack, Telegram's click spinner)
 * stays in the adapter, through `afterEach` at most.
 *
 * Deliberately left out: parsing, access control and deduplication (the
 * core's), and queueing — each command runs as soon as it arrives.
 */
import type { IncomingCommand } from './adapter.ts';
import { createInFlight, type InFlight } from './in-flight.ts';

/** What an adapter hands each command to: the core's `handle`. */
export type CommandHandler = (cmd: IncomingCommand) => Promise<void>;

/** Options for {@link createDispatch}. */
export interface DispatchOptions {
  /** Names the adapter in log lines: `telegram`, `slack`. */
  platform: string;
  /** Where a failed command is logged. */
  logger: Pick<Console, 'error'>;
  /** Runs after each handed-over command, handled or failed (still counted in flight while it runs). */
  afterEach?: (cmd: IncomingCommand) => void;
  /** Longest `close()` waits for commands in flight. Default 10 000 ms ({@link DEFAULT_SETTLE_MS}). */
  settleMs?: number;
}

/** One adapter's way to the core. */
export interface Dispatch {
  /** From now on, commands go to `handler`. */
  open(handler: CommandHandler): void;
  /** Hands `cmd` over; resolves once it is handled or has failed (never rejects). Does nothing while closed. */
  dispatch(cmd: IncomingCommand): Promise<void>;
  /** Waits for the commands in flight (at most `settleMs`), then drops the handler: later commands are dropped. */
  close(): Promise<void>;
}

/**
 * Creates a closed {@link Dispatch}.
 *
 *   const commands = createDispatch({ platform: 'slack', logger });
 *   app.command(/^\/.+/, async ({ command, ack }) => { await ack(); await commands.dispatch(commandFromSlash(command)); });
 */
export function createDispatch(o: DispatchOptions, inFlight: InFlight = createInFlight()): Dispatch {
  let handler: CommandHandler | undefined;
  return {
    open(h) {
      handler = h;
    },
    dispatch(cmd) {
      const h = handler;
      if (!h) return Promise.resolve();
      const handled = h(cmd)
        .catch((err: unknown) => {
          o.logger.error(`triage: ${o.platform}: command ${JSON.stringify(cmd.text)} failed:`, err);
        })
        .finally(() => o.afterEach?.(cmd));
      return inFlight.track(handled);
    },
    async close() {
      await inFlight.settled(o.settleMs);
      handler = undefined;
    },
  };
}
