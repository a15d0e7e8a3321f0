/**
 * The `local` executor: runs commands on the worker's own machine
 * (`address: local` in config) through the same persistent-shell driver the
 * SSH executor uses, so a step behaves the same wherever it runs.
 *
 * Deliberately left out: running as another user (the worker's user runs it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { TriageError } from '../errors.ts';
import type { BatchCommand, ExecOptions, ExecResult, Executor, HostSpec } from './executor.ts';
import { ShellSession } from './shell-session.ts';
import { SessionPool } from './session-pool.ts';

/** Options for {@link LocalExecutor}. */
export interface LocalExecutorOptions {
  /** Shell sessions kept open at once. Default 8. */
  maxSessions?: number;
}

const START_TIMEOUT_MS = 10_000;

export class LocalExecutor implements Executor {
  private readonly children = new Set<ChildProcess>();
  private readonly pool: SessionPool;

  constructor(opts: LocalExecutorOptions = {}) {
    this.pool = new SessionPool(() => this.open(), opts.maxSessions ?? 8);
  }

  async exec(_host: HostSpec, command: string, opts?: ExecOptions): Promise<ExecResult> {
    return this.pool.use((s) => s.run(command, opts));
  }

  async execBatch(_host: HostSpec, commands: BatchCommand[], opts: { signal?: AbortSignal; onResult: (index: number, r: ExecResult) => void }): Promise<void> {
    return this.pool.use((s) => s.runBatch(commands, opts.signal, opts.onResult));
  }

  async close(): Promise<void> {
    this.pool.close();
    for (const c of this.children) {
      c.stdin?.end();
      // The whole session (its own process group): the driver's step waiters trap HUP and kill their steps.
      if (c.exitCode === null && c.pid) signalGroup(c.pid, 'SIGHUP');
    }
    this.children.clear();
  }

  private async open(): Promise<ShellSession> {
    // detached: the shell leads its own process group, which the driver's guard signals when stdin closes.
    const child = spawn('sh', [], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (e) => reject(new TriageError('EXEC_FAILED', `cannot start sh on this machine: ${e.message}`)));
    });
    child.stdin!.on('error', () => {}); // EPIPE once the shell is gone; the session reports it as closed
    const session = new ShellSession(child.stdin!, child.stdout!, child.stderr!, 'local');
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        session.ready(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new TriageError('EXEC_FAILED', `sh on this machine did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      session.close();
      if (child.pid) signalGroup(child.pid, 'SIGHUP');
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return session;
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}
