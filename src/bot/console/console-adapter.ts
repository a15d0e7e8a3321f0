/**
 * A chat adapter on a terminal: each line typed is a command from
 * `console:<$USER>` in room `console:local`; messages print as plain text,
 * edits print the new version under the same number, buttons print the
 * command they send (type it to click). For trying Triage without chat
 * tokens, and for demos.
 *
 * Deliberately left out: private replies (everything is private here), and
 * history or scrolling.
 */
import { createInterface, type Interface } from 'node:readline';
import { escapeText } from '../../escape.ts';
import type { ChatAdapter, ChatFile, ChatMessage, IncomingCommand, MessageRef } from '../adapter.ts';
import { renderPlainText } from './plain-text.ts';

/** Options for {@link ConsoleAdapter}. */
export interface ConsoleAdapterOptions {
  /** Default `process.stdin`. */
  input?: NodeJS.ReadableStream;
  /** Default `process.stdout`. */
  output?: NodeJS.WritableStream;
  /** The user's name; default `$USER`, else `local`. Becomes `console:<name>`. */
  user?: string;
}

/** The console room. */
export const CONSOLE_ROOM = 'console:local';

/** A ChatAdapter on stdin/stdout. */
export class ConsoleAdapter implements ChatAdapter {
  readonly platform = 'console' as const;
  readonly maxTextLength = 8000;
  readonly user: string;
  private readonly input: NodeJS.ReadableStream;
  private readonly output: NodeJS.WritableStream;
  private rl?: Interface;
  private seq = 0;
  private lines = 0;

  constructor(o: ConsoleAdapterOptions = {}) {
    this.input = o.input ?? process.stdin;
    this.output = o.output ?? process.stdout;
    const name = (o.user ?? process.env.USER ?? 'local').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 32) || 'local';
    this.user = `console:${name}`;
  }

  async start(onCommand: (cmd: IncomingCommand) => Promise<void>): Promise<void> {
    this.rl = createInterface({ input: this.input, terminal: false });
    this.rl.on('line', (line) => {
      const text = line.trim();
      if (!text) return;
      const cmd: IncomingCommand = {
        platform: 'console',
        user: this.user,
        room: CONSOLE_ROOM,
        text,
        via: 'text',
        deliveryId: `${process.pid}-${Date.now()}-${++this.lines}`,
      };
      onCommand(cmd).catch((e) => this.write(`! ${(e as Error).message}`));
    });
  }

  async stop(): Promise<void> {
    this.rl?.close();
    this.rl = undefined;
  }

  async post(room: string, msg: ChatMessage, opts: { thread?: string } = {}): Promise<MessageRef> {
    const id = String(++this.seq);
    this.write(`── #${id}${opts.thread ? ` (thread of #${opts.thread})` : ''}\n${renderPlainText(msg)}`);
    return { room, id, ...(opts.thread ? { thread: opts.thread } : {}) };
  }

  async edit(ref: MessageRef, msg: ChatMessage): Promise<void> {
    this.write(`── #${ref.id} (edited)\n${renderPlainText(msg)}`);
  }

  async upload(_room: string, file: ChatFile, opts: { thread?: string } = {}): Promise<void> {
    this.write(`── file ${file.filename}${opts.thread ? ` (thread of #${opts.thread})` : ''}\n${file.content}`);
  }

  private write(s: string): void {
    // A terminal: file contents and error text pass the same escape as everything else printed.
    this.output.write(`${escapeText(s)}\n`);
  }
}
