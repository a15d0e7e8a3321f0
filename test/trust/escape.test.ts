/**
 * Terminal and chat injection: text from input or from a host never drives
 * the terminal or the chat client. `triage run $'\e]0;pwned\a' s9` used to
 * retitle the terminal; now every control character, line separator and
 * bidi control shows as a visible escape (`\x1b`, `\u2028`) wherever Triage
 * prints or posts it, while the newlines Triage itself writes stay.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderPlainText } from '../../src/bot/console/plain-text.ts';
import { renderHostDetails, renderRunCard } from '../../src/bot/run-card.ts';
import { renderSlack } from '../../src/bot/slack/render.ts';
import { renderCaption, renderTelegram } from '../../src/bot/telegram/render.ts';
import { stepLine, verdict } from '../../src/cli/print.ts';
import { main } from '../../src/cli.ts';
import { TriageError, TriageErrors } from '../../src/errors.ts';
import { escapeLine, escapeText } from '../../src/escape.ts';
import type { RunResult, StepResult } from '../../src/runbooks/result.ts';

/** Written out here, not imported: what no terminal or chat sink may receive raw. */
const RAW_IN_TEXT = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** In a single-line field, newlines and tabs too. */
const RAW_IN_LINE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** One of each kind the brief names: ESC sequences, \v, \f, BEL, C0, C1 (CSI), DEL, separators, bidi. */
const HOSTILE = '\x1b]0;pwned\x07 \x1b[2J\x1b[31m \v \f \x00 \x08 \x7f \u0085 \u009b31m \u2028 \u2029 \u202e \u2066 \u2069 \r';

const step = (over: Partial<StepResult> = {}): StepResult => ({
  id: 'port',
  title: 'app port',
  status: 'fail',
  exitCode: 7,
  durationMs: 12,
  output: '',
  ...over,
});

const result = (over: Partial<RunResult> = {}): RunResult => ({
  runId: 'r_abc123def',
  runbook: '502',
  target: 'shop',
  status: 'unhealthy',
  cause: 'service-down',
  summary: `shop-api is down: ${HOSTILE}\nsecond line`,
  findings: [{ code: 'service-down', severity: 'critical', host: 'web1', title: `down ${HOSTILE}`, evidence: [`curl said ${HOSTILE}\nmore`], fix: `restart\n${HOSTILE}` }],
  hosts: [{ host: 'web1', reachable: true, steps: [step({ output: `first ${HOSTILE}\nsecond` })] }],
  startedAt: '2026-01-01T00:00:00.000Z',
  durationMs: 40,
  ...over,
});

describe('escapeText and escapeLine', () => {
  it('show every control character, separator and bidi control as a visible escape', () => {
    expect(escapeLine('\x1b]0;pwned\x07')).toBe('\\x1b]0;pwned\\x07');
    expect(escapeLine('\v\f\x00\x7f')).toBe('\\x0b\\x0c\\x00\\u007f');
    expect(escapeLine('\u009b\u0085\u2028\u2029')).toBe('\\u009b\\u0085\\u2028\\u2029');
    expect(escapeLine('\u202a\u202e\u2066\u2069')).toBe('\\u202a\\u202e\\u2066\\u2069');
    for (let c = 0; c < 0x20; c++) expect(escapeLine(String.fromCharCode(c))).toMatch(/^\\(x[0-9a-f]{2}|[nrt])$/);
    for (let c = 0x7f; c <= 0x9f; c++) expect(escapeLine(String.fromCharCode(c))).toBe(`\\u00${c.toString(16)}`);
    expect(escapeLine(HOSTILE)).not.toMatch(RAW_IN_LINE);
  });

  it('a block keeps its newlines and tabs (CRLF becomes LF); a line escapes them', () => {
    expect(escapeText('a\nb\tc\r\nd\re')).toBe('a\nb\tc\nd\\re');
    expect(escapeLine('a\nb\tc\r\nd')).toBe('a\\nb\\tc\\r\\nd');
  });

  it('leave ordinary text alone, Unicode included, and are idempotent', () => {
    const plain = '✓ nginx config · 12ms — café 東京 🔥 \\x1b (typed)';
    expect(escapeText(plain)).toBe(plain);
    expect(escapeLine(plain)).toBe(plain);
    expect(escapeText(escapeText(HOSTILE))).toBe(escapeText(HOSTILE));
  });

  it('keep JSON valid: escaped JSON.stringify output parses back to the same data', () => {
    const data = { output: HOSTILE, nested: [`\u009b${HOSTILE}`] };
    const text = escapeText(JSON.stringify(data, null, 2));
    expect(text).not.toMatch(RAW_IN_TEXT);
    expect(JSON.parse(text)).toEqual(data);
  });
});

