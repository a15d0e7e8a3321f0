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
 *   process group; the driver traps it and kills the running step's group,
 *   which `timeout` (or `setsid`) moved out of reach of that HUP.
 * - the driver runs each command (one line: a single-quoted shell word, so no
 *   heredoc and no file) in the background as `timeout -s KILL <t+2s> sh -c`
 *   — with `setsid` in front only where `timeout` does not lead a process
 *   group of its own (GNU timeout does: checked once at start) — and waits
 *   for it. The command writes straight to the session's stdout and stderr:
 *   no pipes, no `head`, no command substitution. Before it starts, the
 *   step's subshell writes a `start` frame to each stream (with its own pid,
 *   read from /proc/self/stat: the step's process group); after it ends the
 *   driver kills what is left of that group (background children it forgot
 *   die with the step) and writes the closing frames. Output between the
 *   frames is the command's, byte for byte; the client keeps `cap` bytes of
 *   each stream and counts the rest, and kills a step whose output runs past
 *   {@link RUNAWAY_BYTES}.
 * `timeout` is the step's parent, in the step's group, and lives exactly as
 * long as the step; it is only the host-side backstop for a client that
 * vanished without closing TCP (a partition), since the client's own timer
 * sends `k` first. There is no watchdog and nothing on disk.
 *
 * Frames are lines that start with the session's marker, `@@TRIAGE:` and 16
 * random hex digits chosen by the client for this session (the command
 * cannot know it: it is not exported), each after a newline of its own:
 * `ready <driver pid> [big]`; per step on stdout `start <id> <pgid>`, the
 * output, `exit <id> <rc>`, or just `skip <id>`; on stderr `start <id>`, the
 * output, `end <id>`. The newline before a closing frame is the driver's,
 * not the command's. Ids are `<batch>.<n>`.
 *
 * Batches ({@link ShellSession.runBatch}): several `t_run` lines in one write;
 * the driver runs them in order and each result streams back as it finishes,
 * so a run's independent steps cost one round trip. Cancelling a batch sends
 * `s <driver pid>` (the guard signals USR1 to the driver, whose trap marks
 * the batch id) and `k <pgid>`: the running command dies and the driver
 * answers `skip <id>` for the rest instead of running them.
 *
 * Cost per step on the host, CPU time of the whole process tree over a local
 * dash (120 steps of `uname -srm`, 2 cores): ~12 ms with the previous
 * driver (output through pipes, two `head -c` and command substitutions per
 * step), ~5.5 ms now: the fork, `timeout`, `sh` and the command itself.
 * Processes left per step: 0.
 *
 * Deliberately left out: streaming one command's output to the caller while
 * it runs (it is collected per step), stdin for commands (they read
 * /dev/null), two commands at once on one session (callers open more
 * sessions). Hosts without setsid(1) and timeout(1): the step shares the
 * session's group, so a timeout kills only its shell and the rest goes when
 * the session ends; hosts without /proc: the client cannot kill a step
 * (its host-side timeout still ends it).
 */
import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { TriageError } from '../errors.ts';
import { DEFAULT_MAX_OUTPUT, DEFAULT_TIMEOUT_MS, type ExecOptions, type ExecResult } from './executor.ts';

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
/** Bytes of an unfinished line kept between steps: enough for any frame line. */
const NOISE_KEEP = 4096;
/** A stream this long is a runaway (`yes`): the step is killed; what was kept stays. */
export const RUNAWAY_BYTES = 64 * 1024 * 1024;

