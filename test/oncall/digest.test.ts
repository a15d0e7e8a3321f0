/**
 * The digest as a value: what a reader sees for each case, from composeDigest
 * alone (no clock, no Redis).
 */
import { describe, expect, it } from 'vitest';
import { composeDigest, type CheckOutcome } from '../../src/oncall/digest.ts';

const T0 = Date.parse('2026-01-01T09:00:00Z');
const HOUR = 3_600_000;
const ok = (target: string): CheckOutcome => ({ target, state: 'ok' });
const failing = (target: string, cause: string): CheckOutcome => ({ target, state: 'failing', cause, summary: `${cause} on ${target}` });

describe('composeDigest', () => {
  it('a target that breaks between two digests is new (listed first); one that recovers is listed as recovered; ok ones are summed', () => {
    const first = composeDigest({ name: 'morning', runbook: 'health', outcomes: [failing('shop', 'service-down'), ok('blog'), ok('wiki')], open: [], nowMs: T0, timeoutMs: 60_000 });
    const second = composeDigest({
      name: 'morning',
      runbook: 'health',
      outcomes: [ok('shop'), failing('blog', 'db-unreachable'), ok('wiki')],
      previous: first.snapshot,
      open: [],
      nowMs: T0 + 24 * HOUR,
      timeoutMs: 60_000,
    });
    const lines = second.message.lines;
    const since = lines.indexOf('Since the previous digest (2026-01-01 09:00 UTC):');
    expect(lines.slice(since + 1, since + 3)).toEqual(['🆕 blog: db-unreachable', '✅ shop recovered (was service-down)']);
    expect(lines).toContain('✅ 2 ok');
    expect(second.message.title).toBe('📋 morning digest (health) — 1 needs attention · 2 ok');
  });

  it('a failure that goes on keeps its "since"; a check that did not answer is named', () => {
    const first = composeDigest({ name: 'm', runbook: 'health', outcomes: [failing('shop', 'service-down')], open: [], nowMs: T0, timeoutMs: 60_000 });
    const second = composeDigest({ name: 'm', runbook: 'health', outcomes: [failing('shop', 'service-down'), { target: 'vault', state: 'no-answer' }], previous: first.snapshot, open: [], nowMs: T0 + 3 * HOUR, timeoutMs: 60_000 });
    expect(second.message.lines[0]).toBe('❌ shop: service-down since 2026-01-01 09:00 UTC (3 h) — service-down on shop');
    expect(second.message.lines[1]).toBe('⏱ vault: did not answer within 60 s');
    expect(second.message.lines).toContain('🆕 vault: did not answer');
    expect(second.message.lines).not.toContain('🆕 shop: service-down');
  });
});
