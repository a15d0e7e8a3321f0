/**
 * Runs one built-in probe the way a runbook step does — the same command
 * string from `probeCommand`, written to a file and run by `sh` like the
 * shell session runs it — on a PATH we control: stub commands (small sh
 * scripts replaying recorded outputs) plus only the real tools the test
 * names. So a test picks the branch: no `systemctl` on PATH, a `systemctl`
 * that answers "not-found", a real `ss`.
 *
 * Deliberately left out: SSH and the engine (the 502 end-to-end tests cover
 * those); here only the probe and its inputs.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getProbe, probeCommand } from '../../../src/runbooks/probes.ts';
import { shellQuote } from '../../../src/runbooks/template.ts';
import { makeTempDir, removeTempDir } from '../../support/processes.ts';

/** Recorded outputs of real tools, see fixtures/README.md. */
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** Reads a fixture file. */
export function fixture(name: string): string {
  return fs.readFileSync(path.join(FIXTURES, name), 'utf8');
}

/** One answer of a stub: when its arguments match `args` (a glob, `*` = anything), print these and exit. */
export interface StubAnswer {
  args: string;
  stdout?: string;
  stderr?: string;
  exit?: number;
}

/** Tools every probe may use; always real. */
const BASE_TOOLS = ['sh', 'cat', 'sed', 'awk', 'grep', 'head', 'tail', 'cut', 'tr', 'wc', 'sort', 'paste', 'sleep', 'ls', 'id'];

export interface ProbeRun {
  stdout: string;
  stderr: string;
  code: number;
  /** Each stub call, `name arg1 arg2 ...`, in order. */
  calls: string[];
  /** Files left in the probe's TMPDIR (must stay empty). */
  leftInTmp: string[];
}

export interface ProbeRunOptions {
  args?: string[];
  env?: Record<string, string>;
  /** Stub commands by name. */
  stubs?: Record<string, StubAnswer[]>;
  /** Real tools to put on PATH besides the base set, e.g. `['ss', 'ps', 'nginx']`. */
  real?: string[];
}

/** Runs probe `name` with `args`/`env` on a PATH of stubs, the base tools and `real`. */
export async function runProbe(name: string, o: ProbeRunOptions = {}): Promise<ProbeRun> {
  const probe = getProbe(name);
  if (!probe) throw new Error(`no probe ${name}`);
  const dir = await makeTempDir(`triage-probe-${name}-`);
  try {
    const bin = path.join(dir, 'bin');
    const tmp = path.join(dir, 'tmp');
    await fsp.mkdir(bin);
    await fsp.mkdir(tmp);
    for (const tool of [...BASE_TOOLS, ...(o.real ?? [])]) {
      const real = which(tool);
      if (!real) throw new Error(`this test needs ${tool} on PATH`);
      await fsp.symlink(real, path.join(bin, tool));
    }
    for (const [stub, answers] of Object.entries(o.stubs ?? {})) await writeStub(dir, bin, stub, answers);
    const log = path.join(dir, 'calls.log');
    await fsp.writeFile(log, '');
    const env = Object.fromEntries(Object.entries(o.env ?? {}).map(([k, v]) => [k, shellQuote(v)]));
    const command = probeCommand(probe, (o.args ?? []).map(shellQuote), env);
    const cmdFile = path.join(dir, 'cmd');
    await fsp.writeFile(cmdFile, command);
    const r = await new Promise<{ stdout: string; stderr: string; code: number }>((resolve) => {
      execFile(
        path.join(bin, 'sh'),
        [cmdFile],
        { cwd: dir, env: { PATH: bin, STUB_LOG: log, TMPDIR: tmp, HOME: dir, LANG: 'C' }, timeout: 30_000 },
        (err, stdout, stderr) => resolve({ stdout, stderr, code: err ? (typeof err.code === 'number' ? err.code : 1) : 0 }),
      );
    });
    const calls = (await fsp.readFile(log, 'utf8')).split('\n').filter(Boolean);
    return { ...r, calls, leftInTmp: await fsp.readdir(tmp) };
  } finally {
    await removeTempDir(dir);
  }
}

/** `key=value` lines of a probe's output as a map (the last value of a key wins), plus every value of a repeated key. */
export function facts(stdout: string): { get(k: string): string | undefined; all(k: string): string[] } {
  const lines = stdout.split('\n');
  const all = (k: string) => lines.filter((l) => l.startsWith(`${k}=`)).map((l) => l.slice(k.length + 1));
  return { get: (k) => all(k).at(-1), all };
}

async function writeStub(dir: string, bin: string, name: string, answers: StubAnswer[]): Promise<void> {
  const lines = ['#!/bin/sh', `printf '%s\\n' "${name} $*" >> "$STUB_LOG"`, 'case "$*" in'];
  for (const [i, a] of answers.entries()) {
    const base = path.join(dir, `${name}.${i}`);
    await fsp.writeFile(`${base}.out`, a.stdout ?? '');
    await fsp.writeFile(`${base}.err`, a.stderr ?? '');
    const pattern = a.args.split('*').map(shellQuote).join('*');
    lines.push(`  ${pattern}) cat ${shellQuote(`${base}.out`)}; cat ${shellQuote(`${base}.err`)} >&2; exit ${a.exit ?? 0} ;;`);
  }
  lines.push('esac', `echo "stub ${name}: no answer for: $*" >&2`, 'exit 99', '');
  await fsp.writeFile(path.join(bin, name), lines.join('\n'), { mode: 0o755 });
}

function which(tool: string): string | undefined {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = path.join(d, tool);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.realpathSync(p);
    } catch {
      // not here
    }
  }
  return undefined;
}
