/**
 * A hostile-input corpus: over a thousand generated inputs — shell
 * metacharacters, quotes, `$()`, backticks, `;`, `|`, `&&`, newlines, NUL,
 * RTL and zero-width Unicode, 100 KB strings, `--flag`-looking words,
 * `../../etc/passwd`, format strings, ESC sequences — used as runbook name,
 * target, host and `--param` value on the CLI, and as `/diagnose` arguments
 * and free text in chat.
 *
 * The fleet's SSH host is real (test/support/fleet.ts) and many inputs try to
 * create a canary file there (`; touch CANARY` and friends); it never
 * appears. Every refused input gets exactly one line back — the error and
 * what was expected — never a stack trace, never a raw control character.
 * A sample of inputs a runbook does accept (a free-text parameter) really
 * runs over SSH, and arrives on the host byte for byte, as data.
 *
 * Cost per input is kept low: the CLI bulk calls `main()` in-process with a
 * captured CliIO (a handful go through the real `bin/triage.js`), the chat
 * bulk goes through the shared command router (ChatCore with in-memory
 * transports), and a sample goes through the real Telegram and Slack
 * adapters against their loopback fakes.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.ts';
import { DRIVERS, storyAccess } from '../support/chat-drivers.ts';
import { purgePrefix } from '../support/cli.ts';
import { ConsoleChat } from '../support/console-chat.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
/** What a terminal or chat line may not carry raw (written out here, not imported from src). */
const RAW_IN_LINE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const QUEUE_STALLED = 'the queue is unavailable, retrying';
const STACK = /\n\s+at |internal error|TypeError|ReferenceError|node:internal/;

let fleet: Fleet;
let dir: string;
let canary: string;
let config: string;
let runbooks: string;
let received: string;
const figures: string[] = [];

/**
 * The corpus: payloads × wrappers. A wrapper puts the payload where a real
 * value would be (after `shop`, before `web1`, quoted, ...), so both "all
 * hostile" and "almost valid" words are tried.
 */
function corpus(): string[] {
  const touch = `touch ${canary}`;
  const payloads = [
    `; ${touch}`,
    `;${touch};`,
    `$(${touch})`,
    `\`${touch}\``,
    `| ${touch}`,
    `|| ${touch}`,
    `&& ${touch}`,
    `& ${touch} &`,
    `\n${touch}`,
    `\r\n${touch}`,
    `'; ${touch}; '`,
    `"; ${touch}; "`,
    `\\'; ${touch} #`,
    `$'\\x3b' ${touch}`,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, on purpose
    `\${IFS}${touch.replace(' ', '${IFS}')}`,
    `> ${canary}`,
    `< /etc/passwd`,
    `\0; ${touch}`,
    'a\0b',
    '\u202e; ' + touch,
    '\u2066evil\u2069',
    'shop\u200b',
    '\u200d\u200c\ufeff',
    '\u061cweb1',
    'x'.repeat(100 * 1024),
    `${'A'.repeat(100 * 1024)}; ${touch}`,
    '--force',
    '--config=/etc/shadow',
    '-rf',
    '--json',
    '--param',
    '--host=web1',
    '-p',
    '../../etc/passwd',
    '/etc/passwd',
    '..',
    '%s%s%s%n',
    '%x%x%x%x',
    '{{7*7}}',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, on purpose
    '${{ target.workdir }}',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, on purpose
    '${HOME}',
    '$PATH',
    '\x1b]0;pwned\x07',
    '\x1b[2J\x1b[H',
    '\x1b[31mred\x1b[0m',
    '\u009b2J',
    '\x07\x08\x0b\x0c\x7f',
    '\u2028injected line',
    '\u0085next',
    '*',
    '?',
    '~root',
    '!!',
    '#',
    '=',
    'é',
    '日本',
    '🔥',
  ];
  const wrappers: ((p: string) => string)[] = [(p) => p, (p) => `shop${p}`, (p) => `${p}shop`, (p) => `web1 ${p}`, (p) => `"${p}"`];
  const out = new Set<string>();
  for (const p of payloads) for (const w of wrappers) out.add(w(p));
  return [...out].filter((s) => s.trim() !== '');
}

