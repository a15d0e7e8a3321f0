/**
 * The run card is what the on-call engineer reads at 3 a.m.: these tests
 * render it for each moment of a run and check what they would see.
 */
import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../../src/bot/adapter.ts';
import { fitMessage, readCard, renderHostDetails, renderRunCard, type RunCardView } from '../../src/bot/run-card.ts';
import type { RunResult, StepResult } from '../../src/runbooks/result.ts';

const step = (id: string, status: StepResult['status'], extra: Partial<StepResult> = {}): StepResult => ({
  id,
  title: `${id} check`,
  status,
  exitCode: status === 'pass' ? 0 : status === 'skipped' ? null : 1,
  durationMs: 12,
  output: '',
  ...extra,
});

const view = (over: Partial<RunCardView> = {}): RunCardView => ({
  runId: 'r_abc123def',
  runbook: '502',
  target: 'shop',
  requestedBy: 'alice',
  state: 'running',
  final: false,
  hosts: [{ host: 'web1', steps: [] }],
  totalSteps: 4,
  approvals: [],
  ...over,
});

const serviceDown: RunResult = {
  runId: 'r_abc123def',
  runbook: '502',
  target: 'shop',
  status: 'unhealthy',
  cause: 'service-down',
  summary: 'shop-api is not running on web1: nothing listens on :8000',
  findings: [
    {
      code: 'service-down',
      severity: 'critical',
      host: 'web1',
      title: 'shop-api is not running',
      evidence: ['nothing listens on :8000', 'systemd: inactive (dead) since 03:12'],
      fix: 'sudo systemctl start shop-api.service, then check journalctl -u shop-api',
    },
  ],
  hosts: [{ host: 'web1', reachable: true, steps: [step('service', 'fail'), step('listen', 'fail')] }],
  startedAt: '2026-01-01T03:14:00.000Z',
  durationMs: 840,
};

const text = (m: ChatMessage) => [m.title ?? '', ...m.lines, m.code ?? ''].join('\n');

describe('while the run is going', () => {
  it('shows each finished step with its mark, then "running…" with how far it got, and a Cancel button', () => {
    const m = renderRunCard(
      view({ hosts: [{ host: 'web1', steps: [step('service', 'pass'), step('listen', 'fail'), step('logs', 'warn')] }], totalSteps: 5 }),
    );
    expect(m.title).toContain('502 on shop');
    expect(text(m)).toContain('web1: ✓ service check · ✗ listen check · ! logs check · running… (4/5)');
    expect(m.buttons).toEqual([{ label: 'Cancel', command: '/cancel r_abc123def', style: 'danger' }]);
    expect(readCard(m)).toEqual({ runId: 'r_abc123def', final: false });
  });

  it('shows a timed-out and a skipped step with their own marks', () => {
    const m = renderRunCard(view({ hosts: [{ host: 'web1', steps: [step('health', 'timeout'), step('db', 'skipped')] }] }));
    expect(text(m)).toContain('⏱ health check · – db check');
  });

  it('asks for approval of a host-changing step with an Approve button', () => {
    const m = renderRunCard(view({ state: 'waiting-approval', approvals: [{ host: 'web1', stepId: 'restart', title: 'restart shop-api' }] }));
    expect(m.title).toContain('waiting for approval');
    expect(text(m)).toContain('/approve r_abc123def web1:restart');
    expect(m.buttons?.map((b) => b.command)).toEqual(['/approve r_abc123def web1:restart', '/cancel r_abc123def']);
  });

  it('warns about a host-key mismatch as a security problem as soon as it is seen', () => {
    const m = renderRunCard(
      view({ hosts: [{ host: 'web1', steps: [step('service', 'error', { errorCode: 'SSH_HOSTKEY', reason: 'host key mismatch' })] }] }),
    );
    expect(text(m)).toContain('SECURITY WARNING');
    expect(text(m)).toContain('possible man-in-the-middle');
    expect(text(m)).not.toContain('✗');
  });
});

