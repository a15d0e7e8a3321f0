/**
 * One long-lived POSIX shell on a host that runs commands one at a time and
 * leaves nothing behind: no temp files, and no process outlives its step.
 *
 * Why a persistent shell: every SSH `exec` starts the remote user's login
 * shell and its rc files (measured ~90 ms per exec for a root account with
 * pyenv). A run has many short steps, so it pays that once per session.
 *
 * Protocol. The session's shell reads a short boot script and becomes
 * `guard | sh`, the second `sh` being the driver:
 * - the guard is the only reader of the session's stdin. It hands the driver
 *   its script, then forwards each command line; `k <pgid>` lines it runs
 *   itself (kill that process group: how the client cancels or times out a
 *   step — in-band, no second SSH channel, so it works with MaxSessions 1);
 *   `s <pid>` lines signal the driver to skip the rest of a cancelled batch.
 *   When stdin hits EOF (session closed, client socket gone, worker
 *   SIGKILLed: sshd closes the channel) it sends SIGHUP to the session's own
 *   process group; the driver's per-step waiter traps it and kills the step's
 *   group, which `timeout` (or `setsid`) moved out of reach of that HUP.
 * - the driver runs each command (one line: a single-quoted shell word, so no
 *   heredoc and no file) under `timeout -s KILL <t+2s> sh -c` — with
 *   `setsid` in front only where `timeout` does not lead a process group of
 *   its own (GNU timeout does: checked once at start). Its stdout and stderr
 *   go through pipes into `head -c <cap>` (1 MB of output never crosses the
 *   wire) and command substitutions, then out as frames with exact byte
 *   counts. What is left after the cap is counted by `wc -c`, started only
 *   when a stream passed its cap (one `read` tells). When the command's main
 *   process exits, its group is killed: background children it forgot die
 *   with the step.
 * `timeout` is the step's parent, in the step's group, and lives exactly as
 * long as the step; it is only the host-side backstop for a client that
 * vanished without closing TCP (a partition), since the client's own timer
 * sends `k` first. There is no watchdog: the old driver's per-step
 * `( sleep <timeout>; kill )` subshell left its `sleep` running for the whole
 * timeout after every step (7 `sleep`s after one 502 run, 600 after 6 steps
 * x 100 hosts) and kept the command and its raw output in `/tmp/triage.*`.
 *
 * Batches ({@link ShellSession.runBatch}): several `t_run` lines in one write;
 * the driver runs them in order and each result streams back as it finishes,
 * so a run's independent steps cost one round trip. Cancelling a batch sends
 * `s <driver pid>` (the guard signals USR1 to the driver, whose trap marks
 * the batch id) and `k <pgid>`: the running command dies and the driver
 * answers `skip <id>` for the rest instead of running them.
 *
 * Frames (each line starts with `@@TRIAGE`): `ready <driver pid> [big]`; per
 * step `start <id> <pgid>`, `exit <id> <rc>`, `out <id> <kept> <rest>` + kept
 * bytes, `err <id> <kept> <rest>` + kept bytes, or `skip <id>`. `rest` > 0
 * means the stream was cut at `cap` bytes and `rest` more were discarded on
 * the host. Ids are `<batch>.<n>`.
 *
 * Cost per step on the host, CPU time of the whole process tree over a local
 * dash (200 steps of `echo hi`, 2 shared cores under heavy load): 12.8 ms
 * with `setsid` and two `wc -c` per step (the previous driver), 9.3 ms now;
 * programs run per step 7 → 4 (`timeout`, `sh`, two `head`). A command past
 * its cap also pays a byte-wise `read` of the rest of that line and a `wc`.
 * Processes left per step: 0.
 *
 * Deliberately left out: streaming one command's output while it runs, stdin for
 * commands (they read /dev/null), two commands at once on one session
 * (callers open more sessions), and NUL bytes in output (the shell's command
 * substitution drops them; they are not counted either). Hosts without
 * setsid(1) and timeout(1): the step shares the session's group, so a
 * timeout kills only its shell and the rest goes when the session ends.
 */
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { TriageError } from '../errors.ts';
import { DEFAULT_MAX_OUTPUT, DEFAULT_TIMEOUT_MS, type ExecOptions, type ExecResult } from './executor.ts';