beforeAll(async () => {
  fleet = await startFleet({ hosts: 1 });
  dir = mkdtempSync(join(tmpdir(), 'triage-hostile-input-'));
  canary = join(dir, 'CANARY');
  received = join(dir, 'received');
  config = join(dir, 'triage.yaml');
  writeFileSync(config, stringify({ hosts: fleetConfigHosts(fleet), targets: { shop: { hosts: ['web1'], port: 8000, workdir: dir } } }));
  runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks);
  writeFileSync(
    join(runbooks, 'touch.yaml'),
    stringify({
      name: 'touch',
      description: 'takes a strict string parameter',
      params: [{ name: 'tag', type: 'string', default: 'x' }],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, not a JS one
      steps: [{ id: 'mark', title: 'mark', run: 'echo ${{ params.tag }}' }],
    }),
  );
  writeFileSync(
    join(runbooks, 'note.yaml'),
    stringify({
      name: 'note',
      description: 'takes any text as a parameter, writes it to a file on the host and shows it',
      params: [{ name: 'text', type: 'string', pattern: '[\\s\\S]*' }],
      steps: [
        { id: 'write', title: 'write it down', run: `printf %s \${{ params.text }} > ${received}` },
        { id: 'show', title: 'show it', run: `cat ${received}; exit 1` },
      ],
    }),
  );
});

afterAll(async () => {
  await fleet?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (figures.length) console.log(`\nhostile-input corpus:\n${figures.map((f) => `  ${f}`).join('\n')}\n`);
});

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (s) => out.push(s), err: (s) => err.push(s), env: { ...process.env, TRIAGE_CONFIG: '', ...env }, cwd: dir });
  return { code, out, err };
}

/** Why a reply is not "one clear line", or undefined. */
function problemWith(lines: string[], where: string): string | undefined {
  if (lines.length !== 1) return `${where}: ${lines.length} lines`;
  const [line] = lines as [string];
  if (line.includes('\n')) return `${where}: a raw newline`;
  if (RAW_IN_LINE.test(line)) return `${where}: a raw control character`;
  if (STACK.test(line)) return `${where}: a stack trace or internal error: ${line.slice(0, 200)}`;
  if (line.length > 2000) return `${where}: a ${line.length}-character line`;
  return undefined;
}

