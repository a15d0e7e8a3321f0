/**
 * What an operator reads in the bot's and workers' logs: one JSON object per
 * line with level, time and the run's fields; never a secret, never a raw
 * control character; one readable line each on a terminal.
 */
import { describe, expect, it } from 'vitest';
import { createLogger, formatLine, parseLogFormat, parseLogLevel } from '../../src/ops/logger.ts';
import { Redactor } from '../../src/redact.ts';
import { TriageError } from '../../src/errors.ts';

function capture(o: { level?: 'debug' | 'info' | 'warn'; format?: 'json' | 'text'; redactor?: Redactor } = {}) {
  const lines: string[] = [];
  const logger = createLogger({ ...o, write: (l) => lines.push(l), base: { role: 'worker' } });
  return { logger, lines };
}

describe('the log', () => {
  it('writes one JSON object per line with level, time, role and the run fields', () => {
    const { logger, lines } = capture();
    logger.info({ runId: 'r_abc', runbook: '502', target: 'shop', host: 'web1', step: 'port', status: 'pass', durationMs: 12 }, 'step finished');
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]!);
    expect(o).toMatchObject({ level: 'info', role: 'worker', runId: 'r_abc', target: 'shop', host: 'web1', step: 'port', msg: 'step finished' });
    expect(o.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(typeof o.pid).toBe('number');
  });

  it('leaves out what is below --log-level', () => {
    const { logger, lines } = capture({ level: 'warn' });
    logger.info('quiet');
    logger.debug('quieter');
    logger.warn('loud');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['loud']);
  });

  it('never writes a registered secret, a secret-named field or a password in a URL', () => {
    const redactor = new Redactor();
    const planted = 'tg-planted-9f8e7d6c5b4a';
    redactor.register(planted);
    const { logger, lines } = capture({ redactor });
    logger.warn({ host: 'web1', detail: `telegram said no to bot${planted}/getMe` }, `sending with ${planted} failed`);
    logger.info({ password: 'hunter2-but-longer', url: 'redis://app:s3cretpass@10.0.0.9:6379' }, 'connecting');
    logger.error({ err: new TriageError('SSH_AUTH', `web1 refused key ${planted}`, { fix: 'add the key' }) }, 'ssh');
    const all = lines.join('\n');
    for (const secret of [planted, 'hunter2-but-longer', 's3cretpass']) expect(all).not.toContain(secret);
    expect(all).toContain('«redacted»');
    const err = JSON.parse(lines[2]!).err;
    expect(err).toMatchObject({ type: 'TriageError', code: 'SSH_AUTH', fix: 'add the key' });
    expect(err.stack).toBeUndefined();
  });

  it('shows control characters, line separators and bidi controls as escapes', () => {
    const { logger, lines } = capture();
    logger.warn({ target: 'shop\u202e', host: 'a\u0085b' }, 'chat said \x1b]0;pwned\x07 and \u2028 more');
    expect(lines).toHaveLength(1);
    const raw = lines[0]!;
    expect(raw).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e]/);
    const o = JSON.parse(raw);
    expect(o.msg).toBe('chat said \\x1b]0;pwned\\x07 and \\u2028 more');
    expect(o.target).toBe('shop\\u202e');
  });

  it('on a terminal: one readable line per entry, the message first, then the fields', () => {
    const { logger, lines } = capture({ format: 'text' });
    logger.info({ runId: 'r_abc', target: 'shop', host: 'web1', step: 'port', zones: ['default', 'dmz'], note: 'two words\nand a newline' }, 'step finished');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}step finished runId=r_abc target=shop host=web1 step=port zones=default,dmz note="two words\\\\nand a newline"$/);
    expect(formatLine({ level: 'error', msg: 'x', err: { code: 'SSH_AUTH', message: 'refused', fix: 'add it' } })).toBe('ERROR x err="SSH_AUTH: refused — add it"');
  });

  it('--log-level and --log-format take only what they list', () => {
    expect(parseLogLevel(undefined)).toBe('info');
    expect(parseLogLevel('debug')).toBe('debug');
    expect(() => parseLogLevel('loud')).toThrow(expect.objectContaining({ code: 'USAGE', fix: expect.stringMatching(/trace, debug, info/) }));
    expect(parseLogFormat(undefined, true)).toBe('text');
    expect(parseLogFormat(undefined, false)).toBe('json');
    expect(() => parseLogFormat('xml', false)).toThrow(expect.objectContaining({ code: 'USAGE', fix: 'use json or text' }));
  });
});