const MARK = '@@TRIAGE';

/** Extra seconds the host-side `timeout` waits past the client's own deadline. */
const HOST_GRACE_S = 2;
/** How long after the deadline a session that does not answer is given up. */
const WEDGED_MS = 5000;
/**
 * Commands longer than this (quoted) go as a length-prefixed payload that
 * `head -c` copies in one read: the shells' `read` takes one byte per
 * syscall, which cost ~+20 ms per 4 KB probe script (guard and driver each).
 */
const INLINE_MAX = 512;

/** The driver: read as a script by a second `sh` from the guard (see BOOT); prints `ready` when defined. */
const DRIVER = `exec 5>&1
NL='
'
T_SKIP=
trap 'T_SKIP=\${T_ID%%.*}' USR1
if command -v timeout >/dev/null 2>&1; then TO='timeout -s KILL'; else TO=; fi
if command -v setsid >/dev/null 2>&1; then TS=setsid; else TS=; fi
if [ -n "$TO" ] && timeout 5 sh -c 'read -r _p _c _s _pp _g _r </proc/$$/stat && [ "$_g" = "$_pp" ]' 2>/dev/null; then TS=; fi
T_WC=$(command -v wc) || T_WC=wc
t_cap() {
  head -c "$1"; echo
  [ -n "$T_EXACT" ] || exec "$T_WC" -c
  LC_ALL=C; _x=; IFS= read -r _x; _c=$?
  if [ "$_c" != 0 ]; then echo \${#_x}; else _w=$("$T_WC" -c); echo $((\${#_x} + 1 + _w)); fi
}
t_frame() {
  _r=\${2##*"$NL"}; _o=\${2%"$NL"*}
  _s=\${LC_ALL+x}; _l=\${LC_ALL-}; LC_ALL=C; _n=\${#_o}
  if [ -n "$_s" ]; then LC_ALL=$_l; else unset LC_ALL; fi
  printf '${MARK} %s %s %s %s\\n%s' "$1" "$T_ID" "$_n" $_r "$_o"
}
t_step() {
  trap '[ -n "$!" ] && { kill -KILL -"$!" 2>/dev/null || kill -KILL "$!" 2>/dev/null; wait; }; exit 129' HUP
  $TS $TO \${TO:+"$T_SECS"} sh -c "$T_CMD" </dev/null 2>&4 4>&- 5>&- &
  printf '${MARK} start %s %s\\n' "$T_ID" "$!" >&5
  wait "$!"; _rc=$?
  kill -KILL -"$!" 2>/dev/null
  printf '${MARK} exit %s %s\\n' "$T_ID" "$_rc" >&5
}
t_run() {
  T_ID=$1 T_CAP=$2 T_SECS=$3 T_CMD=$4
  case $T_ID in "$T_SKIP".*) printf '${MARK} skip %s\\n' "$T_ID"; return ;; esac
  _e=$( { _o=$(t_step | t_cap "$T_CAP" 4>&-); t_frame out "$_o" >&5; } 4>&1 | t_cap "$T_CAP")
  t_frame err "$_e"
}
if [ "$(printf 'ab\\ncd\\n' | { head -c 1 >/dev/null; IFS= read -r _x; printf %s "$_x"; })" = b ]; then _b=big; T_EXACT=1; else _b=; T_EXACT=; fi
echo "${MARK} ready $$ $_b"
`;

/**
 * What the session's shell reads from stdin: the guard, which hands the
 * driver its script and then every command line. One brace group, so shells
 * that read their script line by line (bash) parse all of it before the
 * guard starts reading the same stdin. `t_big ... <len>` lines are followed
 * by a payload the guard copies with one `head -c` instead of `read`'s byte
 * at a time.
 */
