/**
 * `triage --help`, `triage lint` and `triage run` start fast because they
 * never load the chat libraries: each subcommand loads only what it needs.
 * Every module the real `bin/triage.js` process resolves is recorded by a
 * loader hook, whether it runs the compiled dist/ or the sources; a module
 * of the one-file bundle (dist/triage.cjs) is recorded as `bundle:/<path>`
 * when it first runs.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { purgePrefix } from '../support/cli.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const HOOK = join(ROOT, 'test/support/record-imports.mjs');
const CHAT = /\/node_modules\/(telegraf|@slack\/bolt|@slack\/web-api)\//;
const BUNDLE = join(ROOT, 'dist/triage.cjs');
const prefix = `t-graph-${process.pid}`;
const dir = join(tmpdir(), `triage-graph-${process.pid}`);

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await purgePrefix(prefix);
});

/** Runs `node bin/triage.js ...args` and returns its exit code and every module URL it resolved. */
async function imports(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; urls: string[]; stdout: string }> {
  const file = join(tmpdir(), `triage-imports-${process.pid}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, '');
  try {
    const r = await run(process.execPath, ['--import', HOOK, join(ROOT, 'bin/triage.js'), ...args], {
      cwd: ROOT,
      env: { ...process.env, TRIAGE_IMPORTS_FILE: file, TRIAGE_PREFIX: prefix, TRIAGE_CONFIG: '', ...env },
    }).then(
      (x) => ({ code: 0, stdout: x.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    return { ...r, urls: readFileSync(file, 'utf8').split('\n').filter(Boolean) };
  } finally {
    rmSync(file, { force: true });
  }
}

describe('commands load only what they need', () => {
  it('the hook sees the chat libraries when a command does load them (the check can fail)', async () => {
    // `bot --help` parses its flags after loading the bot module, which imports both adapters.
    const { urls } = await imports(['bot', '--help']);
    expect(urls.some((u) => /\/node_modules\/telegraf\//.test(u))).toBe(true);
    expect(urls.some((u) => /\/node_modules\/@slack\/bolt\//.test(u))).toBe(true);
  });

  it('the bundle reports the chat libraries when a command runs them (the check can fail)', async () => {
    // `bot` with a bad flag loads the bot module (and both adapters) from the bundle, then refuses the flag.
    // TRIAGE_FROM_DIST: the bundle `npm run build` wrote, even while src/ is being edited.
    const { code, urls } = await imports(['bot', '--no-such-flag'], { TRIAGE_FROM_DIST: '1' });
    expect(code).toBe(2);
    expect(existsSync(BUNDLE), 'npm run build writes dist/triage.cjs').toBe(true);
    expect(urls.some((u) => u.startsWith('bundle:/src/'))).toBe(true);
    expect(urls.some((u) => /^bundle:\/node_modules\/telegraf\//.test(u))).toBe(true);
    expect(urls.some((u) => /^bundle:\/node_modules\/@slack\/bolt\//.test(u))).toBe(true);
  });

  for (const env of [{}, { TRIAGE_FROM_SRC: '1' }]) {
    const how = env.TRIAGE_FROM_SRC ? 'from the sources' : 'as built (dist/ when current)';
    it(`triage --help and triage run --help load no chat library and no queue, SSH or Redis client (${how})`, async () => {
      for (const args of [['--help'], ['run', '--help']]) {
        const { code, urls } = await imports(args, env);
        expect(code).toBe(0);
        expect(urls.length).toBeGreaterThan(0);
        expect(urls.filter((u) => CHAT.test(u) || /\/node_modules\/(bullmq|ssh2|ioredis)\//.test(u))).toEqual([]);
      }
    });
  }

  it('triage lint loads no chat library', async () => {
    const { code, urls } = await imports(['lint', '--builtin-only']);
    expect(code).toBe(0);
    expect(urls.filter((u) => CHAT.test(u))).toEqual([]);
  });

  it('a real triage run (embedded worker, Redis, a local host) loads no chat library', async () => {
    const config = join(dir, 'triage.yaml');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(config, stringify({ hosts: { here: { address: 'local' } }, targets: { box: { hosts: ['here'] } } }));
    const { code, urls, stdout } = await imports(['run', 'health', 'box', '--config', config, '--json']);
    expect([0, 1]).toContain(code);
    expect(JSON.parse(stdout).runbook).toBe('health');
    expect(urls.some((u) => /\/node_modules\/bullmq\//.test(u))).toBe(true);
    expect(urls.filter((u) => CHAT.test(u))).toEqual([]);
  });
});
