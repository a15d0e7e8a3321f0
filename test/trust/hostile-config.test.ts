/**
 * A hostile or broken config (or runbook) file is refused quickly, with a
 * message that names the file and the fix — never run, never read whole:
 * non-UTF-8 bytes, inline credentials in any URL, a 6.9 MB file,
 * `--config /dev/urandom`, an alias bomb, an empty file.
 *
 * Time and memory are measured and printed, not asserted (no timing
 * assertions): before these limits the 6.9 MB file took 24.5 s and 530 MB to
 * refuse and /dev/urandom 1.19 GB.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config.ts';
import { TriageErrors } from '../../src/errors.ts';
import { loadRunbookFile } from '../../src/runbooks/loader.ts';
import { main } from '../../src/cli.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
const figures: string[] = [];
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'triage-hostile-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  if (figures.length) console.log(`\nhostile config, time and memory to refuse:\n${figures.map((f) => `  ${f}`).join('\n')}\n`);
});

const BASE = 'hosts:\n  web1: { address: local }\ntargets:\n  s9: { hosts: [web1] }\n';

function file(name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** `triage ARGS` in-process, as a user sees it. */
async function cli(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (s) => out.push(s), err: (s) => err.push(s), env: { ...process.env, TRIAGE_CONFIG: '' }, cwd: dir });
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** `node bin/triage.js ARGS` in a child, with its wall time and peak RSS (GNU time when present). */
function subprocess(args: string[]): { code: number | null; stderr: string; ms: number; rss: string } {
  const time = existsSync('/usr/bin/time') ? ['/usr/bin/time', '-f', 'maxrss=%MKB'] : [];
  const argv = [...time, process.execPath, BIN, ...args];
  const t0 = Date.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000, env: { ...process.env, TRIAGE_CONFIG: '' }, cwd: dir });
  const ms = Date.now() - t0;
  const rss = /maxrss=(\d+)KB/.exec(r.stderr)?.[1];
  return { code: r.status, stderr: r.stderr.replace(/maxrss=\d+KB\n?|Command exited with non-zero status \d+\n?/g, '').trim(), ms, rss: rss ? `${Math.round(Number(rss) / 1024)} MB RSS` : 'RSS not measured' };
}

function messages(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof TriageErrors) return e.errors.map((x) => x.toLine());
    if (e instanceof Error && 'toLine' in e) return [(e as { toLine(): string }).toLine()];
    throw e;
  }
  throw new Error('expected an error');
}

