/**
 * The executor a worker uses: `local` for `address: local`, SSH for the rest.
 */
import type { BatchCommand, ExecOptions, ExecResult, Executor, HostSpec } from './executor.ts';
import { LocalExecutor } from './local.ts';
import { SshExecutor, type SshExecutorOptions } from './ssh.ts';

/** Routes each host to the local or the SSH executor. */
export class RoutingExecutor implements Executor {
  constructor(
    private readonly ssh: Executor,
    private readonly local: Executor,
  ) {}
  exec(host: HostSpec, command: string, opts?: ExecOptions): Promise<ExecResult> {
    return (host.address === 'local' ? this.local : this.ssh).exec(host, command, opts);
  }
  async execBatch(host: HostSpec, commands: BatchCommand[], opts: { signal?: AbortSignal; onResult: (index: number, r: ExecResult) => void }): Promise<void> {
    const ex = host.address === 'local' ? this.local : this.ssh;
    if (ex.execBatch) return ex.execBatch(host, commands, opts);
    for (let i = 0; i < commands.length; i++) opts.onResult(i, await ex.exec(host, commands[i]!.command, { ...commands[i]!.opts, signal: opts.signal }));
  }
  async close(): Promise<void> {
    await Promise.all([this.ssh.close(), this.local.close()]);
  }
}

/** The default executor: pooled SSH plus local. */
export function createExecutor(opts: SshExecutorOptions = {}): Executor {
  return new RoutingExecutor(new SshExecutor(opts), new LocalExecutor());
}