const BOOT = `{
T_DRIVER=${shellQuote(DRIVER)}
t_guard() {
  printf '%s\n' "$T_DRIVER"
  while IFS= read -r _l; do
    case $_l in
      'k '*) _p=\${_l#k }
        case $_p in ''|*[!0-9]*) ;; *) kill -KILL -"$_p" 2>/dev/null || kill -KILL "$_p" 2>/dev/null ;; esac ;;
      's '*) _p=\${_l#s }
        case $_p in ''|*[!0-9]*) ;; *) kill -USR1 "$_p" 2>/dev/null ;; esac ;;
      't_big '*) set -- $_l; printf 't_run %s %s %s ' "$2" "$3" "$4" && head -c "$5" || break ;;
      *) printf '%s\n' "$_l" || break ;;
    esac
  done
  kill -HUP 0
}
t_guard | sh
exit 0
}
`;

interface Stream {
  kept: Buffer;
  rest: number;
}

/** What the host sent back for one command. */
interface Raw {
  exitCode: number | null;
  out: Stream;
  err: Stream;
  /** The host skipped it: the batch it belonged to was cancelled before it started. */
  skipped?: boolean;
}

interface Pending {
  id: string;
  cap: number;
  pgid?: number;
  killWanted: boolean;
  exitCode?: number;
  out?: Stream;
  resolve: (r: Raw) => void;
  reject: (e: Error) => void;
}

/** One command of a {@link ShellSession.runBatch} call. */
export interface BatchItem {
  command: string;
  /** `timeoutMs` and `maxOutputBytes` of this command; a signal here is ignored (the batch has one). */
  opts?: ExecOptions;
}

/**
 * Runs commands through a shell's stdin/stdout. Construct it over any duplex
 * pair (an SSH channel, a local `sh` that leads its own process group), then
 * `await ready()`.
 */