describe('the CLI', () => {
  it('refuses every input as runbook, target, host or --param value with one line and exit 2; nothing reaches a shell', { timeout: 900_000 }, async () => {
    const inputs = corpus();
    const positions: [string, (p: string) => string[]][] = [
      ['runbook', (p) => ['run', p, 'shop']],
      ['target', (p) => ['run', 'touch', p]],
      ['host', (p) => ['run', 'touch', 'shop', '--host', p]],
      ['--param', (p) => ['run', 'touch', 'shop', '--param', `tag=${p}`]],
    ];
    // A strict string parameter accepts these documented characters; such values run, shell-quoted (`../../etc/passwd` is a fine tag).
    const validTag = /^[A-Za-z0-9._:/@-]{1,128}$/;
    const prefix = `t-hostile-${randomUUID().slice(0, 8)}`;
    const problems: string[] = [];
    let tried = 0;
    let oneLine = 0;
    let ranAsData = 0;
    const t0 = Date.now();
    try {
      for (const [what, argv] of positions) {
        for (const p of inputs) {
          const r = await cli([...argv(p), '--config', config, '--runbooks', runbooks], { TRIAGE_PREFIX: prefix });
          tried++;
          const name = `${what} ${JSON.stringify(p.slice(0, 60))}`;
          if (what === '--param' && validTag.test(p)) {
            const raw = [...r.out, ...r.err].flatMap((l) => l.split('\n')).find((l) => RAW_IN_LINE.test(l));
            if (r.code !== 0 || raw !== undefined) problems.push(`${name}: a valid tag gave exit ${r.code}${raw ? ' and a raw control character' : ''}\n    ${r.err.join('\n    ').slice(0, 400)}`);
            else ranAsData++;
            continue;
          }
          const why = r.code !== 2 ? `${name}: exit ${r.code}` : r.out.length ? `${name}: printed on stdout` : problemWith(r.err, name);
          if (why) problems.push(`${why}\n    ${r.err.join('\n    ').slice(0, 400)}`);
          else oneLine++;
        }
      }
    } finally {
      await purgePrefix(prefix);
    }
    figures.push(
      `CLI in-process: ${tried} inputs, ${existsSync(canary) ? 'SOME' : 0} reached a shell, ${oneLine} answered with one line, ${ranAsData} valid --param values ran quoted (${Date.now() - t0} ms)`,
    );
    expect(problems.slice(0, 10)).toEqual([]);
    expect(existsSync(canary)).toBe(false);
    expect(tried).toBeGreaterThanOrEqual(1000);
    expect(oneLine + ranAsData).toBe(tried);
  });

  it('the real bin/triage.js answers a handful the same way', () => {
    const sample = [`; touch ${canary}`, `$(touch ${canary})`, '\x1b]0;pwned\x07', '\u202eshop', `shop\ntouch ${canary}`, '../../etc/passwd', '%s%n', '--force'];
    let oneLine = 0;
    for (const [i, p] of sample.entries()) {
      const argv = i % 2 ? ['run', 'touch', p] : ['run', p, 'shop'];
      const r = spawnSync(process.execPath, [BIN, ...argv, '--config', config, '--runbooks', runbooks], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TRIAGE_CONFIG: '' } });
      expect(r.status, JSON.stringify(p)).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.replace(/\n$/, '').split('\n');
      expect(problemWith(lines, JSON.stringify(p))).toBeUndefined();
      expect(lines[0]).toMatch(/^triage: /);
      oneLine++;
    }
    figures.push(`CLI subprocess: ${sample.length} inputs, ${existsSync(canary) ? 'SOME' : 0} reached a shell, ${oneLine} answered with one line`);
    expect(existsSync(canary)).toBe(false);
  });

  it('text a runbook accepts as a free-text parameter runs over SSH as data: the host gets it byte for byte, the terminal sees it escaped', async () => {
    // Everything a shell could not take literally anyway (NUL) is refused; long inputs are left to the refusal test.
    const sample = corpus().filter((p) => !p.includes('\0') && p.length < 200).filter((_, i) => i % 12 === 0);
    const prefix = `t-hostile-${randomUUID().slice(0, 8)}`;
    let asData = 0;
    try {
      for (const p of sample) {
        const r = await cli(['run', 'note', 'shop', '--param', `text=${p}`, '--config', config, '--runbooks', runbooks], { TRIAGE_PREFIX: prefix });
        expect(r.code, `${JSON.stringify(p)}\n${r.err.join('\n')}`).toBe(1);
        expect(readFileSync(received, 'utf8'), JSON.stringify(p)).toBe(p);
        for (const line of [...r.out, ...r.err]) for (const l of line.split('\n')) expect(l, JSON.stringify(p)).not.toMatch(RAW_IN_LINE);
        asData++;
      }
    } finally {
      await purgePrefix(prefix);
    }
    figures.push(`CLI over SSH: ${sample.length} accepted inputs ran, ${existsSync(canary) ? 'SOME' : 0} reached a shell as code, ${asData} arrived as data`);
    expect(asData).toBeGreaterThanOrEqual(20);
    expect(existsSync(canary)).toBe(false);
  });
});