describe('the final card', () => {
  it('names the cause code in plain text with the summary, evidence, fix and run id, and offers a re-run', () => {
    const m = renderRunCard(view({ state: 'done', final: true, result: serviceDown, hosts: [{ host: 'web1', steps: serviceDown.hosts[0]!.steps }] }));
    const t = text(m);
    expect(m.title).toBe('❌ 502 on shop: service-down');
    expect(t).toContain('cause: service-down — shop-api is not running on web1: nothing listens on :8000');
    expect(t).toContain('• nothing listens on :8000');
    expect(t).toContain('• systemd: inactive (dead) since 03:12');
    expect(t).toContain('fix: sudo systemctl start shop-api.service');
    expect(m.lines.at(-1)).toMatch(/^run r_abc123def · unhealthy · 840 ms · asked by alice$/);
    // An unhealthy run is an incident: Ack and Resolve name the run, the core finds its incident.
    expect(m.buttons).toEqual([
      { label: 'Re-run', command: '/diagnose 502 shop' },
      { label: 'Ack', command: '/ack r_abc123def' },
      { label: 'Resolve', command: '/resolve r_abc123def' },
    ]);
    expect(readCard(m)).toEqual({ runId: 'r_abc123def', final: true });
  });

  it('re-runs on the same host when the run was limited to one', () => {
    const m = renderRunCard(view({ host: 'web2', state: 'done', final: true, result: serviceDown }));
    expect(m.buttons?.[0]?.command).toBe('/diagnose 502 shop web2');
  });

  it('says healthy without a fix when nothing is wrong', () => {
    const healthy: RunResult = { ...serviceDown, status: 'healthy', cause: null, summary: 'all checks passed', findings: [] };
    const m = renderRunCard(view({ state: 'done', final: true, result: healthy }));
    expect(m.title).toBe('✅ 502 on shop: healthy');
    expect(text(m)).toContain('healthy — all checks passed');
    expect(text(m)).not.toContain('fix:');
  });

  it('shows a host-key mismatch as a SECURITY WARNING (possible man-in-the-middle), never as a plain failure', () => {
    const mitm: RunResult = {
      ...serviceDown,
      cause: 'host-key-mismatch',
      summary: 'SECURITY: web1 presented an unexpected SSH host key',
      findings: [
        {
          code: 'host-key-mismatch',
          severity: 'critical',
          host: 'web1',
          title: 'SECURITY: web1 presented an unexpected SSH host key — possible man-in-the-middle; nothing was run there',
          evidence: ['expected SHA256:AAAA, got SHA256:BBBB'],
          fix: 'verify the host key out of band before updating hosts.web1.hostKey',
        },
      ],
      hosts: [{ host: 'web1', reachable: false, error: { code: 'SSH_HOSTKEY', message: 'host key mismatch' }, steps: [] }],
    };
    const m = renderRunCard(view({ state: 'done', final: true, result: mitm }));
    const t = text(m);
    expect(m.title).toContain('SECURITY WARNING');
    expect(t).toContain('possible man-in-the-middle');
    expect(t).toContain('cause: host-key-mismatch');
    expect(t).toContain('web1: ⚠ SECURITY WARNING');
    expect(t).not.toContain('unreachable');
    expect(m.title).not.toContain('❌');
  });

  it('says a cancelled run was cancelled, by whom', () => {
    const m = renderRunCard(view({ state: 'cancelled', final: true, reason: 'cancelled by tg:42' }));
    expect(m.title).toBe('⏹ 502 on shop: cancelled');
    expect(text(m)).toContain('cancelled — cancelled by tg:42');
    expect(readCard(m)?.final).toBe(true);
  });

  it('never shows a secret that slipped into the summary or evidence', () => {
    const leaky: RunResult = {
      ...serviceDown,
      summary: 'connect failed: postgres://app:hunter2hunter2@db:5432/shop',
      findings: [{ ...serviceDown.findings[0]!, evidence: ['DATABASE_PASSWORD=s3cr3t-value-123'] }],
    };
    const t = text(renderRunCard(view({ state: 'done', final: true, result: leaky })));
    expect(t).not.toContain('hunter2hunter2');
    expect(t).not.toContain('s3cr3t-value-123');
  });

  it('stays under the platform limit with hundreds of hosts and long evidence, keeping cause, fix and run id', () => {
    const hosts = Array.from({ length: 400 }, (_, i) => ({ host: `web${i}`, steps: [step('listen', 'fail')] }));
    const big: RunResult = {
      ...serviceDown,
      findings: [{ ...serviceDown.findings[0]!, evidence: Array.from({ length: 200 }, (_, i) => `evidence line ${i} ${'x'.repeat(200)}`) }],
      hosts: hosts.map((h) => ({ host: h.host, reachable: true, steps: h.steps })),
    };
    for (const max of [3000, 4096]) {
      const m = renderRunCard(view({ state: 'done', final: true, result: big, hosts }), { maxTextLength: max });
      expect(text(m).length).toBeLessThanOrEqual(max);
      expect(text(m)).toContain('cause: service-down');
      expect(text(m)).toContain('fix: ');
      expect(m.lines.at(-1)).toContain('run r_abc123def');
    }
  });
});

