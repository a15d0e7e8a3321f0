/**
 * One long-lived POSIX shell on a host that runs commands one at a time.
 *
 * Why: every SSH `exec` starts the remote user's login shell and its rc files
 * (measured ~90 ms per exec for a root account with pyenv). A run has many
 * short steps, so it pays that once per session instead of once per step.
 *
 * Protocol: a small driver script is written to the shell's stdin. Each
 * command is sent as a quoted heredoc into a temp file and run under
 * `setsid` (its own process group, so a timeout or cancel kills the command
 * and everything it started). Output goes to temp files; the driver then
 * writes framed results with exact byte counts, capped remotely with
 * `head -c`, so 1 MB of output never crosses the wire.
 *
 * Deliberately left out: streaming output while a command runs, stdin for
 * commands (they read /dev/null), and running two commands at once on one
 * session (callers open more sessions).
 */
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { TriageError } from '../errors.ts';
import { DEFAULT_MAX_OUTPUT, DEFAULT_TIMEOUT_MS, type ExecOptions, type ExecResult } from './executor.ts';

const MARK = '@@TRIAGE';

const DRIVER = `
umask 077
T=$(mktemp -d "\${TMPDIR:-/tmp}/triage.XXXXXX") || { echo "${MARK} fail mktemp"; exit 1; }
trap 'rm -rf "$T"' EXIT HUP TERM
if command -v setsid >/dev/null 2>&1; then TS=setsid; else TS=; fi
t_run() {
  rm -f "$T/out" "$T/err" "$T/to"
  $TS sh "$T/cmd" </dev/null >"$T/out" 2>"$T/err" &
  p=$!
  printf '${MARK} start %s %s\\n' "$1" "$p"
  ( sleep "$2"; : > "$T/to"; kill -KILL -"$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
  w=$!
  wait "$p"; rc=$?
  kill -KILL "$w" 2>/dev/null; wait "$w" 2>/dev/null
  to=0; [ -f "$T/to" ] && to=1
  os=$(wc -c <"$T/out"); es=$(wc -c <"$T/err")
  printf '${MARK} end %s %s %s %s %s\\n' "$1" "$rc" "$to" $os $es
  head -c "$3" "$T/out"
  head -c "$3" "$T/err"
  printf '${MARK} done %s\\n' "$1"
}
echo "${MARK} ready $$"
`;

/** Kills a remote process group; provided by the transport (a second SSH channel, or a local signal). */
export type GroupKiller = (pgid: number) => Promise<void>;

interface Pending {
  id: string;
  cap: number;
  resolve: (r: Omit<ExecResult, 'durationMs' | 'aborted' | 'timedOut'> & { remoteTimedOut: boolean }) => void;
  reject: (e: Error) => void;
  pgid?: number;
}

/**
 * Runs commands through a shell's stdin/stdout. Construct it over any duplex
 * pair (an SSH channel, a local `sh`), then `await ready()`.
 */
export class ShellSession {
  private buf: Buffer = Buffer.alloc(0);
  private pending?: Pending;
  private queue: Promise<unknown> = Promise.resolve();
  private readyWaiter?: { resolve: () => void; reject: (e: Error) => void };
  private closedError?: Error;
  private readonly readyPromise: Promise<void>;
  private seq = 0;

