/**
 * What Triage has running and lying around on a test "host", counted from
 * /proc so the count never includes its own probe.
 *
 * A process belongs to the fleet when its environment carries the
 * `SSH_CONNECTION` sshd gave it for the fleet's port — that survives the
 * process being orphaned (reparented to init), which is exactly the leftover
 * we look for. sshd's own processes are left out. For the local executor,
 * pass an environment marker the test put in `process.env` before starting
 * the executor.
 *
 * Temp files are counted exactly in a TMPDIR private to the scope (sshd
 * `SetEnv`, or the local executor's environment): mktemp and Triage's drivers
 * honour TMPDIR. Machine-wide `/tmp/triage.*` is only reported.
 *
 * Deliberately left out: non-Linux hosts (no /proc) and processes that wiped
 * their own environment.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pollUntil } from './wait.ts';

export interface HostProcess {
  pid: number;
  pgid: number;
  args: string;
}

export interface Census {
  processes: HostProcess[];
  /** Everything in the scope's `privateTmp`: exact, nobody else writes there. */
  tempFiles: string[];
  /**
   * `/tmp/triage.*` on the whole machine, for the log only: other test runs
   * on a shared machine (and older Triage builds) create and remove these
   * concurrently, so they cannot be pinned on one case.
   */
  machineTempFiles: string[];
}

/**
 * Which processes to count: by the fleet port in SSH_CONNECTION, or by an env
 * marker `NAME=value`. `privateTmp`: a TMPDIR only this scope uses (see the
 * fleet's `sessionEnv`); every entry in it counts as a temp file.
 */
export type CensusScope = ({ sshPort: number } | { envMarker: string }) & { privateTmp?: string };

function environOf(pid: string): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  } catch {
    return [];
  }
}

function inScope(env: string[], scope: CensusScope): boolean {
  if ('envMarker' in scope) return env.includes(scope.envMarker);
  const conn = env.find((e) => e.startsWith('SSH_CONNECTION='));
  return conn !== undefined && conn.trim().split(' ').at(-1) === String(scope.sshPort);
}

/** The scope's live (non-zombie, non-sshd) processes and Triage's temp files right now. */
export function census(scope: CensusScope): Census {
  const processes: HostProcess[] = [];
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || comm.startsWith('sshd')) continue;
    if (!inScope(environOf(pid), scope)) continue;
    let args = comm;
    try {
      args = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') || comm;
    } catch {
      // raced with its exit
    }
    processes.push({ pid: Number(pid), pgid: Number(fields[2]), args });
  }
  const list = (d: string, keep: (name: string) => boolean) => {
    try {
      return fs
        .readdirSync(d)
        .filter(keep)
        .map((n) => path.join(d, n));
    } catch {
      return [];
    }
  };
  const tempFiles = scope.privateTmp ? list(scope.privateTmp, () => true) : [];
  const machineTempFiles = [...new Set(['/tmp', os.tmpdir()])].flatMap((d) => list(d, (n) => n.startsWith('triage.')));
  return { processes, tempFiles, machineTempFiles };
}

/** One line for the test log: `3 processes, 0 temp files (machine-wide /tmp/triage.*: 2)`. */
export function summary(c: Census): string {
  return `${c.processes.length} processes, ${c.tempFiles.length} temp files (machine-wide /tmp/triage.*: ${c.machineTempFiles.length})`;
}

/** Processes whose command line contains `needle` (e.g. a unique `sleep 4404`). */
export function running(scope: CensusScope, needle: string): HostProcess[] {
  return census(scope).processes.filter((p) => p.args.includes(needle));
}

/**
 * Waits (bounded) until the host is back to `before` — same process and temp
 * file counts — and returns the census it ended on (the caller asserts on it,
 * so a leftover shows up as a failed expectation listing what was left).
 */
export async function settledCensus(scope: CensusScope, before: Census, timeoutMs = 8000): Promise<Census> {
  let last = census(scope);
  try {
    await pollUntil(
      () => {
        last = census(scope);
        return last.processes.length === before.processes.length && last.tempFiles.length === before.tempFiles.length;
      },
      { timeoutMs, everyMs: 100, what: () => '' },
    );
  } catch {
    // leave the verdict to the caller's expect()
  }
  return last;
}

/** Waits until a process matching `needle` runs in `scope` (the step has really started on the host). */
export function untilRunning(scope: CensusScope, needle: string, timeoutMs = 10_000): Promise<HostProcess[]> {
  return pollUntil(
    () => {
      const p = running(scope, needle);
      return p.length > 0 ? p : undefined;
    },
    { timeoutMs, everyMs: 50, what: () => JSON.stringify(census(scope).processes), label: `"${needle}" on the host` },
  );
}

/** Waits until no process matching `needle` runs in `scope`; rejects (listing them) after `timeoutMs`. */
export async function untilGone(scope: CensusScope, needle: string, timeoutMs = 10_000): Promise<void> {
  await pollUntil(() => running(scope, needle).length === 0, {
    timeoutMs,
    everyMs: 100,
    what: () => JSON.stringify(running(scope, needle)),
    label: `"${needle}" gone from the host`,
  });
}