export class ShellSession {
  private buf: Buffer = Buffer.alloc(0);
  private pending?: Pending;
  /** Commands sent ahead in the running batch, after `pending`, in the order the host runs them. */
  private ahead: Pending[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readyWaiter?: { resolve: () => void; reject: (e: Error) => void };
  private closedError?: Error;
  private readonly readyPromise: Promise<void>;
  private seq = 0;
  /** The driver's pid on the host (from `ready`): the guard signals it to skip the rest of a cancelled batch. */
  private driverPid?: number;
  /** The host's `head -c` reads exactly N bytes from a pipe (GNU, BusyBox; not BSD), so big commands may use it. */
  private exactHead = false;

  constructor(
    private readonly stdin: Writable,
    stdout: Readable,
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
    stdout.on('error', (e) => this.fail(new TriageError('EXEC_FAILED', `shell session on ${label}: ${e.message}`)));
    stdout.on('close', () => this.fail(new TriageError('EXEC_FAILED', `shell session on ${label} closed`)));
    stdout.on('end', () => this.fail(new TriageError('EXEC_FAILED', `shell session on ${label} ended`)));
    stdin.on('error', (e) => this.fail(new TriageError('EXEC_FAILED', `shell session on ${label}: ${e.message}`)));
    this.send(BOOT);
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
  async run(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    let result: ExecResult | undefined;
    await this.runBatch([{ command, opts }], opts.signal, (_i, r) => {
      result = r;
    });
    return result!;
  }

  /**
   * Runs several commands one after another in one write: the host gets them
   * all at once and streams each result back as it finishes (`onResult`, in
   * order), so a batch costs one round trip instead of one per command. Each
   * command keeps its own timeout (counted from when the one before it
   * finished) and output cap. Aborting `signal` kills the running command and
   * the host skips the rest: they resolve `aborted` without having run.
   * Rejects when the session breaks; results already delivered stay valid,
   * the rest never come. Calls are serialised with {@link run}.
   */
  runBatch(items: BatchItem[], signal: AbortSignal | undefined, onResult: (index: number, r: ExecResult) => void): Promise<void> {
    const next = this.queue.then(() => this.runNow(items, signal, onResult));
    this.queue = next.catch(() => {});
    return next;
  }

  /**
   * Ends the session: closing stdin makes the host-side guard kill whatever
   * step is running and end the shell. A command in flight rejects.
   */
  close(): void {
    this.fail(new TriageError('EXEC_FAILED', `shell session on ${this.label} closed`));
  }

  private async runNow(items: BatchItem[], signal: AbortSignal | undefined, onResult: (index: number, r: ExecResult) => void): Promise<void> {
    await this.readyPromise;
    if (this.closedError) throw this.closedError;
    if (!items.length) return;
    if (signal?.aborted) {
      for (let i = 0; i < items.length; i++) onResult(i, emptyResult({ aborted: true }));
      return;
    }
    const batch = `${process.pid.toString(36)}${(++this.seq).toString(36)}${randomBytes(3).toString('hex')}`;
    const entries = items.map((item, i) => {
      const pending: Pending = { id: `${batch}.${i}`, cap: item.opts?.maxOutputBytes ?? DEFAULT_MAX_OUTPUT, killWanted: false, resolve: () => {}, reject: () => {} };
      const done = new Promise<Raw>((resolve, reject) => {
        pending.resolve = resolve;
        pending.reject = reject;
      });
      done.catch(() => {});
      return { item, pending, done };
    });
    this.pending = entries[0]!.pending;
    this.ahead = entries.slice(1).map((e) => e.pending);

    let aborted = false;
    let current = 0;
    const onAbort = () => {
      aborted = true;
      // The skip signal goes first, so the driver knows before the running command's output is in.
      if (entries.length > 1 && this.driverPid) this.send(`s ${this.driverPid}\n`);
      const p = entries[current]?.pending;
      if (!p) return;
      p.killWanted = true;
      if (p.pgid) this.send(`k ${p.pgid}\n`);
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    let text = '';
    for (const { item, pending } of entries) text += this.line(pending, item);
    this.send(text);
    try {
      for (let i = 0; i < entries.length; i++) {
        current = i;
        const { item, pending, done } = entries[i]!;
        const timeoutMs = item.opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        const started = Date.now();
        let timedOut = false;
        const deadline = setTimeout(() => {
          timedOut = true;
          pending.killWanted = true;
          if (pending.pgid) this.send(`k ${pending.pgid}\n`);
        }, timeoutMs);
        const wedged = setTimeout(
          () => this.fail(new TriageError('EXEC_FAILED', `shell session on ${this.label} stopped answering`)),
          timeoutMs + WEDGED_MS,
        );
        deadline.unref();
        wedged.unref();
        if (aborted && !pending.killWanted) onAbort();
        let r: Raw;
        try {
          r = await done;
        } finally {
          clearTimeout(deadline);
          clearTimeout(wedged);
        }
        if (r.skipped) {
          onResult(i, emptyResult({ aborted: true }));
          continue;
        }
        const cap = pending.cap;
        const killed = timedOut || aborted || (r.exitCode === 137 && Date.now() - started >= timeoutMs);
        onResult(i, {
          exitCode: killed ? null : r.exitCode,
          stdout: r.out.kept.toString('utf8'),
          stderr: r.err.kept.toString('utf8'),
          truncated: r.out.rest > 0 || r.err.rest > 0,
          outputBytes: streamBytes(r.out, cap) + streamBytes(r.err, cap),
          timedOut: killed && !aborted,
          aborted,
          durationMs: Date.now() - started,
        });
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.pending = undefined;
      this.ahead = [];
    }
  }

  /** The line (or length-prefixed payload) that asks the driver to run one command. */
  private line(p: Pending, item: BatchItem): string {
    const hostSeconds = Math.max(1, Math.ceil((item.opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)) + HOST_GRACE_S;
    const word = shellWord(item.command);
    if (this.exactHead && word.length > INLINE_MAX) return `t_big ${p.id} ${p.cap} ${hostSeconds} ${Buffer.byteLength(word) + 1}\n${word}\n`;
    return `t_run ${p.id} ${p.cap} ${hostSeconds} ${word}\n`;
  }

  private send(text: string): void {
    if (this.closedError) return;
    try {
      this.stdin.write(text);
    } catch (e) {
      this.fail(new TriageError('EXEC_FAILED', `shell session on ${this.label}: ${(e as Error).message}`));
    }
  }

  /** The command after the current one becomes current. */
  private advance(): void {
    this.pending = this.ahead.shift();
  }

  private parse(): void {
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl < 0) return;
      const line = this.buf.subarray(0, nl).toString('utf8');
      const p = this.pending;
      const [mark, kind, id, a, b] = line.split(' ');
      if (mark !== MARK) {
        // Noise from rc files before the driver started (motd, echo in .bashrc): drop it.
        this.buf = this.buf.subarray(nl + 1);
        continue;
      }
      if (kind === 'ready') {
        this.exactHead = a === 'big';
        this.driverPid = toInt(id);
        this.buf = this.buf.subarray(nl + 1);
        this.readyWaiter?.resolve();
        continue;
      }
      if (!p || id !== p.id) {
        this.buf = this.buf.subarray(nl + 1);
        continue;
      }
      if (kind === 'start') {
        p.pgid = toInt(a);
        if (p.pgid !== undefined && p.pgid <= 1) p.pgid = undefined;
        if (p.killWanted && p.pgid) this.send(`k ${p.pgid}\n`);
      } else if (kind === 'exit') {
        p.exitCode = toInt(a);
      } else if (kind === 'skip') {
        this.advance();
        p.resolve({ exitCode: null, out: EMPTY, err: EMPTY, skipped: true });
      } else if (kind === 'out' || kind === 'err') {
        const kept = toInt(a);
        const rest = toInt(b);
        if (kept === undefined || rest === undefined || kept > p.cap) {
          this.fail(new TriageError('EXEC_FAILED', `garbled output from the shell session on ${this.label}`));
          return;
        }
        if (this.buf.length < nl + 1 + kept) return; // wait for the rest of the frame
        const stream = { kept: Buffer.from(this.buf.subarray(nl + 1, nl + 1 + kept)), rest };
        this.buf = this.buf.subarray(nl + 1 + kept);
        if (kind === 'out') p.out = stream;
        else if (p.out && p.exitCode !== undefined) {
          this.advance();
          p.resolve({ exitCode: p.exitCode, out: p.out, err: stream });
        } else {
          this.fail(new TriageError('EXEC_FAILED', `garbled output from the shell session on ${this.label}`));
          return;
        }
        continue;
      }
      this.buf = this.buf.subarray(nl + 1);
    }
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.readyWaiter?.reject(err);
    this.pending?.reject(err);
    for (const p of this.ahead) p.reject(err);
    try {
      this.stdin.end();
    } catch {
      // already gone
    }
  }
}

const EMPTY: Stream = { kept: Buffer.alloc(0), rest: 0 };

/** `s` as one single-quoted shell word (newlines kept). */
function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

/** The command as one line of shell: single-quoted, newlines spliced in as `"$NL"`. */
function shellWord(command: string): string {
  return command
    .split('\n')
    .map((part) => `'${part.replaceAll("'", "'\\''")}'`)
    .join('"$NL"');
}

/** Bytes the command wrote to one stream: all of them when it fit, else the cap plus what was counted after it. */
function streamBytes(s: Stream, cap: number): number {
  return s.rest > 0 ? cap + s.rest : s.kept.length;
}

function toInt(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  return Number.parseInt(s, 10);
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
