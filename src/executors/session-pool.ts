/**
 * A bounded pool of shell sessions on one host. Callers borrow a session for
 * one command; at most `max` commands run on the host at once (so a sick host
 * is not hammered), further callers wait their turn in order.
 */
import type { ShellSession } from './shell-session.ts';

export class SessionPool {
  private readonly idle: ShellSession[] = [];
  private open = 0;
  private readonly waiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly create: () => Promise<ShellSession>,
    private readonly max: number,
  ) {}

  /** Borrows a session for `fn`, returning it afterwards (or dropping it if it broke). */
  async use<T>(fn: (s: ShellSession) => Promise<T>): Promise<T> {
    const s = await this.acquire();
    try {
      return await fn(s);
    } finally {
      this.release(s);
    }
  }

  /** Closes idle sessions; sessions in use close when they come back. */
  close(): void {
    this.closed = true;
    for (const s of this.idle.splice(0)) s.close();
  }

  private async acquire(): Promise<ShellSession> {
    for (;;) {
      const s = this.idle.pop();
      if (s && !s.closed) return s;
      if (s) {
        this.open--;
        continue;
      }
      if (this.open < this.max) {
        this.open++;
        try {
          return await this.create();
        } catch (e) {
          this.open--;
          this.wakeOne();
          throw e;
        }
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  private release(s: ShellSession): void {
    if (s.closed || this.closed) {
      s.close();
      this.open--;
    } else {
      this.idle.push(s);
    }
    this.wakeOne();
  }

  private wakeOne(): void {
    this.waiters.shift()?.();
  }
}
