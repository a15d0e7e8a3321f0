/**
 * Chaos, Redis side: `triage run` over three SSH hosts while its Redis (a
 * private redis-server with persistence) is killed by PID mid-run. Restarted
 * a second later, the run carries on and prints its one result (exit 0);
 * never restarted, the run stops with "cannot reach Redis" (exit 3) within
 * seconds. Either way nothing is left running on the hosts.
 *
 * Prints "Redis killed mid-run: N tried, M held" for RELIABILITY.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { type CensusScope, census, settledCensus, summary } from '../support/host-census.ts';
import { makeTempDir, removeTempDir } from '../support/processes.ts';
import { startPrivateRedis } from '../support/private-redis.ts';
import { pollUntil } from '../support/wait.ts';

const BIN = join(import.meta.dirname, '../../bin/triage.js');
let fleet: Fleet;
let dir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = await makeTempDir('triage-chaos-redis-');
  mkdirSync(join(dir, 'tmp'));
  fleet = await startFleet({ hosts: 3, sessionEnv: { TMPDIR: join(dir, 'tmp') } });
  mkdirSync(join(dir, 'runbooks'));
  writeFileSync(join(dir, 'triage.yaml'), stringify({ hosts: fleetConfigHosts(fleet), targets: { web: { hosts: ['web1', 'web2', 'web3'] } } }));
  writeFileSync(
    join(dir, 'runbooks', 'steady.yaml'),
    stringify({
      name: 'steady',
      description: 'three checks, the middle one long enough to lose Redis under',
      steps: [
        { id: 'a', title: 'a', run: 'echo a' },
        { id: 'b', title: 'b', run: 'sleep 2.7182; echo b', timeout: '20s' },
        { id: 'c', title: 'c', run: 'echo c' },
      ],
    }),
  );
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await fleet?.stop();
  if (dir) await removeTempDir(dir);
});

const outcomes: string[] = [];

async function runLosingRedis(restartAfterMs: number | null): Promise<{ code: number | null; out: string; afterKillMs: number }> {
  const redis = await startPrivateRedis({ persist: true });
  try {
    const child = spawn(process.execPath, [BIN, 'run', 'steady', 'web', '--json', '--config', join(dir, 'triage.yaml'), '--runbooks', join(dir, 'runbooks')], {
      env: { ...process.env, TRIAGE_CONFIG: '', TRIAGE_PREFIX: 'chaos-redis', REDIS_URL: redis.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    child.stderr!.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const scope: CensusScope = { sshPort: fleet.port };
    await pollUntil(() => census(scope).processes.filter((p) => p.args.includes('sleep 2.7182')).length === 3 || undefined, {
      timeoutMs: 30_000,
      what: () => `the long step never ran on all three hosts:\n${out}`,
    });
    await redis.kill('SIGKILL');
    const killedAt = Date.now();
    if (restartAfterMs !== null) {
      await new Promise((r) => setTimeout(r, restartAfterMs));
      await redis.restart();
    }
    const code = await Promise.race([exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 40_000))]);
    if (code === 'still running') throw new Error(`triage run still running 40 s after Redis was killed:\n${out}`);
    return { code, out, afterKillMs: Date.now() - killedAt };
  } finally {
    await redis.stop();
  }
}

it('Redis killed mid-run and back a second later: the run finishes with its one result', async () => {
  const r = await runLosingRedis(1000);
  const result = JSON.parse(r.out.slice(r.out.indexOf('{')));
  const held = r.code === 0 && result.status === 'healthy' && result.hosts.every((h: { steps: { status: string }[] }) => h.steps.every((s) => s.status === 'pass'));
  outcomes.push(`restarted: ${held ? 'held' : 'not held'} (exit ${r.code} ${(r.afterKillMs / 1000).toFixed(1)} s after the kill)`);
  expect(r.code, r.out).toBe(0);
  expect(held).toBe(true);
}, 60_000);

it('Redis killed mid-run for good: exit 3 "cannot reach Redis" within seconds, nothing left on the hosts', async () => {
  const scope: CensusScope = { sshPort: fleet.port, privateTmp: join(dir, 'tmp') };
  const r = await runLosingRedis(null);
  const after = await settledCensus(scope, { processes: [], tempFiles: [], machineTempFiles: [] });
  const held = r.code === 3 && r.out.includes('cannot reach Redis') && after.processes.length === 0 && after.tempFiles.length === 0;
  outcomes.push(`not restarted: ${held ? 'held' : 'not held'} (exit ${r.code} ${(r.afterKillMs / 1000).toFixed(1)} s after the kill; hosts after: ${summary(after)})`);
  console.log(`Redis killed mid-run: ${outcomes.length} tried, ${outcomes.filter((o) => o.includes(': held')).length} held — ${outcomes.join('; ')}`);
  expect(r.code, r.out).toBe(3);
  expect(r.out).toContain('cannot reach Redis');
  expect(r.afterKillMs).toBeLessThan(20_000);
  expect(after.processes.map((p) => p.args)).toEqual([]);
  expect(after.tempFiles).toEqual([]);
}, 60_000);
