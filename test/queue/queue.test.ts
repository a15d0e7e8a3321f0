/**
 * Runs through the real queue on the real Redis: fan-out over several SSH
 * hosts, live progress that can be resumed, duplicate submits, cancel,
 * zones, and runs that can never finish ending `failed` instead of hanging.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { type QueueWorld, queueWorld } from '../support/queue-env.ts';

let fleet: Fleet;
let world: QueueWorld | undefined;
beforeAll(async () => {
  fleet = await startFleet({ hosts: 3 });
});
afterAll(async () => {
  await fleet?.stop();
});
afterEach(async () => {
  await world?.close();
  world = undefined;
});

const quick = {
  name: 'quick',
  description: 'who am I',
  steps: [
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, not a JS one
    { id: 'whoami', title: 'address', run: 'set -- $SSH_CONNECTION; echo "addr=$3"; echo ${{ host.name }}' },
    { id: 'up', title: 'uptime', run: 'cat /proc/uptime' },
  ],
};

describe('fan-out', () => {
  it('runs one run on three SSH hosts in parallel and reports each host', async () => {
    world = await queueWorld({ config: { hosts: fleetConfigHosts(fleet), targets: { web: { hosts: ['web1', 'web2', 'web3'] } } }, runbooks: { quick } });
    await world.worker();
    const { runId } = await world.submit('quick', 'web');
    const final = await world.queue.wait(runId, { timeoutMs: 30_000 });
    expect(final.state).toBe('done');
    expect(final.result.hosts.map((h) => h.host)).toEqual(['web1', 'web2', 'web3']);
    final.result.hosts.forEach((h, i) => {
      expect(h.reachable).toBe(true);
      expect(h.steps[0]!.output).toContain(`addr=${fleet.hosts[i]!.address}`);
    });
  });
});

describe('live progress', () => {
  it('a follower that reconnects catches up without seeing anything twice', async () => {
    world = await queueWorld({ config: { hosts: { a: { address: 'local' } }, targets: { t: { hosts: ['a'] } } }, runbooks: { quick } });
    await world.worker();
    const { runId } = await world.submit('quick', 't');
    // First follower leaves after the first step event.
    let resumeFrom = '0';
    const firstSeen: string[] = [];
    for await (const e of world.queue.follow(runId)) {
      firstSeen.push(e.id);
      resumeFrom = e.id;
      if (e.type === 'step') break;
    }
    const rest: string[] = [];
    const types: string[] = [];
    for await (const e of world.queue.follow(runId, { afterId: resumeFrom })) {
      rest.push(e.id);
      types.push(e.type);
    }
    expect(rest.some((id) => firstSeen.includes(id))).toBe(false);
    expect(types.at(-1)).toBe('final');
    const all = await world.queue.store.events(runId);
    expect([...firstSeen, ...rest]).toEqual(all.map((e) => e.id));
  });
});

describe('duplicate submits', () => {
  it('the same idempotency key starts one run, not two', async () => {
    world = await queueWorld({ config: { hosts: { a: { address: 'local' } }, targets: { t: { hosts: ['a'] } } }, runbooks: { quick } });
    const first = await world.submit('quick', 't', { idempotencyKey: 'tg:update:42' });
    const again = await world.submit('quick', 't', { idempotencyKey: 'tg:update:42' });
    expect(again).toEqual({ runId: first.runId, duplicate: true });
    expect((await world.queue.recent(10)).map((r) => r.runId)).toEqual([first.runId]);
  });
});

describe('cancel', () => {
  it('stops a run mid-step, kills the remote command and ends cancelled', async () => {
    const marker = `triage-cancel-${Date.now()}`;
    world = await queueWorld({
      config: { hosts: fleetConfigHosts(fleet), targets: { web: { hosts: ['web1'] } } },
      runbooks: {
        hang: {
          name: 'hang',
          description: 'waits',
          steps: [
            { id: 'first', title: 'first', run: 'true' },
            { id: 'wait', title: 'wait', run: `sleep 300 # ${marker}`, timeout: '5m' },
            { id: 'after', title: 'after', run: 'true' },
          ],
        },
      },
    });
    await world.worker();
    const { runId } = await world.submit('hang', 'web');
    for await (const e of world.queue.follow(runId)) if (e.type === 'step') break; // 'first' done, 'wait' running
    await new Promise((r) => setTimeout(r, 300));
    expect(await world.queue.cancel(runId, 'test:alice')).toBe(true);
    const final = await world.queue.wait(runId, { timeoutMs: 15_000 });
    expect(final.state).toBe('cancelled');
    expect(final.result.summary).toContain('cancelled by test:alice');
    const steps = final.result.hosts[0]!.steps;
    expect(steps.map((s) => s.status)).toEqual(['pass', 'skipped', 'skipped']);
    const { execFileSync } = await import('node:child_process');
    const left = execFileSync('sh', ['-c', `ps -eo args | grep -c '[s]leep 300 # ${marker}' || true`]).toString().trim();
    expect(left).toBe('0');
    // A second cancel says it had already ended.
    expect(await world.queue.cancel(runId, 'test:alice')).toBe(false);
  });
});

describe('approval of host-changing steps', () => {
  it('a worker stopping while a step waits for approval hands it back; the next worker asks again and continues', async () => {
    world = await queueWorld({
      config: { hosts: { a: { address: 'local' } }, targets: { t: { hosts: ['a'] } } },
      runbooks: {
        fix: {
          name: 'fix',
          description: 'check, then restart',
          steps: [
            { id: 'check', title: 'check', run: 'echo checked' },
            { id: 'restart', title: 'restart the app', run: 'echo restarted', changes: true },
          ],
        },
      },
    });
    const first = await world.worker();
    const { runId } = await world.submit('fix', 't');
    for await (const e of world.queue.follow(runId)) if (e.type === 'approval') break;
    await first.close(1000); // returns although the approval is still pending
    world.workers.splice(world.workers.indexOf(first), 1);
    await world.worker();
    let approvals = 0;
    const final = await world.queue.wait(runId, {
      timeoutMs: 20_000,
      onEvent: async (e) => {
        if (e.type === 'approval' && ++approvals === 2) await world!.queue.approve(runId, 'a', 'restart', 'slack:U999');
      },
    });
    expect(final.state).toBe('done');
    expect(final.result.hosts[0]!.steps.map((s) => `${s.id}:${s.status}`)).toEqual(['check:pass', 'restart:pass']);
    // 'check' ran once: the second worker resumed after it
    const stepEvents = (await world.queue.store.events(runId)).filter((e) => e.type === 'step');
    expect(stepEvents).toHaveLength(2);
  });
});

describe('a sick host is not hammered', () => {
  it('two workers never run more jobs on one host than its limit allows', async () => {
    world = await queueWorld({
      config: { hosts: { db1: { address: 'local' } }, targets: { t: { hosts: ['db1'] } } },
      runbooks: (dir) => ({
        probe: {
          name: 'probe',
          description: 'logs when it is on the host',
          steps: [{ id: 'on', title: 'on host', run: `echo "in $(date +%s%N)" >> ${dir}/host.log; sleep 0.3; echo "out $(date +%s%N)" >> ${dir}/host.log` }],
        },
      }),
    });
    await world.worker({ perHostLimit: 1 });
    await world.worker({ perHostLimit: 1 });
    const runs = await Promise.all([1, 2, 3, 4].map(() => world!.submit('probe', 't')));
    await Promise.all(runs.map((r) => world!.queue.wait(r.runId, { timeoutMs: 20_000 })));
    const { readFileSync } = await import('node:fs');
    const events = readFileSync(`${world.dir}/host.log`, 'utf8').trim().split('\n').map((l) => l.split(' ') as ['in' | 'out', string]);
    events.sort((a, b) => (BigInt(a[1]) < BigInt(b[1]) ? -1 : 1));
    let inside = 0;
    let most = 0;
    for (const [kind] of events) {
      inside += kind === 'in' ? 1 : -1;
      most = Math.max(most, inside);
    }
    expect(events).toHaveLength(8);
    expect(most).toBe(1);
  });
});

describe('zones', () => {
  it('a worker only takes work for its zones', async () => {
    world = await queueWorld({
      config: { hosts: { dmz1: { address: 'local', zone: 'dmz' } }, targets: { edge: { hosts: ['dmz1'] } } },
      runbooks: { quick },
    });
    await world.worker({ zones: ['default'] });
    const { runId } = await world.submit('quick', 'edge');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await world.queue.status(runId)).state).toBe('queued');
    await world.worker({ zones: ['dmz'] });
    const final = await world.queue.wait(runId, { timeoutMs: 15_000 });
    expect(final.state).toBe('done');
  });
});

describe('runs that cannot finish', () => {
  it('end failed with a reason instead of staying running', async () => {
    world = await queueWorld({ config: { hosts: { a: { address: 'local' } }, targets: { t: { hosts: ['a'] } } }, runbooks: { quick } });
    const { runId } = await world.submit('quick', 't');
    // This worker's config no longer has the target: the work can never be done.
    const { parseConfig } = await import('../../src/config.ts');
    const other = parseConfig('hosts: { a: { address: local } }\ntargets: { other: { hosts: [a] } }\n', world.configPath);
    await world.worker({ config: other });
    const final = await world.queue.wait(runId, { timeoutMs: 20_000 });
    expect(final.state).toBe('failed');
    expect(final.result.status).toBe('error');
    expect((await world.queue.status(runId)).reason).toMatch(/target|shop|t\b/);
  });
});

describe('Redis', () => {
  it('unavailable at submit: exit 3 with a clear message, no hang', async () => {
    world = await queueWorld({ config: { redis: 'redis://127.0.0.1:1', hosts: { a: { address: 'local' } }, targets: { t: { hosts: ['a'] } } }, runbooks: { quick } });
    const r = await runCli(['run', 'quick', 't', '--config', world.configPath, '--runbooks', world.runbookDir]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/Redis does not answer at redis:\/\/127\.0\.0\.1:1/);
    expect(r.stderr).toMatch(/REDIS_URL|redis-server/);
  });
});