describe('the CLI', () => {
  let dir: string;
  let config: string;
  let runbooks: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'triage-escape-'));
    config = join(dir, 'triage.yaml');
    writeFileSync(config, stringify({ hosts: { web1: { address: 'local' } }, targets: { s9: { hosts: ['web1'] } } }));
    runbooks = join(dir, 'runbooks');
    mkdirSync(runbooks);
    writeFileSync(
      join(runbooks, 'echo.yaml'),
      stringify({
        name: 'echo',
        description: 'echoes a free-text note (shell-quoted)',
        params: [{ name: 'note', type: 'string', pattern: '[\\s\\S]*' }],
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, not a JS one
        steps: [{ id: 'say', title: 'say it', run: 'printf %s ${{ params.note }}' }],
      }),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function cli(...args: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(args, { out: (s) => out.push(s), err: (s) => err.push(s), env: { ...process.env, TRIAGE_CONFIG: '' }, cwd: dir });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  }

  it('`triage run $"\\e]0;pwned\\a" s9` prints one line with the escape visible, and does not retitle the terminal', async () => {
    const r = await cli('run', '\x1b]0;pwned\x07', 's9', '--config', config);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('\\x1b]0;pwned\\x07');
    expect(r.stderr).not.toMatch(RAW_IN_LINE);
    expect(r.stderr.split('\n')).toHaveLength(1);
  });

  it('C1, separators and bidi controls in an argument are escaped in the error line', async () => {
    for (const bad of ['\u009b2J', 'a\u2028b', '\u202eevil', 'x\ny', '\x1b[31mred']) {
      const r = await cli('run', '502', bad, '--config', config);
      expect(r.code, bad).toBe(2);
      expect(r.stderr, JSON.stringify(bad)).not.toMatch(RAW_IN_LINE);
      expect(r.stderr.split('\n'), JSON.stringify(bad)).toHaveLength(1);
    }
    const r = await cli('run', '502', 's9', '--config', config, '--param', `k\u009b\ny=1`);
    expect(r.stderr).toContain('k\\u009b\\ny');
    expect(r.stderr.split('\n')).toHaveLength(1);
  });

  it('a dry run shows a hostile parameter escaped in the command; --json stays valid JSON without raw C1 or separators', async () => {
    // NUL is refused before any command is built (nothing can pass it to a shell); everything else reaches the command, quoted.
    const note = `hi ${HOSTILE.replace('\x00', '')}`;
    const human = await cli('run', 'echo', 's9', '--config', config, '--runbooks', runbooks, '--dry-run', '--param', `note=${note}`);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("printf %s 'hi \\x1b]0;pwned\\x07");
    expect(human.stdout).not.toMatch(RAW_IN_TEXT);
    const json = await cli('run', 'echo', 's9', '--config', config, '--runbooks', runbooks, '--dry-run', '--json', '--param', `note=${note}`);
    expect(json.code).toBe(0);
    expect(json.stdout).not.toMatch(RAW_IN_TEXT);
    const parsed = JSON.parse(json.stdout);
    // The data is intact: JSON escapes decode back to the characters.
    expect(parsed.hosts[0].steps[0].command).toBe(`printf %s 'hi ${note.slice(3)}'`);
  });

  it('error lines are one line each, even when a message carries a newline from input', () => {
    const e = new TriageError('USAGE', 'unexpected "a\nb\x1b[2J"', { fix: 'see --help' });
    expect(e.toLine()).toBe('unexpected "a\\nb\\x1b[2J" — see --help');
    const many = new TriageErrors([e, new TriageError('CONFIG_INVALID', 'second\u2028problem', { file: '/tmp/x.yaml' })]);
    expect(many.toLine().split('\n')).toEqual(['unexpected "a\\nb\\x1b[2J" — see --help', '/tmp/x.yaml: second\\u2028problem']);
  });
});