/** The driver: read as a script by a second `sh` from the guard (see boot()); prints `ready` when defined. */
const DRIVER = `NL='
'
T_SKIP=
T_ID=
T_RUN=
T_INT=
t_kill() { [ -z "$T_RUN" ] || kill -KILL -"$T_RUN" 2>/dev/null || kill -KILL "$T_RUN" 2>/dev/null; }
trap 'T_INT=1; T_SKIP=\${T_ID%%.*}' USR1
trap 't_kill; exit 129' HUP
if command -v timeout >/dev/null 2>&1; then TO='timeout -s KILL'; else TO=; fi
if command -v setsid >/dev/null 2>&1; then TS=setsid; else TS=; fi
if [ -n "$TO" ] && timeout 5 sh -c 'read -r _p _c _s _pp _g _r </proc/$$/stat && [ "$_g" = "$_pp" ]' 2>/dev/null; then TS=; fi
t_run() {
  T_ID=$1 T_SECS=$2 T_CMD=$3
  case $T_ID in "$T_SKIP".*) printf '\n%s skip %s\n' "$T_MK" "$T_ID"; return ;; esac
  (
    _p=; read -r _p _r </proc/self/stat 2>/dev/null
    printf '\n%s start %s %s\n' "$T_MK" "$T_ID" "$_p"; printf '\n%s start %s\n' "$T_MK" "$T_ID" >&2
    exec $TS $TO \${TO:+"$T_SECS"} sh -c "$T_CMD"
  ) </dev/null &
  T_RUN=$!
  while :; do T_INT=; wait "$T_RUN"; _rc=$?; [ -n "$T_INT" ] || break; done
  t_kill; T_RUN=
  printf '\n%s end %s\n' "$T_MK" "$T_ID" >&2
  printf '\n%s exit %s %s\n' "$T_MK" "$T_ID" "$_rc"
}
if [ "$(printf 'ab\ncd\n' | { head -c 1 >/dev/null; IFS= read -r _x; printf %s "$_x"; })" = b ]; then _b=big; else _b=; fi
printf '\n%s ready %s %s\n' "$T_MK" "$$" "$_b"
`;

/**
 * What the session's shell reads from stdin: the guard, which hands the
 * driver its script (after the session's marker) and then every command
 * line. One brace group, so shells that read their script line by line
 * (bash) parse all of it before the guard starts reading the same stdin.
 * `t_big ... <len>` lines are followed by a payload the guard copies with
 * one `head -c` instead of `read`'s byte at a time.
 */
function boot(mark: string): string {
  return `{
T_DRIVER=${shellQuote(`T_MK=${mark}
${DRIVER}`)}
t_guard() {
  printf '%s\n' "$T_DRIVER"
  while IFS= read -r _l; do
    case $_l in
      'k '*) _p=\${_l#k }
        case $_p in ''|*[!0-9]*) ;; *) kill -KILL -"$_p" 2>/dev/null || kill -KILL "$_p" 2>/dev/null ;; esac ;;
      's '*) _p=\${_l#s }
        case $_p in ''|*[!0-9]*) ;; *) kill -USR1 "$_p" 2>/dev/null ;; esac ;;
      't_big '*) set -- $_l; printf 't_run %s %s ' "$2" "$3" && head -c "$4" || break ;;
      *) printf '%s\n' "$_l" || break ;;
    esac
  done
  kill -HUP 0
}
t_guard | sh
exit 0
}
`;
}

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
  /** Its output ran past {@link RUNAWAY_BYTES}: killed, the kept part stands. */
  runaway?: boolean;
  exitCode?: number;
  out?: Stream;
  err?: Stream;
  resolve: (r: Raw) => void;
  reject: (e: Error) => void;
}

/** One command of a {@link ShellSession.runBatch} call. */
export interface BatchItem {
  command: string;
  /** `timeoutMs` and `maxOutputBytes` of this command; a signal here is ignored (the batch has one). */
  opts?: ExecOptions;
}

/** One stream's bytes for the step it is in: `cap` kept, the rest counted. */
class Collector {
  private readonly parts: Buffer[] = [];
  private kept = 0;
  total = 0;
  constructor(private readonly cap: number) {}
  add(b: Buffer): void {
    if (!b.length) return;
    this.total += b.length;
    const room = this.cap - this.kept;
    if (room <= 0) return;
    // Copied: the chunk's buffer is reused by the parser.
    const part = Buffer.from(b.length > room ? b.subarray(0, room) : b);
    this.parts.push(part);
    this.kept += part.length;
  }
  done(): Stream {
    return { kept: this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts), rest: this.total - this.kept };
  }
}

