/**
 * The Executor contract: run one shell command on one host and get a result.
 *
 * A non-zero exit code is data, not an exception. `exec` rejects only when the
 * host cannot be used at all (connect, auth or host-key failure), with a
 * `TriageError` whose code says which.
 *
 * Deliberately left out: file transfer, interactive input, streaming output to
 * the caller, and any notion of runbooks or chat. Commands arrive fully built
 * and quoted; the executor never interprets or templates them.
 */

/** Options for one {@link Executor.exec} call. */
export interface ExecOptions {
  /** Kill the remote process group after this long. Default 30 000 ms. */
  timeoutMs?: number;
  /** Aborting kills the remote process group and resolves with `aborted: true`. */
  signal?: AbortSignal;
  /** Bytes kept per stream (stdout, stderr); the rest is counted, not sent. Default 65 536. */
  maxOutputBytes?: number;
}

/** What one command did. */
export interface ExecResult {
  /** Exit code; `null` when killed (timeout, abort) before it exited. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** True when a stream was longer than `maxOutputBytes`. */
  truncated: boolean;
  /** Total bytes the command wrote to stdout + stderr. */
  outputBytes: number;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
}

/** The facts an executor needs about a host (a resolved `hosts:` entry). */
export interface HostSpec {
  /** Name in config, e.g. `web1`. */
  name: string;
  /** IP or DNS name, or `local` for the worker's own machine. */
  address: string;
  port?: number;
  user?: string;
  /** Private key contents (already read from disk). */
  privateKey?: Buffer | string;
  passphrase?: string;
  /** Use the SSH agent at `$SSH_AUTH_SOCK`. */
  agent?: boolean;
  /** Pinned host key fingerprint, `SHA256:<base64>`. */
  hostKey?: string;
  /** Path of a known_hosts file to check the host key against. */
  knownHosts?: string;
  /** Which workers may reach this host. Default `default`. */
  zone?: string;
  /** Connect timeout. Default 10 000 ms. */
  connectTimeoutMs?: number;
}

/** One command of an {@link Executor.execBatch} call: its own timeout and output cap. */
export interface BatchCommand {
  command: string;
  /** `timeoutMs` and `maxOutputBytes`; the batch's signal is given once, to `execBatch`. */
  opts?: Omit<ExecOptions, 'signal'>;
}

/** Runs commands on hosts. One executor serves many hosts and keeps its own connections. */
export interface Executor {
  exec(host: HostSpec, command: string, opts?: ExecOptions): Promise<ExecResult>;
  /**
   * Optional: runs `commands` one after another on the host, sent together
   * (one round trip), calling `onResult` for each in order as it finishes.
   * Aborting `signal` kills the running one; the rest are not run and come
   * back `aborted`. Rejects like {@link exec} when the host cannot be used;
   * results already delivered stay valid and the rest never come.
   */
  execBatch?(host: HostSpec, commands: BatchCommand[], opts: { signal?: AbortSignal; onResult: (index: number, r: ExecResult) => void }): Promise<void>;
  /** Closes every pooled connection. */
  close(): Promise<void>;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_OUTPUT = 64 * 1024;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