  constructor(
    private readonly stdin: Writable,
    stdout: Readable,
    private readonly killGroup: GroupKiller,
    private readonly label: string,
  ) {
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.readyWaiter = { resolve, reject };
    });
    this.readyPromise.catch(() => {});
    stdout.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.parse();
    });
    stdout.on('close', () => this.fail(new TriageError('EXEC_FAILED', `shell session on ${label} closed`)));
    stdout.on('end', () => this.fail(new TriageError('EXEC_FAILED', `shell session on ${label} ended`)));
    stdin.on('error', (e) => this.fail(new TriageError('EXEC_FAILED', `shell session on ${label}: ${e.message}`)));
    stdin.write(DRIVER);
  }

  /** Resolves once the driver is running on the host. */
  ready(): Promise<void> {
    return this.readyPromise;
  }

  /** True once the underlying shell has gone away; the session cannot be reused. */
  get closed(): boolean {
    return this.closedError !== undefined;
  }

  /** Runs one command. Calls are serialised. */
  run(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const next = this.queue.then(() => this.runNow(command, opts));
    this.queue = next.catch(() => {});
    return next;
  }

  /** Ends the shell (the driver's trap removes its temp dir). */
  close(): void {
    if (this.closed) return;
    try {
      this.stdin.end('exit 0\n');
    } catch {
      /* already gone */
    }
    this.fail(new TriageError('EXEC_FAILED', `shell session on ${this.label} closed`));
  }

  private async runNow(command: string, opts: ExecOptions): Promise<ExecResult> {
    await this.readyPromise;
    if (this.closedError) throw this.closedError;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const cap = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
    const started = Date.now();
    if (opts.signal?.aborted) return emptyResult({ aborted: true, durationMs: 0 });

    const id = `${process.pid.toString(36)}${(++this.seq).toString(36)}${randomBytes(3).toString('hex')}`;
    let delim = `TRIAGE_EOF_${randomBytes(8).toString('hex')}`;
    while (command.includes(delim)) delim = `TRIAGE_EOF_${randomBytes(8).toString('hex')}`;
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));

    let aborted = false;
    let clientTimedOut = false;
    const done = new Promise<Parameters<Pending['resolve']>[0]>((resolve, reject) => {
      this.pending = { id, cap, resolve, reject };
    });
    const killNow = () => {
      const pgid = this.pending?.pgid;
      if (pgid) this.killGroup(pgid).catch(() => {});
    };
    const onAbort = () => {
      aborted = true;
      killNow();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    // The driver enforces the timeout itself; this is the backstop for a wedged driver.
    const backstop = setTimeout(() => {
      clientTimedOut = true;
      killNow();
      setTimeout(() => this.fail(new TriageError('EXEC_FAILED', `shell session on ${this.label} stopped answering`)), 3000).unref();
    }, timeoutMs + 5000);
    backstop.unref();

    this.stdin.write(`cat > "$T/cmd" <<'${delim}'\n${command}\n${delim}\nt_run ${id} ${seconds} ${cap}\n`);
    try {
      const r = await done;
      const timedOut = r.remoteTimedOut || clientTimedOut;
      return {
        exitCode: timedOut || aborted ? null : r.exitCode,
        stdout: r.stdout,
        stderr: r.stderr,
        truncated: r.truncated,
        outputBytes: r.outputBytes,
        timedOut: timedOut && !aborted,
        aborted,
        durationMs: Date.now() - started,
      };
    } finally {
      clearTimeout(backstop);
      opts.signal?.removeEventListener('abort', onAbort);
      this.pending = undefined;
    }
  }

  private parse(): void {
    for (;;) {
      const p = this.pending;
      const nl = this.buf.indexOf(10);
      if (nl < 0) return;
      const line = this.buf.subarray(0, nl).toString('utf8');
      if (line.startsWith(`${MARK} ready`)) {
        this.buf = this.buf.subarray(nl + 1);
        this.readyWaiter?.resolve();
        continue;
      }
      if (line.startsWith(`${MARK} fail`)) {
        this.buf = this.buf.subarray(nl + 1);
        this.fail(new TriageError('EXEC_FAILED', `could not start a shell session on ${this.label}: ${line.slice(MARK.length + 6)}`));
        return;
      }
      if (p && line.startsWith(`${MARK} start ${p.id} `)) {
        p.pgid = Number.parseInt(line.split(' ')[3] ?? '', 10) || undefined;
        this.buf = this.buf.subarray(nl + 1);
        continue;
      }
      if (p && line.startsWith(`${MARK} end ${p.id} `)) {
        const [rc, to, os, es] = line.split(' ').slice(3).map((n) => Number.parseInt(n, 10));
        const outLen = Math.min(os, p.cap);
        const errLen = Math.min(es, p.cap);
        const trailer = Buffer.from(`${MARK} done ${p.id}\n`);
        const need = nl + 1 + outLen + errLen + trailer.length;
        if (this.buf.length < need) return; // wait for the rest
        const body = this.buf.subarray(nl + 1, need - trailer.length);
        if (!this.buf.subarray(need - trailer.length, need).equals(trailer)) {
          this.fail(new TriageError('EXEC_FAILED', `garbled output from the shell session on ${this.label}`));
          return;
        }
        this.buf = this.buf.subarray(need);
        p.resolve({
          exitCode: rc,
          remoteTimedOut: to === 1,
          stdout: body.subarray(0, outLen).toString('utf8'),
          stderr: body.subarray(outLen).toString('utf8'),
          truncated: os > p.cap || es > p.cap,
          outputBytes: os + es,
        });
        continue;
      }
      // Noise from rc files before the driver started (motd, echo in .bashrc): drop it.
      this.buf = this.buf.subarray(nl + 1);
    }
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.readyWaiter?.reject(err);
    this.pending?.reject(err);
  }
}

function emptyResult(over: Partial<ExecResult>): ExecResult {
  return {
    exitCode: null,
    stdout: '',
    stderr: '',
    truncated: false,
    outputBytes: 0,
    timedOut: false,
    aborted: false,
    durationMs: 0,
    ...over,
  };
}