/**
 * Reads one of the session's streams: frame lines between steps, and a
 * step's raw bytes up to its closing frame. Noise outside steps (motd, rc
 * files) is dropped.
 */
class StreamReader {
  private buf: Buffer = Buffer.alloc(0);
  /** The step whose output this stream is in, with the frame that ends it. */
  private body?: { p: Pending; end: Buffer; bytes: Collector };

  constructor(
    private readonly mark: string,
    /** A frame line outside a step (the marker already stripped): returns the step whose output follows, if any. */
    private readonly onFrame: (words: string[]) => Pending | undefined,
    /** The closing frame of a step: the rest of its line (stdout: the exit code), and the bytes. */
    private readonly onEnd: (p: Pending, rest: string, bytes: Stream) => void,
    private readonly onBytes: (p: Pending, total: number) => void,
    private readonly closing: (id: string) => string,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      const b = this.body;
      if (b) {
        const at = this.buf.indexOf(b.end);
        if (at < 0) {
          // Keep a tail that may be the start of the closing frame.
          const safe = Math.max(0, this.buf.length - (b.end.length - 1));
          b.bytes.add(this.buf.subarray(0, safe));
          this.buf = this.buf.subarray(safe);
          this.onBytes(b.p, b.bytes.total);
          return;
        }
        const nl = this.buf.indexOf(10, at + b.end.length - 1);
        if (nl < 0) {
          b.bytes.add(this.buf.subarray(0, at));
          this.buf = this.buf.subarray(at);
          return;
        }
        b.bytes.add(this.buf.subarray(0, at));
        const rest = this.buf.subarray(at + b.end.length, nl).toString('latin1');
        this.buf = this.buf.subarray(nl + 1);
        this.body = undefined;
        this.onEnd(b.p, rest, b.bytes.done());
        continue;
      }
      const nl = this.buf.indexOf(10);
      if (nl < 0) {
        // Noise without a newline (a chatty rc file): a frame line is short, so only a tail can matter.
        if (this.buf.length > NOISE_KEEP * 2) this.buf = this.buf.subarray(this.buf.length - NOISE_KEEP);
        return;
      }
      const line = this.buf.subarray(0, nl).toString('latin1');
      this.buf = this.buf.subarray(nl + 1);
      if (!line.startsWith(`${this.mark} `)) continue;
      const p = this.onFrame(line.slice(this.mark.length + 1).split(' '));
      if (p) this.body = { p, end: Buffer.from(`\n${this.mark} ${this.closing(p.id)}`, 'latin1'), bytes: new Collector(p.cap) };
    }
  }
}

/**
 * Runs commands through a shell's stdin/stdout/stderr. Construct it over a
 * duplex pair and the shell's stderr (an SSH channel, a local `sh` that
 * leads its own process group), then `await ready()`.
 */