describe('non-UTF-8 bytes', () => {
  it('in a config value: refused, naming the file, the byte, its offset and line — not run with a U+FFFD in it', async () => {
    const p = file('latin1.yaml', Buffer.concat([Buffer.from('hosts:\n  web1: { address: local }\ntargets:\n  s9:\n    hosts: [web1]\n    workdir: /srv/caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
    const r = await cli('run', '502', 's9', '--config', p, '--dry-run');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`triage: ${p}: not UTF-8 text: byte 0xe9 at offset 88 (line 6:22) is not valid UTF-8 — save the file as UTF-8 (e.g. \`iconv -f latin1 -t utf-8\`), or remove the stray bytes on line 6`);
    expect(r.stdout).toBe('');
  });

  it('overlong forms, surrogates and cut-off sequences are refused too; a BOM and real UTF-8 are fine', async () => {
    for (const bad of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]) {
      const p = file('bad.yaml', Buffer.concat([Buffer.from(`${BASE}# x`), Buffer.from(bad)]));
      await expect(loadConfig({ file: p }), bad.join(',')).rejects.toThrow(/not UTF-8 text: byte 0x[0-9a-f]{2} at offset 70 \(line 5:4\)/);
    }
    const ok = file('ok.yaml', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${BASE}# café 東京 🔥\n`)]));
    expect((await loadConfig({ file: ok })).config.targets.s9?.hosts).toEqual(['web1']);
  });

  it('in a runbook: refused the same way', () => {
    const p = file('rb-latin1.yaml', Buffer.concat([Buffer.from('name: x\ndescription: caf'), Buffer.from([0xe9]), Buffer.from('\nsteps: []\n')]));
    expect(messages(() => loadRunbookFile(p))).toEqual([expect.stringMatching(/: not UTF-8 text: byte 0xe9 at offset 24 \(line 2:17\)/)]);
  });
});

describe('inline credentials in URLs are refused like any inline secret', () => {
  const cases: [string, string, RegExp][] = [
    ['redis: redis://:pw@…', 'redis: redis://:hunter2pw@127.0.0.1:6379\n', /^redis: the URL carries a password .* — remove redis: from the config and put the whole URL, password included, in \$REDIS_URL/],
    ['redis: redis://user:pw@…', 'redis: rediss://triage:hunter2pw@cache:6380/0\n', /^redis: the URL carries a password/],
    ['redis: ?password=', 'redis: redis://cache:6379/0?password=hunter2pw\n', /^redis: the URL carries a "password" query parameter/],
    ['health: https://user:pw@…', 'targets:\n  s8: { hosts: [web1], health: "https://admin:hunter2pw@127.0.0.1:8000/health" }\n', /^targets\.s8\.health: the URL carries a password .*env:NAME or file:PATH/],
    ['health: ?token=', 'targets:\n  s8: { hosts: [web1], health: "http://127.0.0.1:8000/health?token=hunter2pw" }\n', /the URL carries a "token" query parameter/],
    ['chat.telegram.apiRoot: token@', 'chat:\n  telegram: { token: env:T, apiRoot: "https://hunter2pw@tg.internal" }\n', /^chat\.telegram\.apiRoot: the URL carries a user name or token/],
    ['chat.slack.apiUrl', 'chat:\n  slack: { botToken: env:B, signingSecret: env:S, apiUrl: "https://u:hunter2pw@slack.internal/api/" }\n', /^chat\.slack\.apiUrl: the URL carries a password/],
    [
      'chat.telegram webhook url',
      'chat:\n  telegram: { token: env:T, mode: webhook, webhook: { url: "https://u:hunter2pw@bot.example.com/tg", port: 8443, secretToken: env:W } }\n',
      /^chat\.telegram\.webhook\.url: the URL carries a password/,
    ],
  ];
  for (const [what, yaml, want] of cases) {
    it(`${what}: triage lint fails, says how to fix it, never echoes the secret`, async () => {
      const text = yaml.startsWith('targets:') ? `hosts:\n  web1: { address: local }\n${yaml}` : `${BASE}${yaml}`;
      const p = file('creds.yaml', text);
      const r = await cli('lint', p);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('1 problem');
      const line = r.stderr.slice(`${p}: `.length);
      expect(line).toMatch(want);
      expect(r.stderr).toMatch(/secrets may not be written inline/);
      expect(r.stderr).not.toContain('hunter2pw');
    });
  }

  it('the same URLs without credentials pass, and $REDIS_URL may carry the password', () => {
    const ok = parseConfig(`${BASE}redis: redis://cache:6379/0\n`, 'triage.yaml', { REDIS_URL: 'redis://:pw@elsewhere:6379' });
    expect(ok.redisUrl).toBe('redis://cache:6379/0');
    expect(parseConfig(BASE, 'triage.yaml', { REDIS_URL: 'redis://:pw@cache:6379' }).redisUrl).toBe('redis://:pw@cache:6379');
  });
});

describe('size and expansion limits, checked before the work', () => {
  it('a 6.9 MB config is refused by its size, not parsed', async () => {
    const line = '  h000000: { address: local }\n';
    const count = Math.ceil((6.9 * 1024 * 1024) / line.length);
    const p = file('huge.yaml', `hosts:\n${Array.from({ length: count }, (_, i) => `  h${String(i).padStart(6, '0')}: { address: local }\n`).join('')}targets: {}\n`);
    const t0 = Date.now();
    const r = await cli('run', '502', 's9', '--config', p);
    figures.push(`6.9 MB config, in-process run: ${Date.now() - t0} ms`);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`triage: ${p}: the file is 6.9 MB; a config file may be at most 1 MB — check that this is the config file you meant: one is a few KB of YAML`);
    const sub = subprocess(['lint', p]);
    figures.push(`6.9 MB config, triage lint: ${sub.ms} ms, ${sub.rss}`);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toBe(`${p}: the file is 6.9 MB; a config file may be at most 1 MB — check that this is the config file you meant: one is a few KB of YAML`);
  });

  it('--config /dev/urandom reads at most 1 MB and is refused', async () => {
    const sub = subprocess(['run', '502', 's9', '--config', '/dev/urandom']);
    figures.push(`--config /dev/urandom: ${sub.ms} ms, ${sub.rss}`);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toBe(
      'triage: /dev/urandom: more than 1 MB came from it (it is not a regular file); a config file may be at most 1 MB — check that this is the config file you meant: one is a few KB of YAML',
    );
    const lint = subprocess(['lint', '/dev/urandom']);
    figures.push(`triage lint /dev/urandom: ${lint.ms} ms, ${lint.rss}`);
    expect(lint.code).toBe(2);
    expect(lint.stderr).toBe('/dev/urandom: more than 1 MB came from it (it is not a regular file); a runbook may be at most 1 MB — check that this is the runbook you meant: one is a few KB of YAML');
  });

  it('a file that is exactly 1 MB is still read; a runbook over 1 MB is refused', async () => {
    const pad = 1024 * 1024 - BASE.length - 3;
    const p = file('exact.yaml', `${BASE}# ${'x'.repeat(pad)}\n`);
    expect((await loadConfig({ file: p })).config.hosts.web1).toBeDefined();
    const rb = file('big-runbook.yaml', `name: big\ndescription: x\nsteps: []\n# ${'x'.repeat(1024 * 1024)}\n`);
    expect(messages(() => loadRunbookFile(rb))).toEqual([`${rb}: the file is 1 MB; a runbook may be at most 1 MB — check that this is the runbook you meant: one is a few KB of YAML`]);
  });

  it('an alias bomb ("billion laughs") is refused before it expands, in a config and in a runbook', async () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const bomb = `${levels.join('\n')}\n`;
    const t0 = Date.now();
    const r = await cli('lint', file('bomb.yaml', `${BASE}x-bomb:\n${bomb.replace(/^/gm, '  ')}`));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/YAML could not be read: Excessive alias count .* — use fewer aliases \(\*name\): at most 100 expansions/);
    const rb = file('bomb-runbook.yaml', `name: bomb\ndescription: x\nsteps: []\n${bomb}`);
    expect(messages(() => loadRunbookFile(rb))).toEqual([expect.stringMatching(/: YAML could not be read: Excessive alias count/)]);
    figures.push(`alias bomb (9^9 expansions), config + runbook: ${Date.now() - t0} ms`);
  });
});

describe('an empty file', () => {
  it('`triage lint` of an empty file (or one of only comments) says "the file is empty"', async () => {
    for (const content of ['', '\n\n', '# nothing here yet\n', '---\n']) {
      const p = file('empty.yaml', content);
      const r = await cli('lint', p);
      expect(r.code, JSON.stringify(content)).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the file is empty — `));
      expect(r.stderr.split('\n')).toHaveLength(1);
    }
  });

  it('an empty --config says the config file is empty', async () => {
    const r = await cli('run', '502', 's9', '--config', file('empty-config.yaml', ''));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/: the config file is empty — add at least hosts: and targets:/);
  });
});
