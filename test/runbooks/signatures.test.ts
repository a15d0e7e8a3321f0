/**
 * The log-signature table every runbook shares: real lines from the seeds'
 * stacks (Python, Node, Go, Java, nginx) name their cause code, the most
 * specific entry wins, a user's runbook folder can add and replace entries,
 * and a runbook step with `signatures: true` gets the captures — run for
 * real by the engine on this machine.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalExecutor } from '../../src/executors/local.ts';
import { runRunbook } from '../../src/runbooks/engine.ts';
import { RunbookLibrary } from '../../src/runbooks/loader.ts';
import { SignatureTable } from '../../src/runbooks/signatures.ts';
import { makeTempDir, removeTempDir } from '../support/processes.ts';

const table = SignatureTable.builtin();

describe('the built-in signatures', () => {
  const lines: [string, string, string | null][] = [
    ["ModuleNotFoundError: No module named 'fastapi'", 'dependency-missing', 'fastapi'],
    ["Error: Cannot find module 'left-pad-not-installed'", 'dependency-missing', 'left-pad-not-installed'],
    ['Error: listen EADDRINUSE: address already in use 127.0.0.1:8000', 'port-conflict', null],
    ['Error: environment variable JWT_SECRET is not set', 'missing-env', 'JWT_SECRET'],
    ['OSError: [Errno 28] No space left on device', 'disk-full', null],
    ['<--- JS stacktrace ---> FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory', 'memory-pressure', null],
    ['psycopg2.OperationalError: connection to server at "127.0.0.1", port 5432 failed: Connection refused', 'db-unreachable', null],
    ['FATAL:  sorry, too many clients already', 'db-connections-exhausted', null],
    ['ERROR:  canceling statement due to statement timeout', 'db-slow', null],
    ['Error: certificate has expired', 'upstream-unreachable', null],
    ['Error: getaddrinfo ENOTFOUND api.payments.example', 'dns-failure', 'api.payments.example'],
    [
      '2026/01/01 10:00:00 [error] 7#7: *3 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 127.0.0.1, server: shop.test, request: "GET /api/x HTTP/1.1", upstream: "http://127.0.0.1:8000/api/x", host: "shop.test"',
      'upstream-timeout',
      'http://127.0.0.1:8000/api/x',
    ],
    ['2026/01/01 10:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, upstream: "http://127.0.0.1:8000/api"', 'service-down', 'http://127.0.0.1:8000/api'],
    ['2026/01/01 10:00:00 [error] 7#7: *2 no live upstreams while connecting to upstream, client: 127.0.0.1', 'service-down', null],
    ['2026/01/01 10:00:00 [error] 7#7: *4 upstream prematurely closed connection while reading response header from upstream', 'upstream-error', null],
    ['SyntaxError: Unexpected token {', 'code-error', null],
    ['panic: runtime error: invalid memory address or nil pointer dereference', 'code-error', null],
    ['Exception in thread "main" java.lang.IllegalStateException: boom', 'code-error', 'java.lang.IllegalStateException'],
    ['Caused by: org.postgresql.util.PSQLTimeoutException: timed out', 'code-error', 'org.postgresql.util.PSQLTimeoutException'],
    ['Traceback (most recent call last):', 'code-error', null],
  ];
  for (const [line, code, detail] of lines) {
    it(`${code}: ${line.slice(0, 70)}`, () => {
      const m = table.match(line);
      expect(m.cause).toBe(code);
      expect(m.cause_line).toBe(line.trim());
      expect(m.cause_detail).toBe(detail);
    });
  }

  it('ordinary lines match nothing', () => {
    const m = table.match('[2026-01-01T10:00:00Z] shop-api: listening on 127.0.0.1:8000\nGET /health 200 3ms\n');
    expect(m).toEqual({ cause: null, causes: [], cause_id: null, cause_title: null, cause_line: null, cause_detail: null, cause_lines: {} });
  });

  it('a whole Python crash: the specific line wins over the traceback around it, every code is listed', () => {
    const m = table.match(
      ['Traceback (most recent call last):', '  File "/srv/app/api_server.py", line 9, in <module>', '    import fastapi', "ModuleNotFoundError: No module named 'fastapi'", 'Error: listen EADDRINUSE :::8000'].join('\n'),
    );
    expect(m.cause).toBe('dependency-missing');
    expect(m.cause_id).toBe('python-module-missing');
    expect(m.cause_title).toBe('a Python module is not installed');
    expect(m.causes).toEqual(['dependency-missing', 'port-conflict', 'code-error']);
    expect(m.cause_lines.port_conflict).toBe('Error: listen EADDRINUSE :::8000');
    expect(m.cause_lines.code_error).toBe('Traceback (most recent call last):');
  });

  it('the latest of repeated lines is quoted, clipped', () => {
    const m = table.match(`SyntaxError: first\nSyntaxError: second ${'x'.repeat(400)}`);
    expect(m.cause_line).toMatch(/^SyntaxError: second x+…$/);
    expect(m.cause_line!.length).toBe(301);
  });
});

describe('a user runbook folder adds its own signatures.yaml', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir('triage-signatures-');
  });
  afterAll(async () => {
    await removeTempDir(dir);
  });

  it('new entries come first; an entry with a built-in id replaces it in place', async () => {
    await fsp.writeFile(
      path.join(dir, 'signatures.yaml'),
      [
        'signatures:',
        '  - id: payments-gateway-down',
        '    code: upstream-unreachable',
        "    regex: 'PaymentGatewayError: (\\w+) unreachable'",
        '    title: the payment gateway is unreachable',
        '  - id: syntax-error',
        '    code: code-error',
        "    regex: 'SyntaxError: (.*)'",
        '    title: our own wording',
        '',
      ].join('\n'),
    );
    const t = SignatureTable.load([dir]);
    expect(t.entries[0]!.id).toBe('payments-gateway-down');
    expect(t.entries.filter((s) => s.id === 'syntax-error')).toHaveLength(1);
    expect(t.match('SyntaxError: bad').cause_title).toBe('our own wording');
    expect(t.match('PaymentGatewayError: stripe unreachable').cause_detail).toBe('stripe');
    // the built-in table is untouched
    expect(SignatureTable.builtin().match('PaymentGatewayError: stripe unreachable').cause).toBeNull();
  });

  it('a bad entry is refused with its file, line and fix — and the library refuses to load', async () => {
    const bad = await makeTempDir('triage-signatures-bad-');
    try {
      await fsp.writeFile(path.join(bad, 'signatures.yaml'), "signatures:\n  - id: Bad_Id\n    code: x\n    regex: '('\n    title: t\n    colour: red\n");
      let err: unknown;
      try {
        RunbookLibrary.load({ dirs: [bad] });
      } catch (e) {
        err = e;
      }
      const text = String((err as { errors?: unknown[] }).errors?.map((e) => `${(e as Error).message} [${(e as { file?: string }).file}] ${(e as { fix?: string }).fix}`).join('\n'));
      expect(text).toContain('signature ids are kebab-case');
      expect(text).toContain('not a valid regular expression');
      expect(text).toContain("unknown key 'colour'");
      expect(text).toContain(path.join(bad, 'signatures.yaml'));
      expect(text).toMatch(/line \d+: /);
    } finally {
      await removeTempDir(bad);
    }
  });

  it('a user runbook with signatures: true gets the captures from the user table, run by the engine', async () => {
    const rbDir = await makeTempDir('triage-signatures-rb-');
    try {
      await fsp.writeFile(path.join(rbDir, 'signatures.yaml'), "signatures:\n  - id: payments-gateway-down\n    code: upstream-unreachable\n    regex: 'PaymentGatewayError: (\\w+) unreachable'\n    title: the payment gateway is unreachable\n");
      await fsp.writeFile(
        path.join(rbDir, 'payments.yaml'),
        [
          'name: payments',
          'description: is the payment gateway reachable',
          'steps:',
          '  - id: logs',
          '    title: payment errors',
          '    run: |',
          "      printf '%s\\n' 'boot ok' 'PaymentGatewayError: stripe unreachable'",
          '    signatures: true',
          'findings:',
          '  - code: upstream-unreachable',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, not a JS one
          '    title: "${{ logs.cause_title }}: ${{ logs.cause_detail }}"',
          "    when: logs.cause == 'upstream-unreachable'",
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, not a JS one
          '    evidence: ["log: ${{ logs.cause_line }}"]',
          '    fix: check the gateway',
          '',
        ].join('\n'),
      );
      const lib = RunbookLibrary.load({ dirs: [rbDir] });
      expect(lib.names()).not.toContain('signatures');
      const result = await runRunbook({
        runId: 'r_sig',
        runbook: lib.get('payments'),
        target: { name: 'shop', hosts: ['box'] },
        hosts: [{ name: 'box', address: 'local' }],
        params: {},
        executor: new LocalExecutor(),
        signatures: lib.signatures,
      });
      expect(result.cause, JSON.stringify(result.hosts, null, 1)).toBe('upstream-unreachable');
      expect(result.findings[0]!.title).toBe('the payment gateway is unreachable: stripe');
      expect(result.findings[0]!.evidence).toEqual(['log: PaymentGatewayError: stripe unreachable']);
      expect(result.hosts[0]!.steps[0]!.captures?.causes).toEqual(['upstream-unreachable']);
    } finally {
      await removeTempDir(rbDir);
    }
  });
});
