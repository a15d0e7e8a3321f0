/**
 * The chat boundary. An adapter (Telegram, Slack, console) does transport
 * only: it turns platform events into one {@link IncomingCommand} and renders
 * our platform-neutral {@link ChatMessage}s back. Everything else — parsing,
 * access control, runs, run cards, rate limiting — lives in the shared core.
 *
 * Buttons are commands too: a Cancel button sends `/cancel r_…`, so a click
 * goes through exactly the same parsing, access control and audit as text.
 *
 * Deliberately left out: platform features we do not use (reactions, modals,
 * message history), and any business logic in adapters.
 */

/** Which transport a command came from. */
export type Platform = 'telegram' | 'slack' | 'console';

/** Where a message lives, so it can be edited or replied to in a thread. */
export interface MessageRef {
  /** Place: `tg:<chat id>` / `slack:<channel id>` / `console:<name>`. */
  room: string;
  /** Platform message id: Telegram message_id, Slack ts. */
  id: string;
  /** Thread root (Slack thread_ts / Telegram message id replied to / forum topic). */
  thread?: string;
}

/** A button on a message: clicking it sends `command` as the clicking user. */
export interface ChatButton {
  label: string;
  /** A full command line, e.g. `/cancel r_abc`. Platforms with a limit drop buttons that exceed it (Telegram: 64 bytes, see telegram/render.ts). */
  command: string;
  style?: 'primary' | 'danger';
}

/**
 * A platform-neutral message. Adapters render it (Telegram HTML + inline
 * keyboard; Slack Block Kit) and escape every text field themselves.
 */
export interface ChatMessage {
  /** One bold line at the top. */
  title?: string;
  /** Plain lines (no markup): the adapter escapes them. */
  lines: string[];
  /** A preformatted block (command output), already redacted. */
  code?: string;
  buttons?: ChatButton[];
  /**
   * People to notify (`tg:<user id>` / `slack:<user id>`): the adapter turns
   * each into a real mention on its platform (Slack `<@U…>`, a Telegram user
   * link) on a line of its own after the text. Identities of another platform are left out.
   */
  mentions?: string[];
  /** Fallback/notification text (Slack `text`); default: title + first line. */
  summary?: string;
}

/** A file to attach when output is too long for a message. */
export interface ChatFile {
  filename: string;
  content: string;
  title?: string;
}

/** One command from a person, however it arrived. */
export interface IncomingCommand {
  platform: Platform;
  /** `tg:<user id>` / `slack:<user id>` / `console:<name>`. */
  user: string;
  /** Human-readable name for cards and audit (may be empty). */
  userName?: string;
  /** `tg:<chat id>` / `slack:<channel id>`. */
  room: string;
  /** The command line as typed (or the button's command), e.g. `/diagnose 502 shop`. */
  text: string;
  via: 'text' | 'button';
  /**
   * Platform delivery id, stable across redeliveries (Telegram `update_id`,
   * Slack `trigger_id` / action `trigger_id`). A repeat must not start a second run.
   */
  deliveryId: string;
  /** Thread the command was typed in, if any (replies go there). */
  thread?: string;
  /** For button clicks: the message the button was on. */
  message?: MessageRef;
}

/**
 * What the core needs from a transport. Every call may reject with a
 * {@link RateLimitedError} (the outbox waits and retries) or another error
 * (the outbox retries with backoff, then gives up and says so on the card).
 */
export interface ChatTransport {
  readonly platform: Platform;
  /** Posts a message (in a thread when `thread` is given). */
  post(room: string, msg: ChatMessage, opts?: { thread?: string }): Promise<MessageRef>;
  /** Replaces a posted message's content. */
  edit(ref: MessageRef, msg: ChatMessage): Promise<void>;
  /** Posts a file (long output). */
  upload(room: string, file: ChatFile, opts?: { thread?: string }): Promise<void>;
  /** A short reply only the user sees where the platform supports it (Slack ephemeral), else a normal reply. */
  replyPrivately?(cmd: IncomingCommand, msg: ChatMessage): Promise<void>;
  /** Most characters a message body may have on this platform (Telegram 4096, Slack section 3000). */
  readonly maxTextLength: number;
}

/** A transport that also receives: it calls `onCommand` for every incoming command. */
export interface ChatAdapter extends ChatTransport {
  start(onCommand: (cmd: IncomingCommand) => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

/** The platform said "too many requests": wait `retryAfterMs`, then try again. */
export class RateLimitedError extends Error {
  override name = 'RateLimitedError';
  constructor(
    readonly retryAfterMs: number,
    message = `rate limited: retry after ${retryAfterMs} ms`,
  ) {
    super(message);
  }
}
