/**
 * Questions on a terminal for `triage init`. One line per answer; Ctrl-C or
 * end of input cancels (the caller writes nothing).
 *
 * Deliberately left out: hidden input (nothing asked is a secret) and
 * completion.
 */
import { createInterface } from 'node:readline';
import { TriageError } from '../errors.ts';

/** Asks one question at a time. */
export interface Prompter {
  /** Shows `question` (it carries its own `[default]: `) and resolves with the trimmed line typed. */
  ask(question: string): Promise<string>;
  close(): void;
}

/** A prompter on the process's terminal. */
export function terminalPrompter(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Prompter {
  const rl = createInterface({ input, output, terminal: true });
  let closed = false;
  let cancel: ((e: Error) => void) | undefined;
  const cancelled = () => new TriageError('CANCELLED', 'cancelled — nothing written');
  rl.on('SIGINT', () => {
    output.write('\n');
    rl.close();
  });
  rl.on('close', () => {
    closed = true;
    cancel?.(cancelled());
  });
  return {
    ask(question) {
      if (closed) return Promise.reject(cancelled());
      return new Promise((resolve, reject) => {
        cancel = reject;
        rl.question(question, (answer) => {
          cancel = undefined;
          resolve(answer.trim());
        });
      });
    },
    close() {
      cancel = undefined;
      rl.close();
    },
  };
}