export class ShellSession {
  /** This session's frame marker (see the protocol above). */
  private readonly mark = `@@TRIAGE:${randomBytes(8).toString('hex')}`;
  /** The running batch's commands by id. */
  private batch = new Map<string, Pending>();
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
    stderr: Readable,
    private readonly label: string,
  ) {
    this.readyPromise = new Promise<void>((resolve, reject) => {
      this.readyWaiter = { resolve, reject };
    });
    this.readyPromise.catch(() => {});
    const garbled = () => this.fail(new TriageError('EXEC_FAILED', `garbled output from the shell session on ${label}`));
    const out = new StreamReader(
      this.mark,
      (w) => {
        const [kind, id, a] = w;
        if (kind === 'ready') {
          this.driverPid = toInt(id);
          this.exactHead = a === 'big';
          this.readyWaiter?.resolve();
          return undefined;
        }
        const p = id === undefined ? undefined : this.batch.get(id);
        if (!p) return undefined;
        if (kind === 'skip') {
          this.settle(p, { exitCode: null, out: EMPTY, err: EMPTY, skipped: true });
          return undefined;
        }
        if (kind !== 'start') return undefined;
        p.pgid = toInt(a);
        if (p.pgid !== undefined && p.pgid <= 1) p.pgid = undefined;
        if (p.killWanted && p.pgid) this.send(`k ${p.pgid}\n`);
        return p;
      },
      (p, rest, bytes) => {
        const rc = toInt(rest);
        if (rc === undefined) return garbled();
        p.exitCode = rc;
        p.out = bytes;
        this.maybeDone(p);
      },
      (p, total) => this.watchRunaway(p, total),
      (id) => `exit ${id} `,
    );
    const err = new StreamReader(
      this.mark,
      ([kind, id]) => (kind === 'start' && id !== undefined ? this.batch.get(id) : undefined),
      (p, rest, bytes) => {
        if (rest !== '') return garbled();
        p.err = bytes;
        this.maybeDone(p);
      },
      (p, total) => this.watchRunaway(p, total),
      (id) => `end ${id}\n`,
    );
    stdout.on('data', (chunk: Buffer) => out.push(chunk));
    stderr.on('data', (chunk: Buffer) => err.push(chunk));
    stdout.on('error', (e) => this.fail(new TriageError('EXEC_FAILED', `shell session on ${label}: ${e.message}`)));
    stdout.on('close', () => this.fail(new TriageError('EXEC_FAILED', `shell session on ${label} closed`)));
    stdout.on('end', () => this.fail(new TriageError('EXEC_FAILED', `shell session on ${label} ended`)));
    stderr.on('error', () => {});
    stdin.on('error', (e) => this.fail(new TriageError('EXEC_FAILED', `shell session on ${label}: ${e.message}`)));
    this.send(boot(this.mark));
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
    this.batch = new Map(entries.map((e) => [e.pending.id, e.pending]));

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
        const killed = timedOut || aborted || pending.runaway === true || (r.exitCode === 137 && Date.now() - started >= timeoutMs);
        onResult(i, {
          exitCode: killed ? null : r.exitCode,
          stdout: r.out.kept.toString('utf8'),
          stderr: r.err.kept.toString('utf8'),
          truncated: r.out.rest > 0 || r.err.rest > 0,
          outputBytes: r.out.kept.length + r.out.rest + r.err.kept.length + r.err.rest,
          timedOut: killed && !aborted && !pending.runaway,
          aborted,
          durationMs: Date.now() - started,
        });
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      this.batch = new Map();
    }
  }

  /** The line (or length-prefixed payload) that asks the driver to run one command. */
  private line(p: Pending, item: BatchItem): string {
    const hostSeconds = Math.max(1, Math.ceil((item.opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)) + HOST_GRACE_S;
    const word = shellWord(item.command);
    if (this.exactHead && word.length > INLINE_MAX) return `t_big ${p.id} ${hostSeconds} ${Buffer.byteLength(word) + 1}\n${word}\n`;
    return `t_run ${p.id} ${hostSeconds} ${word}\n`;
  }

  private send(text: string): void {
    if (this.closedError) return;
    try {
      this.stdin.write(text);
    } catch (e) {
      this.fail(new TriageError('EXEC_FAILED', `shell session on ${this.label}: ${(e as Error).message}`));
    }
  }

  /** A step whose output will not stop (`yes`) is killed once a stream passes {@link RUNAWAY_BYTES}. */
  private watchRunaway(p: Pending, total: number): void {
    if (total <= RUNAWAY_BYTES || p.runaway) return;
    p.runaway = true;
    p.killWanted = true;
    if (p.pgid) this.send(`k ${p.pgid}\n`);
  }

  /** Both streams of a step are closed: its result is complete. */
  private maybeDone(p: Pending): void {
    if (p.out && p.err && p.exitCode !== undefined) this.settle(p, { exitCode: p.exitCode, out: p.out, err: p.err });
  }

  private settle(p: Pending, r: Raw): void {
    this.batch.delete(p.id);
    p.resolve(r);
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    this.readyWaiter?.reject(err);
    for (const p of this.batch.values()) p.reject(err);
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