describe('host details in the thread', () => {
  it('lists every step and shows the output of the ones that failed or warned', () => {
    const { message, file } = renderHostDetails('web1', [
      step('service', 'pass', { output: 'state=active' }),
      step('listen', 'fail', { output: 'nothing listens on :8000' }),
      step('db', 'skipped', { reason: 'host unreachable' }),
    ]);
    expect(file).toBeUndefined();
    expect(message.title).toBe('web1 — 1 passed, 1 failed, 1 skipped');
    expect(message.lines).toEqual(['✓ service check · 12 ms', '✗ listen check · exit 1 · 12 ms', '– db check · skipped: host unreachable']);
    expect(message.code).toContain('nothing listens on :8000');
    expect(message.code).not.toContain('state=active');
  });

  it('redacts secrets in step output', () => {
    const { message } = renderHostDetails('web1', [step('env', 'fail', { output: 'JWT_SECRET=abc123abc123abc123\nAPI_TOKEN: xoxb-1234567890-abcdefghij' })]);
    expect(message.code).not.toContain('abc123abc123abc123');
    expect(message.code).not.toContain('xoxb-1234567890-abcdefghij');
  });

  it('puts huge output in a file and keeps the message short', () => {
    const steps = ['a', 'b', 'c'].map((id) => step(id, 'fail', { output: `${id}-output `.repeat(400) }));
    for (const max of [3000, 4096]) {
      const { message, file } = renderHostDetails('web1', steps, { maxTextLength: max, runId: 'r_abc123def' });
      expect(text(message).length).toBeLessThanOrEqual(max);
      expect(message.lines).toContain('full output attached: r_abc123def-web1.txt');
      expect(file?.filename).toBe('r_abc123def-web1.txt');
      expect(file?.content).toContain('c-output');
    }
  });

  it('marks a host-key mismatch as a security warning', () => {
    const { message } = renderHostDetails('web1', [step('service', 'error', { errorCode: 'SSH_HOSTKEY', reason: 'host key mismatch' })]);
    expect(message.title).toContain('SECURITY WARNING');
    expect(message.title).toContain('man-in-the-middle');
  });
});

describe('long replies', () => {
  it('are cut to the platform limit with a note of how much was left out', () => {
    const lines = Array.from({ length: 1000 }, (_, i) => `runbook-${i} — ${'a description '.repeat(8)}`);
    const m = fitMessage({ title: 'Runbooks', lines }, { maxTextLength: 3000 });
    expect(text(m).length).toBeLessThanOrEqual(3000);
    expect(m.lines.at(-1)).toMatch(/^… \d+ more$/);
    expect(m.lines[0]).toBe(lines[0]);
  });
});
