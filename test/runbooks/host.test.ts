/**
 * The user's story: "is it the box?" — `triage run host shop` looks at the
 * machine the app runs on, over real SSH: a disk that is full (a real 1 MB
 * tmpfs, filled), memory and CPU against the real /proc values, names that
 * do not resolve. Each cause has a healthy twin that differs only in the one
 * thing that is broken.
 *
 * The machine is shared with other test files, so each run sets the limits
 * it is not testing out of reach (NEUTRAL below), and memory-pressure and
 * cpu-saturated are produced by lowering their limit below the real value
 * (the twin raises it above): what is tested is that the real numbers are
 * read, compared and reported, not that this machine is loaded.
 */
import * as fsp from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from '../support/cli.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { makeTempDir, removeTempDir } from '../support/processes.ts';
import { runCliWithoutDns, type Tmpfs, tmpfs, writeConfig } from './setups.ts';

let fleet: Fleet;
let dir: string;
let empty: Tmpfs;
beforeAll(async () => {
  fleet = await startFleet({ hosts: 1 });
  dir = await makeTempDir('triage-host-');
  empty = await tmpfs({ fill: false });
});
afterAll(async () => {
  await empty?.cleanup();
  await removeTempDir(dir);
  await fleet?.stop();
});

const durations: Record<string, number> = {};

/** Limits that no real value reaches, so a run shows only the cause under test. */
const neutral = () => ({ mount: empty.dir, mem_available_pct: '0', swap_used_pct: '101', load_pct: '100000' });

async function config(target: object = {}, hosts: Record<string, object> = fleetConfigHosts(fleet)): Promise<string> {
  const d = await fsp.mkdtemp(`${dir}/cfg-`);
  return writeConfig(d, { hosts, targets: { shop: { hosts: Object.keys(hosts), ...target } } });
}

function paramArgs(params: Record<string, string>): string[] {
  return Object.entries(params).flatMap(([k, v]) => ['--param', `${k}=${v}`]);
}

async function host(params: Record<string, string>, target: object = {}): Promise<CliRun> {
  const run = await runCli(['run', 'host', 'shop', '--config', await config(target), '--json', ...paramArgs({ ...neutral(), ...params })]);
  expect(run.json, run.stdout + run.stderr).toBeDefined();
  return run;
}

function expectCause(run: CliRun, code: string, name: string) {
  const r = run.json;
  expect(r.status, JSON.stringify(r.findings, null, 2)).toBe('unhealthy');
  expect(r.cause).toBe(code);
  expect(run.code).toBe(1);
  const top = r.findings[0];
  expect(top.code).toBe(code);
  expect(top.host).toBe('web1');
  expect(top.evidence.length).toBeGreaterThan(0);
  expect(top.fix).not.toBe('');
  durations[name] = r.durationMs;
  return top;
}

function expectHealthy(run: CliRun, name: string) {
  expect(run.json.status, JSON.stringify(run.json.findings, null, 2)).toBe('healthy');
  expect(run.json.cause).toBeNull();
  expect(run.code).toBe(0);
  durations[name] = run.json.durationMs;
}

describe('triage run host tells each resource problem apart', () => {
  it('disk-full: a filled 1 MB tmpfs is named, with its numbers and a du command for that mount', async () => {
    const full = await tmpfs({ fill: true });
    try {
      const top = expectCause(await host({ mount: full.dir }), 'disk-full', 'disk-full');
      expect(top.title).toContain(full.dir);
      expect(top.evidence[0]).toBe(`full: ${full.dir} space 100% (0 KB free of 1024 KB) (limit 90% space, 90% inodes)`);
      expect(top.fix).toContain(`sudo du -xh --max-depth=2 ${full.dir}`);
    } finally {
      await full.cleanup();
    }
  });

  it('healthy twin: the same tmpfs, empty', async () => {
    expectHealthy(await host({}), 'disk-full twin');
  });

  it('memory-pressure: MemAvailable below the limit (the test sets the limit above the real value)', async () => {
    const top = expectCause(await host({ mem_available_pct: '101' }), 'memory-pressure', 'memory-pressure');
    expect(top.evidence[0]).toMatch(/^MemAvailable \d+ KB of \d+ KB \(\d+%; limit 101%\)$/);
    expect(top.evidence.join('\n')).toMatch(/largest processes: pid=\d+ rss_kb=\d+/);
    expect(top.fix).toContain('ps -eo pid,rss,args --sort=-rss');
  });

  it('healthy twin: the limit below any real value', async () => {
    const run = await host({ mem_available_pct: '0' });
    expectHealthy(run, 'memory-pressure twin');
    expect(run.json.hosts[0].steps.find((s: { id: string }) => s.id === 'memory').summary).toMatch(/^\d+% of memory available, swap \d+% used$/);
  });

  it('cpu-saturated: the load against the cores at or over the limit (the test sets the limit to 0%)', async () => {
    const top = expectCause(await host({ load_pct: '0' }), 'cpu-saturated', 'cpu-saturated');
    expect(top.title).toMatch(/^web1 is CPU-saturated: load [\d.]+ \/ [\d.]+ on \d+ cores$/);
    expect(top.evidence[0]).toMatch(/on \d+ cores: \d+% and \d+% of the cores \(limit 0%\)$/);
    expect(top.fix).toContain('top -b -n 1');
  });

  it('healthy twin: a limit no load reaches', async () => {
    expectHealthy(await host({ load_pct: '100000' }), 'cpu-saturated twin');
  });

  it('the default limits, the clock and what resolved show in the steps', async () => {
    const run = await host({}, { upstreams: ['https://localhost:8443/pay'] });
    const steps = Object.fromEntries(run.json.hosts[0].steps.map((s: { id: string }) => [s.id, s]));
    expect(steps.dns.status).toBe('pass');
    expect(steps.dns.summary).toBe('1 names checked, 0 do not resolve');
    expect(steps.clock.summary).toMatch(/^clock \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ: synchronised (yes|no|unknown) \(\w+\)$/);
  });
});

describe('dns-failure, on a host whose resolver answers nothing (a private resolv.conf, address: local)', () => {
  async function hostNoDns(target: object, params: Record<string, string>): Promise<CliRun> {
    const cfg = await config(target, { web1: { address: 'local' } });
    const run = await runCliWithoutDns(['run', 'host', 'shop', '--config', cfg, '--json', ...paramArgs({ ...neutral(), ...params })]);
    expect(run.json, run.stdout + run.stderr).toBeDefined();
    return run;
  }

  it('a third party and an extra name under .invalid do not resolve; localhost still does', async () => {
    const run = await hostNoDns({ upstreams: ['https://api.payments.invalid/v1'] }, { name: 'db.shop.invalid' });
    const top = expectCause(run, 'dns-failure', 'dns-failure');
    expect(top.title).toBe('names do not resolve on web1: api.payments.invalid, db.shop.invalid');
    expect(top.evidence).toEqual(['api.payments.invalid (getent: not found); db.shop.invalid (getent: not found)', 'resolver: nameserver 127.0.0.1 (/etc/resolv.conf)']);
    expect(top.fix).toContain('getent hosts api.payments.invalid');
  });

  it('healthy twin: the same host with names from /etc/hosts', async () => {
    const run = await hostNoDns({ upstreams: ['https://localhost/v1'] }, { name: 'localhost' });
    expectHealthy(run, 'dns-failure twin');
  });
});

afterAll(() => {
  console.log(`host runbook diagnosis times (ms): ${JSON.stringify(durations)}`);
});
