/**
 * The probe library as a whole: every probe is POSIX sh that shellcheck
 * accepts, declares its interface, has its own tests, and reaches the host
 * as one command string whose values cannot change its shape.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { getProbe, PROBE_DIR, probeArity, probeCommand, probeNames } from '../../../src/runbooks/probes.ts';
import { shellQuote } from '../../../src/runbooks/template.ts';
import { runProbe } from './harness.ts';

const HERE = fileURLToPath(new URL('./', import.meta.url));

describe('the probe library', () => {
  it('holds the probes the 502 runbook needs', () => {
    expect(probeNames()).toEqual(expect.arrayContaining(['env-file', 'http', 'listener', 'logs', 'nginx-proxy', 'nginx-test', 'service', 'tcp']));
  });

  it('every probe passes shellcheck as POSIX sh', () => {
    const files = probeNames().map((n) => path.join(PROBE_DIR, `${n}.sh`));
    const out = (() => {
      try {
        return execFileSync('shellcheck', ['--shell=sh', '--severity=style', '--format=gcc', ...files], { encoding: 'utf8' });
      } catch (e) {
        return String((e as { stdout?: string }).stdout ?? e);
      }
    })();
    expect(out).toBe('');
  });

  it('every probe is run by a test under test/runbooks/', () => {
    const root = path.join(HERE, '..');
    const tests = (fs.readdirSync(root, { recursive: true }) as string[])
      .filter((f) => f.endsWith('.test.ts') && !f.endsWith('library.test.ts'))
      .map((f) => fs.readFileSync(path.join(root, f), 'utf8'))
      .join('\n');
    for (const n of probeNames()) expect(tests, `no test runs probe ${n}`).toContain(`runProbe('${n}'`);
  });

  it('headers declare arguments and environment', () => {
    expect(probeArity(getProbe('service')!)).toEqual([2, 2]);
    expect(probeArity(getProbe('nginx-proxy')!)).toEqual([2, 3]);
    expect(probeArity(getProbe('env-file')!)).toEqual([1, Number.POSITIVE_INFINITY]);
    expect(getProbe('logs')!.env).toEqual(['LOG_FILE', 'LOG_JOURNAL', 'LOG_PM2', 'LOG_DOCKER', 'SERVICE_MANAGER', 'SERVICE_NAME', 'APP_PIDS']);
  });
});

describe('how a probe travels', () => {
  it('as `VARS sh -c <probe text> <name> <args>`, every variable it declares set', () => {
    const cmd = probeCommand(getProbe('logs')!, ["'300'"], { LOG_FILE: "'/var/log/app.log'" });
    expect(cmd.startsWith("LOG_FILE='/var/log/app.log' LOG_JOURNAL='' LOG_PM2='' LOG_DOCKER='' SERVICE_MANAGER='' SERVICE_NAME='' APP_PIDS='' sh -c '")).toBe(true);
    expect(cmd.endsWith(" 'logs' '300'")).toBe(true);
  });

  it('hostile values arrive as data: quotes, $(), newlines and globs', async () => {
    const nasty = ["it's", '$(touch pwned)', 'a\nb', '*', '; exit 3'];
    const r = await runProbe('env-file', { args: ['/nonexistent/.env', ...nasty], env: { PIDS: '$(id)' } });
    expect(r.code).toBe(0);
    for (const v of ["it's", '$(touch pwned)', '*', '; exit 3']) expect(r.stdout).toContain(`note=skipped ${v}: not a variable name`);
    expect(r.stdout).not.toMatch(/uid=/);
    expect(r.leftInTmp).toEqual([]);
  });

  it('a NUL byte is refused before anything runs', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});