describe('human step output and the verdict (print.ts)', () => {
  it('a step line shows host output on one line, escaped', () => {
    const line = stepLine('web1', step({ output: `\r\x1b[2Kok ${HOSTILE}\nsecond line` }), 4);
    expect(line).toContain('\\x1b[2Kok');
    expect(line).not.toMatch(RAW_IN_LINE);
    expect(stepLine('web1', step({ status: 'error', reason: `ssh: ${HOSTILE}\nboom` }))).not.toMatch(RAW_IN_LINE);
  });

  it('the verdict keeps its own lines; summary, evidence and fix cannot add lines or escapes', () => {
    const text = verdict(result());
    expect(text).not.toMatch(RAW_IN_TEXT);
    expect(text.split('\n')).toEqual([
      expect.stringMatching(/^✗ service-down — shop-api is down: .*\\nsecond line$/),
      '  evidence:',
      expect.stringMatching(/^ {4}- curl said .*\\nmore$/),
      expect.stringMatching(/^ {2}fix: restart\\n/),
      '  run r_abc123def · 40ms',
    ]);
  });
});

describe('chat: Telegram, Slack and the console', () => {
  const message = { title: `card ${HOSTILE}\ninjected`, lines: [`line ${HOSTILE}`, 'plain'], code: `out ${HOSTILE}\nline two\tTAB`, summary: `sum ${HOSTILE}`, buttons: [{ label: `b${HOSTILE}`, command: '/cancel r_abc1' }] };

  it('Telegram: title and lines stay single lines, code keeps its newlines, nothing raw is sent', () => {
    const t = renderTelegram(message);
    expect(t.html).not.toMatch(RAW_IN_TEXT);
    const [title, ...rest] = t.html.split('\n');
    expect(title).toMatch(/^<b>card \\x1b\]0;pwned\\x07.*\\ninjected<\/b>$/);
    expect(rest[0]).toMatch(/^line /);
    expect(rest[1]).toBe('plain');
    expect(t.html).toContain('\nline two\tTAB</pre>');
    expect(JSON.stringify(t.replyMarkup)).not.toMatch(/\\u001b|\\u0007/);
    expect(t.replyMarkup!.inline_keyboard[0]![0]!.text).not.toMatch(RAW_IN_LINE);
    expect(renderCaption(`file ${HOSTILE}`)).not.toMatch(RAW_IN_LINE);
  });

  it('Slack: sections, fallback text and button labels carry no raw control characters', () => {
    const s = renderSlack(message);
    expect(s.text).not.toMatch(RAW_IN_LINE);
    const texts = s.blocks.flatMap((b) => (b.type === 'section' ? [b.text.text] : b.type === 'context' ? b.elements.map((e) => e.text) : b.elements.map((e) => e.text.text)));
    for (const t of texts) expect(t).not.toMatch(RAW_IN_TEXT);
    const first = s.blocks[0] as { text: { text: string } };
    expect(first.text.text.split('\n')[0]).toMatch(/^\*card \\x1b\]0;pwned\\x07.* injected\*$/);
  });

  it('a run card and its thread escape host text; the attached full output keeps its newlines', () => {
    const card = renderRunCard({
      runId: 'r_abc123def',
      runbook: '502',
      target: 'shop',
      requestedBy: 'alice',
      state: 'done',
      final: true,
      hosts: [{ host: 'web1', steps: [step({ output: HOSTILE })] }],
      approvals: [],
      result: result(),
    });
    expect(renderTelegram(card).html).not.toMatch(RAW_IN_TEXT);
    const details = renderHostDetails('web1', [step({ output: `${HOSTILE}\n`.repeat(400) })]);
    expect(details.file).toBeDefined();
    expect(details.file!.content).not.toMatch(RAW_IN_TEXT);
    expect(details.file!.content.split('\n').length).toBeGreaterThan(400);
  });

  it('the console chat prints escapes, never the characters', () => {
    const text = renderPlainText(message);
    expect(text).not.toMatch(RAW_IN_TEXT);
    expect(text.split('\n')[0]).toContain('\\ninjected');
  });
});