describe('chat', () => {
  const chatConfig = () => ({
    hosts: fleetConfigHosts(fleet),
    targets: { shop: { hosts: ['web1'], port: 8000, workdir: dir } },
    chat: {
      telegram: { token: 'env:TG_TOKEN', allowedChats: [-1001] },
      slack: { botToken: 'env:SLACK_BOT', signingSecret: 'env:SLACK_SIGNING', allowedChannels: ['C0INCIDENT'] },
    },
    access: { roles: { responder: ['tg:1002', 'slack:U0RESPONDER'] } },
  });

  it('the shared router answers every /diagnose argument and free text with one line, as Telegram and as Slack users', async () => {
    const chat = await ConsoleChat.start({ config: chatConfig(), runbookDirs: [runbooks], worker: false });
    const problems: string[] = [];
    let tried = 0;
    let oneLine = 0;
    const t0 = Date.now();
    try {
      const forms: [string, (p: string) => string][] = [
        ['/diagnose runbook', (p) => `/diagnose ${p} shop`],
        ['/diagnose target', (p) => `/diagnose 502 ${p}`],
        ['/diagnose host', (p) => `/diagnose 502 shop ${p}`],
        ['free text', (p) => p],
      ];
      const inputs = corpus();
      for (const [what, text] of forms) {
        for (const [i, p] of inputs.entries()) {
          const as = i % 2 ? 'tg:1002' : 'slack:U0RESPONDER';
          const before = chat.log.messages.length;
          await chat.send(text(p), { as });
          tried++;
          // Under load Redis can stall; the core then first says "the queue is unavailable, retrying" — a status line, not an answer to the input.
          const replies = chat.log.messages
            .slice(before)
            .map((m) => m.versions.at(-1)!)
            .filter((m) => m.lines.join('') !== QUEUE_STALLED);
          const lines = replies.flatMap((m) => [...(m.title ? [m.title] : []), ...m.lines]);
          const why = replies.length !== 1 ? `${what}: ${replies.length} replies` : problemWith(lines, `${what} ${JSON.stringify(p.slice(0, 60))}`);
          if (why) problems.push(`${why}: ${JSON.stringify(lines).slice(0, 300)}`);
          else oneLine++;
        }
      }
      figures.push(`chat router: ${tried} inputs, ${existsSync(canary) ? 'SOME' : 0} reached a shell, ${oneLine} answered with one line (${Date.now() - t0} ms)`);
      expect(problems.slice(0, 10)).toEqual([]);
      expect(await chat.runCount()).toBe(0);
    } finally {
      await chat.close();
    }
    expect(existsSync(canary)).toBe(false);
    expect(tried).toBeGreaterThanOrEqual(1000);
  });

  describe.each(DRIVERS)('through the real $platform adapter', ({ platform, start }) => {
    it('a sample of ~50 inputs each gets one line back, no card, no run', async () => {
      const chat = await start({ config: { hosts: fleetConfigHosts(fleet), targets: { shop: { hosts: ['web1'], port: 8000, workdir: dir } }, access: storyAccess() }, runbooks: {} });
      // What the platform would deliver at all: Telegram and Slack cap a message far below 100 KB.
      const sample = corpus().filter((p) => p.length < 3000 && !p.includes('\0')).filter((_, i) => i % 6 === 0);
      let oneLine = 0;
      try {
        for (const [i, p] of sample.entries()) {
          const text = i % 3 === 0 ? `/diagnose ${p} shop` : i % 3 === 1 ? `/diagnose 502 ${p}` : `/note ${p}`;
          const before = chat.notices().length;
          await chat.send('responder', text);
          const notices = await chat.waitFor(() => (chat.notices().length > before ? chat.notices() : undefined), 15_000);
          const reply = notices.slice(before);
          expect(problemWith(reply.join('\n').split('\n'), `${platform} ${JSON.stringify(text.slice(0, 60))}`)).toBeUndefined();
          oneLine++;
        }
        // No late second reply to any of them, and nothing ran.
        await new Promise((r) => setTimeout(r, 300));
        expect(chat.notices()).toHaveLength(sample.length);
        expect(chat.cardCount()).toBe(0);
        expect(await chat.runCount()).toBe(0);
      } finally {
        await chat.close();
      }
      figures.push(`${platform} adapter: ${sample.length} inputs, ${existsSync(canary) ? 'SOME' : 0} reached a shell, ${oneLine} answered with one line`);
      expect(sample.length).toBeGreaterThanOrEqual(40);
      expect(existsSync(canary)).toBe(false);
    });
  });
});
