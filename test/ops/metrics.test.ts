/**
 * What the counters say when things go wrong: SSH connections that fail
 * are counted by reason (a refused port, a changed host key, a refused key
 * — against a real sshd on loopback), and chat sends, 429s and retries are
 * counted as the outbox meets them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitedError } from '../../src/bot/adapter.ts';
import type { ChatTransport } from '../../src/bot/adapter.ts';
import { Outbox } from '../../src/bot/outbox.ts';
import { SshExecutor } from '../../src/executors/ssh.ts';
import { OpsMetrics } from '../../src/ops/metrics.ts';
import { type Fleet, startFleet, unusedLoopbackHost } from '../support/fleet.ts';
import { readFileSync } from 'node:fs';

async function value(m: OpsMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = metric?.values.find((s) => Object.entries(labels).every(([k, want]) => String(s.labels[k]) === want));
  return v?.value ?? 0;
}

describe('SSH connect failures by reason', () => {
  let fleet: Fleet;
  beforeAll(async () => {
    fleet = await startFleet({ hosts: 1 });
  }, 60_000);
  afterAll(async () => fleet?.stop());

  it('counts a refused port, a host key that does not match and a key the host refuses, each under its reason', async () => {
    const metrics = new OpsMetrics({ role: 'worker', defaultMetrics: false });
    const ssh = new SshExecutor();
    try {
      const nothing = unusedLoopbackHost();
      const h = fleet.hosts[0]!;
      const key = readFileSync(fleet.keyFile);
      const tries = [
        { name: 'gone', address: nothing.address, port: nothing.port, user: nothing.user, privateKey: key, hostKey: fleet.hostKeyFingerprint },
        { name: 'rebuilt', address: h.address, port: h.port, user: h.user, privateKey: key, hostKey: 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
        { name: 'nokey', address: h.address, port: h.port, user: 'nobody-triage', privateKey: key, hostKey: fleet.hostKeyFingerprint },
      ];
      const codes = [];
      for (const host of tries) codes.push(await ssh.exec(host, 'true').then(() => 'ok', (e: { code: string }) => e.code));
      expect(codes).toEqual(['SSH_CONNECT', 'SSH_HOSTKEY', 'SSH_AUTH']);
      expect(await value(metrics, 'triage_ssh_connect_failures_total', { reason: 'ECONNREFUSED' })).toBe(1);
      expect(await value(metrics, 'triage_ssh_connect_failures_total', { reason: 'host-key' })).toBe(1);
      expect(await value(metrics, 'triage_ssh_connect_failures_total', { reason: 'auth' })).toBe(1);
      // A good connection counts nothing.
      const ok = await ssh.exec({ name: 'web1', address: h.address, port: h.port, user: h.user, privateKey: key, hostKey: fleet.hostKeyFingerprint }, 'echo hi');
      expect(ok.stdout.trim()).toBe('hi');
      const all = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'triage_ssh_connect_failures_total')!;
      expect(all.values.reduce((n, s) => n + s.value, 0)).toBe(3);
    } finally {
      await ssh.close();
      metrics.close();
    }
  }, 60_000);
});

describe('chat sends, 429s and retries', () => {
  it('counts what was delivered, each 429 and each retry, and what was given up', async () => {
    const metrics = new OpsMetrics({ role: 'bot', defaultMetrics: false });
    // The platform answers: 429, then 500, then fine — for the first post; the second post always fails.
    const answers: (Error | null)[] = [new RateLimitedError(0), new Error('HTTP 500'), null];
    let n = 0;
    const transport: ChatTransport = {
      platform: 'slack',
      maxTextLength: 3000,
      async post(room) {
        if (room === 'C-broken') throw new Error('channel_not_found');
        const a = answers.shift();
        if (a) throw a;
        return { room, id: String(++n) };
      },
      async edit() {},
      async upload() {},
    };
    const outbox = new Outbox({ transport, pacing: { minIntervalMs: 0 }, attempts: 2, backoffMs: 0 });
    try {
      expect(await outbox.post('C1', { lines: ['card'] })).toEqual({ room: 'C1', id: '1' });
      expect(await outbox.post('C-broken', { lines: ['card'] })).toBeUndefined();
      expect(await value(metrics, 'triage_chat_sends_total', { platform: 'slack', kind: 'post', outcome: 'sent' })).toBe(1);
      expect(await value(metrics, 'triage_chat_sends_total', { platform: 'slack', kind: 'post', outcome: 'gave-up' })).toBe(1);
      expect(await value(metrics, 'triage_chat_rate_limited_total', { platform: 'slack' })).toBe(1);
      // One retry after the 500, one for the broken channel before it was given up.
      expect(await value(metrics, 'triage_chat_retries_total', { platform: 'slack' })).toBe(2);
    } finally {
      await outbox.close(0);
      metrics.close();
    }
  });

  it('counts nothing once closed', async () => {
    const metrics = new OpsMetrics({ role: 'bot', defaultMetrics: false });
    metrics.close();
    const transport: ChatTransport = { platform: 'telegram', maxTextLength: 4096, post: async (room) => ({ room, id: '1' }), edit: async () => {}, upload: async () => {} };
    const outbox = new Outbox({ transport, pacing: { minIntervalMs: 0 } });
    await outbox.post('-1', { lines: ['x'] });
    await outbox.close(0);
    expect(await value(metrics, 'triage_chat_sends_total', { platform: 'telegram' })).toBe(0);
  });
});
