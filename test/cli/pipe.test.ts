/**
 * `triage run ... --json | jq` on a big result: the whole object reaches a
 * pipe that drains slowly, and the exit code is the run's. Before, the CLI
 * called process.exit() right after writing and a slow reader got 64 KiB.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { purgePrefix } from '../support/cli.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
const STEPS = 70;
let dir: string;
let prefix: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'triage-pipe-'));
  prefix = `t-${randomUUID().slice(0, 8)}`;
  writeFileSync(join(dir, 'triage.yaml'), stringify({ hosts: { box: { address: 'local' } }, targets: { big: { hosts: ['box'] } } }));
  mkdirSync(join(dir, 'runbooks'));
  writeFileSync(
    join(dir, 'runbooks', 'chatty.yaml'),
    stringify({
      name: 'chatty',
      description: 'every step prints about 4 KB, so the result is over 200 KB',
      steps: Array.from({ length: STEPS }, (_, i) => ({ id: `s${i}`, title: `step ${i}`, run: `yes 'step ${i} says hello to the pipe' | head -c 3900` })),
    }),
  );
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await purgePrefix(prefix).catch(() => {});
});

/**
 * Runs the real bin/triage.js with stdout on a kernel pipe (as `| jq` gives
 * it; node's own child pipes are socket pairs that hide the bug) whose reader
 * sleeps `stallS` seconds before draining it. Exit code: triage's (pipefail).
 */
function runThroughSlowPipe(args: string[], stallS: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const script = `set -o pipefail; "$0" "$@" | { sleep ${stallS}; cat; }`;
    const child = spawn('bash', ['-c', script, process.execPath, BIN, ...args], {
      cwd: dir,
      env: { ...process.env, TRIAGE_CONFIG: '', TRIAGE_PREFIX: prefix },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

describe('output through a pipe', () => {
  it('--json over 200 KB arrives whole through a pipe that drains 3 s late, and parses', async () => {
    const r = await runThroughSlowPipe(['run', 'chatty', 'big', '--runbooks', 'runbooks', '--json'], 3);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(200_000);
    const result = JSON.parse(r.stdout);
    expect(result.status).toBe('healthy');
    expect(result.hosts[0].steps).toHaveLength(STEPS);
    expect(result.hosts[0].steps[STEPS - 1].output).toMatch(/step 69 says hello/);
  });

  it('human output ends with the verdict, and a failing run keeps its exit code', async () => {
    writeFileSync(
      join(dir, 'runbooks', 'failing.yaml'),
      stringify({ name: 'failing', description: 'one step fails', steps: [{ id: 'f', title: 'false', run: 'yes noise | head -c 100000; exit 1' }] }),
    );
    const r = await runThroughSlowPipe(['run', 'failing', 'big', '--runbooks', 'runbooks'], 1);
    expect(r.code).toBe(1);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/run r_\w+/);
  });
});
