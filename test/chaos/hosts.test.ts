/**
 * Chaos at the run level, hosts side. One run over a good host and three bad
 * ones — a port that accepts and never speaks, a port whose SYNs go
 * unanswered, and a host whose sshd is killed (by PID) mid-step — ends with a
 * host-unreachable finding for each bad host while the good one finishes.
 * Then 30 runs at once over 12 targets with 2 workers: every run gets exactly
 * one final result, none lost or doubled, and nothing is left on the hosts.
 *
 * Each case prints "tried / held" figures for RELIABILITY.md.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { RunEvent } from '../../src/queue/jobs.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { type CensusScope, census, settledCensus, summary } from '../support/host-census.ts';
import { descendantsOf, makeTempDir, removeTempDir } from '../support/processes.ts';
import { type QueueWorld, queueWorld } from '../support/queue-env.ts';
import { blackholedPort, type FaultyHost, faultyServer } from '../support/tcp-faults.ts';
import { pollUntil } from '../support/wait.ts';

let fleet: Fleet;
let fleetTmp: string;
let world: QueueWorld | undefined;

beforeAll(async () => {
  fleetTmp = await makeTempDir('triage-chaos-tmp-');
  fleet = await startFleet({ hosts: 12, sessionEnv: { TMPDIR: fleetTmp } });
});
afterAll(async () => {
  await fleet?.stop();
  if (fleetTmp) await removeTempDir(fleetTmp);
});
afterEach(async () => {
  await world?.close();
  world = undefined;
});

it('one run over a good host, a silent one, a blackholed one and one that drops mid-step: each bad host is host-unreachable, the good one finishes', async () => {
  const dropping = await startFleet({ hosts: 1 });
  const bad: FaultyHost[] = [];
  try {
    const silent = await faultyServer('silent');
    bad.push(silent);
    const hole = await blackholedPort();
    bad.push(hole);
    const key = { user: fleet.hosts[0]!.user, privateKey: fleet.keyFile, hostKey: fleet.hostKeyFingerprint };
    const d = dropping.hosts[0]!;
    world = await queueWorld({
      config: {
        hosts: {
          good: fleetConfigHosts(fleet).web1,
          silent: { address: silent.address, port: silent.port, ...key },
          blackholed: { address: hole.address, port: hole.port, ...key },
          dropping: { address: d.address, port: d.port, user: d.user, privateKey: dropping.keyFile, hostKey: dropping.hostKeyFingerprint },
        },
        targets: { mixed: { hosts: ['good', 'silent', 'blackholed', 'dropping'] } },
      },
      runbooks: {
        slowish: {
          name: 'slowish',
          description: 'a quick check, a long one, a quick one',
          steps: [
            { id: 'hello', title: 'hello', run: 'echo hello' },
            { id: 'long', title: 'long', run: 'sleep 3.3031; echo done', timeout: '20s' },
            { id: 'bye', title: 'bye', run: 'echo bye' },
          ],
        },
      },
    });
    await world.worker();
    const { runId } = await world.submit('slowish', 'mixed');

    // Kill the dropping host's sshd (listener and session processes, by PID) while its long step runs.
    const scope: CensusScope = { sshPort: d.port };
    await pollUntil(() => census(scope).processes.some((p) => p.args.includes('sleep 3.3031')) || undefined, {
      timeoutMs: 20_000,
      what: () => 'the long step never started on the dropping host',
    });
    for (const pid of dropping.pids) for (const p of [pid, ...descendantsOf(pid)]) killIfThere(p);

    const final = await world.queue.wait(runId, { timeoutMs: 60_000 });
    const byHost = Object.fromEntries(final.result.hosts.map((h) => [h.host, h]));
    const unreachable = final.result.findings.filter((f) => f.code === 'host-unreachable').map((f) => f.host);
    const held = ['silent', 'blackholed', 'dropping'].filter((h) => unreachable.includes(h) && byHost[h]?.reachable === false);
    console.log(`bad hosts in one run: 3 tried, ${held.length} held (host-unreachable: ${unreachable.join(', ')}; good host ${byHost.good?.steps.map((s) => s.status).join('/')})`);

    expect(final.state).toBe('done');
    expect(byHost.good?.steps.map((s) => s.status)).toEqual(['pass', 'pass', 'pass']);
    expect(held).toEqual(['silent', 'blackholed', 'dropping']);
    // Nothing of the cut step survives on the dropping host.
    const after = await settledCensus(scope, { processes: [], tempFiles: [], machineTempFiles: [] });
    expect(after.processes.map((p) => p.args)).toEqual([]);
  } finally {
    for (const b of bad) await b.stop();
    await dropping.stop();
  }
}, 90_000);

it('30 concurrent runs over 12 targets with 2 workers: each ends with exactly one final result and leaves nothing on the hosts', async () => {
  const hosts = fleetConfigHosts(fleet);
  const names = Object.keys(hosts);
  const targets: Record<string, { hosts: string[] }> = {};
  // 12 targets: single hosts and overlapping pairs, so runs share hosts.
  names.forEach((n, i) => {
    targets[`t${i + 1}`] = { hosts: i % 3 === 2 ? [n, names[(i + 1) % names.length]!] : [n] };
  });
  world = await queueWorld({
    config: { hosts, targets },
    runbooks: {
      quick: {
        name: 'quick',
        description: 'two short checks',
        steps: [
          { id: 'up', title: 'uptime', run: 'cat /proc/uptime' },
          { id: 'nap', title: 'nap', run: 'sleep 0.2; echo ok' },
        ],
      },
    },
  });
  const scope: CensusScope = { sshPort: fleet.port, privateTmp: fleetTmp };
  const before = census(scope);
  // Nobody dies here: a roomy lock keeps a loaded machine's late renewals from looking like crashes.
  await world.worker({ concurrency: 8, lockDurationMs: 15_000, stalledIntervalMs: 5000 });
  await world.worker({ concurrency: 8, lockDurationMs: 15_000, stalledIntervalMs: 5000 });

  const runs = await Promise.all(Array.from({ length: 30 }, (_, i) => world!.submit('quick', `t${(i % 12) + 1}`)));
  const finals = await Promise.all(runs.map((r) => world!.queue.wait(r.runId, { timeoutMs: 60_000 })));
  // Let the workers go: their SSH sessions end with them.
  await Promise.all(world.workers.splice(0).map((w) => w.close(5000)));

  let doubled = 0;
  let lost = 0;
  for (const r of runs) {
    const events: RunEvent[] = await world.queue.store.events(r.runId, '0');
    const n = events.filter((e) => e.type === 'final').length;
    if (n === 0) lost++;
    if (n > 1) doubled++;
    const steps = events.filter((e) => e.type === 'step').map((e) => (e.type === 'step' ? `${e.host}/${e.step.id}` : ''));
    if (new Set(steps).size !== steps.length) doubled++;
  }
  const after = await settledCensus(scope, before);
  const healthy = finals.filter((f) => f.state === 'done' && f.result.status === 'healthy').length;
  for (const f of finals.filter((x) => x.result.status !== 'healthy')) console.log(`not healthy: ${f.state} ${f.result.summary} ${JSON.stringify(f.result.hosts.map((h) => h.steps.map((s) => [s.status, s.reason, s.errorCode])))}`);
  console.log(`30 concurrent runs, 12 targets, 2 workers: 30 tried, ${healthy} held (${lost} lost, ${doubled} doubled); hosts before: ${summary(before)}; after: ${summary(after)}`);

  expect(new Set(runs.map((r) => r.runId)).size).toBe(30);
  expect(lost).toBe(0);
  expect(doubled).toBe(0);
  expect(healthy).toBe(30);
  expect(after.processes.map((p) => p.args)).toEqual(before.processes.map((p) => p.args));
  expect(after.tempFiles).toEqual(before.tempFiles);
}, 90_000);

function killIfThere(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
