/**
 * A bad host is an error for that host, never a crash or a hang of the
 * worker: a port that accepts and never speaks, one that sends a banner and
 * goes silent, one that hangs up at once, one that drops SYNs, an sshd
 * stopped mid-step, a connection that goes silent after the handshake. After
 * each, the same executor still runs commands on a good host, and nothing
 * reached 'uncaughtException' or 'unhandledRejection'.
 */
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TriageError } from '../../src/errors.ts';
import type { HostSpec } from '../../src/executors/executor.ts';
import { SshExecutor } from '../../src/executors/ssh.ts';
import { type Fleet, startFleet } from '../support/fleet.ts';
import { untilGone, untilRunning } from '../support/host-census.ts';
import { sleep } from '../support/processes.ts';
import { blackholedPort, cuttableProxy, type FaultyHost, faultyServer } from '../support/tcp-faults.ts';
import { rejection } from '../support/wait.ts';

const CONNECT_MS = 1500;
let fleet: Fleet;
let ssh: SshExecutor;
const stray: unknown[] = [];
const onStray = (e: unknown) => stray.push(e);
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  process.on('uncaughtException', onStray);
  process.on('unhandledRejection', onStray);
  fleet = await startFleet({ hosts: 1 });
  ssh = new SshExecutor();
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
afterAll(async () => {
  await ssh?.close();
  await fleet?.stop();
  process.off('uncaughtException', onStray);
  process.off('unhandledRejection', onStray);
});

function good(f: Fleet = fleet, over: Partial<HostSpec> = {}): HostSpec {
  const h = f.hosts[0]!;
  return {
    name: h.name,
    address: h.address,
    port: h.port,
    user: h.user,
    privateKey: readFileSync(f.keyFile),
    hostKey: f.hostKeyFingerprint,
    connectTimeoutMs: CONNECT_MS,
    ...over,
  };
}
const at = (bad: { address: string; port: number }, name = 'bad'): HostSpec => good(fleet, { name, address: bad.address, port: bad.port });

/** The worker is fine: no stray error reached the process, and a good host still answers on the same executor. */
async function stillWorks(): Promise<void> {
  await sleep(300); // give any late ssh2 'error' (they follow a destroyed socket) its chance to fire
  expect((await ssh.exec(good(), 'echo still here')).stdout).toBe('still here\n');
  expect(stray).toEqual([]);
}

describe('a host that speaks no SSH', () => {
  for (const [behaviour, expected] of [
    ['silent', /did not finish the SSH handshake within 1500 ms/],
    ['banner-then-silent', /did not finish the SSH handshake within 1500 ms/],
    ['close-on-accept', /before the SSH handshake|Connection lost before handshake/],
  ] as const) {
    it(`${behaviour}: SSH_CONNECT for that host, and the worker carries on`, async () => {
      const bad: FaultyHost = await faultyServer(behaviour);
      cleanups.push(() => bad.stop());
      const err = await rejection(ssh.exec(at(bad, behaviour), 'true'));
      expect(err).toBeInstanceOf(TriageError);
      expect(err).toMatchObject({ code: 'SSH_CONNECT', message: expect.stringMatching(expected) });
      expect(bad.accepted()).toBe(1);
      await stillWorks();
    });
  }

  it('several at once, next to a good host, fail independently', async () => {
    const bads = await Promise.all([faultyServer('silent'), faultyServer('banner-then-silent'), faultyServer('close-on-accept')]);
    for (const b of bads) cleanups.push(() => b.stop());
    const results = await Promise.allSettled([...bads.map((b, i) => ssh.exec(at(b, `bad${i}`), 'true')), ssh.exec(good(), 'echo ok')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'fulfilled']);
    for (const r of results.slice(0, 3)) expect((r as PromiseRejectedResult).reason.code).toBe('SSH_CONNECT');
    await stillWorks();
  });
});

describe('a port that drops SYNs (accept queue full)', () => {
  it('gives up after the connect timeout with SSH_CONNECT', async () => {
    const hole = await blackholedPort();
    cleanups.push(() => hole.stop());
    const err = await rejection(ssh.exec(at(hole, 'blackhole'), 'true'));
    expect(err).toMatchObject({ code: 'SSH_CONNECT', message: expect.stringContaining('no answer within 1500 ms') });
    await stillWorks();
  });
});

describe('a host that goes away mid-step', () => {
  it('sshd stopped during a step: that step is SSH_CONNECT, later ones too, other hosts unaffected', async () => {
    const doomed = await startFleet({ hosts: 1 });
    cleanups.push(() => doomed.stop());
    const spec = good(doomed);
    expect((await ssh.exec(spec, 'echo up')).stdout).toBe('up\n');
    const step = rejection(ssh.exec(spec, 'sleep 5301', { timeoutMs: 60_000 })); // handled from the start
    await untilRunning({ sshPort: doomed.port }, 'sleep 5301');
    await doomed.stop();
    expect(await step).toMatchObject({ code: 'SSH_CONNECT', message: expect.stringContaining('lost the connection') });
    expect(await rejection(ssh.exec(spec, 'true'))).toMatchObject({ code: 'SSH_CONNECT' });
    await stillWorks();
  });

  it('the connection goes silent after the handshake: keepalive gives up, SSH_CONNECT', async () => {
    const proxy = await cuttableProxy(fleet.hosts[0]!);
    cleanups.push(() => proxy.stop());
    const ka = new SshExecutor({ keepaliveMs: 300 });
    cleanups.push(() => ka.close());
    const spec = good(fleet, { address: proxy.address, port: proxy.port });
    expect((await ka.exec(spec, 'echo up')).stdout).toBe('up\n');
    const step = rejection(ka.exec(spec, 'sleep 5302', { timeoutMs: 60_000 }));
    await untilRunning({ sshPort: fleet.port }, 'sleep 5302');
    proxy.freeze();
    const err = await step;
    expect(err).toMatchObject({ code: 'SSH_CONNECT', message: expect.stringContaining('Keepalive timeout') });
    await stillWorks();
  });
});

describe('a host that allows one channel per connection (MaxSessions 1)', () => {
  it('a second session is EXEC_FAILED naming MaxSessions; a step there can still be cancelled', async () => {
    const tight = await startFleet({ hosts: 1, maxSessions: 1 });
    cleanups.push(() => tight.stop());
    const two = new SshExecutor({ maxSessionsPerHost: 2 });
    cleanups.push(() => two.close());
    const spec = good(tight);
    const results = await Promise.allSettled([two.exec(spec, 'sleep 0.3; echo a'), two.exec(spec, 'echo b')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!.reason;
    expect(refused).toMatchObject({ code: 'EXEC_FAILED', message: expect.stringContaining('cannot open a session') });
    expect(refused.fix).toContain('MaxSessions');
    // cancelling needs no second channel: the kill goes in-band on the step's own session
    const ac = new AbortController();
    const step = ssh.exec(spec, 'sleep 5303', { signal: ac.signal, timeoutMs: 60_000 });
    await untilRunning({ sshPort: tight.port }, 'sleep 5303');
    ac.abort();
    expect(await step).toMatchObject({ aborted: true });
    await untilGone({ sshPort: tight.port }, 'sleep 5303');
    await stillWorks();
  });
});
