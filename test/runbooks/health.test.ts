/**
 * The user's story: the morning digest runs `health` on every target and
 * posts one word per target — `healthy`, or the first thing that fails.
 * Here over real SSH against the real broken 502 setups (a real app behind a
 * real nginx, broken one way), plus a full disk, and the red herrings: an
 * app that is up again whose log still holds yesterday's crash.
 */
import * as fsp from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from '../support/cli.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { spawnTracked } from '../support/processes.ts';
import { type Scenario502, type Setup502, setup502 } from '../support/scenarios.ts';
import { type Tmpfs, tmpfs } from './setups.ts';

let fleet: Fleet;
let empty: Tmpfs;
beforeAll(async () => {
  fleet = await startFleet({ hosts: 1 });
  // The disk check looks at this (empty) mount only, so another test's full disk cannot leak in.
  empty = await tmpfs({ fill: false });
});
afterAll(async () => {
  await empty?.cleanup();
  await fleet?.stop();
});

const durations: Record<string, number> = {};

async function health(s: Setup502, params: Record<string, string> = {}): Promise<CliRun> {
  const args = Object.entries({ mount: empty.dir, ...params }).flatMap(([k, v]) => ['--param', `${k}=${v}`]);
  const run = await runCli(['run', 'health', 'shop', '--config', s.configPath, '--json', ...args]);
  expect(run.json, run.stdout + run.stderr).toBeDefined();
  return run;
}

async function withSetup<T>(kind: Scenario502, fn: (s: Setup502) => Promise<T>): Promise<T> {
  const s = await setup502(kind, { hosts: fleetConfigHosts(fleet) });
  try {
    return await fn(s);
  } finally {
    await s.cleanup();
  }
}

function step(run: CliRun, id: string) {
  return run.json.hosts[0].steps.find((x: { id: string }) => x.id === id);
}

describe('triage run health: healthy, or the first failing cause', () => {
  it('a healthy app is healthy, exit 0, every step passes', async () => {
    await withSetup('healthy', async (s) => {
      const run = await health(s);
      expect(run.json.status, JSON.stringify(run.json.findings, null, 2)).toBe('healthy');
      expect(run.json.cause).toBeNull();
      expect(run.code).toBe(0);
      expect(run.json.summary).toMatch(new RegExp(`^shop is healthy: active, :${s.config.targets.shop.port} listens, health 200, disk 0% used$`));
      expect(run.json.hosts[0].steps.map((x: { status: string }) => x.status)).toEqual(['pass', 'pass', 'pass', 'pass', 'pass']);
      durations.healthy = run.json.durationMs;
    });
  });

  const cases: [Scenario502, string, (top: { title: string; evidence: string[]; fix: string }, s: Setup502) => void][] = [
    [
      'service-down',
      'service-down',
      (top, s) => {
        expect(top.evidence).toContain(`nothing listens on :${s.config.targets.shop.port}`);
        expect(top.evidence).toContain('service state: inactive');
      },
    ],
    ['port-mismatch', 'port-mismatch', (top, s) => expect(top.evidence).toContain(`${s.app.marker} listens on :${s.config.targets.shop.port + 1}`)],
    ['port-conflict', 'port-conflict', (top) => expect(top.evidence.join('\n')).toMatch(/log: .*EADDRINUSE/)],
    ['dependency-missing', 'dependency-missing', (top) => expect(top.title).toContain('a Python module is not installed (fastapi)')],
    ['code-error', 'code-error', (top) => expect(top.evidence[0]).toMatch(/^log: SyntaxError/)],
    ['missing-env', 'missing-env', (top) => expect(top.evidence[0]).toBe('log: Error: environment variable JWT_SECRET is not set')],
    ['db-unreachable', 'db-unreachable', (top) => expect(top.evidence[0]).toMatch(/could not connect to the database/)],
    ['upstream-error', 'upstream-error', (top, s) => expect(top.evidence[0]).toContain(`health: http://127.0.0.1:${s.config.targets.shop.port}/health → curl: (52)`)],
  ];
  for (const [kind, cause, check] of cases) {
    it(`${kind}: ${cause}, with evidence and a fix, exit 1`, async () => {
      await withSetup(kind, async (s) => {
        const run = await health(s);
        expect(run.json.status).toBe('unhealthy');
        expect(run.json.cause, JSON.stringify(run.json.findings, null, 2)).toBe(cause);
        expect(run.code).toBe(1);
        const top = run.json.findings[0];
        expect(top.code).toBe(cause);
        expect(top.host).toBe('web1');
        expect(top.evidence.length).toBeGreaterThan(0);
        expect(top.fix).not.toBe('');
        check(top, s);
        durations[cause] = run.json.durationMs;
      });
    });
  }

  it('disk-full: a healthy app on a host with a full filesystem', async () => {
    const full = await tmpfs({ fill: true });
    try {
      await withSetup('healthy', async (s) => {
        const run = await health(s, { mount: full.dir });
        expect(run.json.cause).toBe('disk-full');
        const top = run.json.findings[0];
        expect(top.title).toBe(`a filesystem on web1 is full: ${full.dir} space 100% (0 KB free of 1024 KB)`);
        expect(top.fix).toContain(`sudo du -xh --max-depth=2 ${full.dir}`);
        durations['disk-full'] = run.json.durationMs;
      });
    } finally {
      await full.cleanup();
    }
  });
});

describe("red herrings: yesterday's crash in the log of an app that runs now", () => {
  const yesterday = () => new Date(Date.now() - 26 * 3600_000).toISOString();
  const crash = (at: string) => `[${at}] shop-api: starting\nTraceback (most recent call last):\n  File "api_server.py", line 9, in <module>\nModuleNotFoundError: No module named 'fastapi'\n`;

  it('a healthy app whose log starts with yesterday’s ModuleNotFoundError is healthy; the old lines are left out', async () => {
    await withSetup('healthy', async (s) => {
      const today = await fsp.readFile(s.app.logFile, 'utf8');
      await fsp.writeFile(s.app.logFile, crash(yesterday()) + today);
      const run = await health(s);
      expect(run.json.status, JSON.stringify(run.json.findings, null, 2)).toBe('healthy');
      expect(run.json.cause).toBeNull();
      const logs = step(run, 'logs');
      expect(logs.status).toBe('pass');
      expect(logs.captures.cause).toBeNull();
      expect(logs.summary).toMatch(/since the running process started at .*; 4 older lines left out\)$/);
    });
  });

  describe('a process that is up but not listening yet (still starting)', () => {
    async function upNotListening<T>(logText: (startedAt: Date) => string, fn: (run: CliRun, s: Setup502) => T): Promise<T> {
      return withSetup('service-down', async (s) => {
        const proc = await spawnTracked(process.execPath, ['-e', 'setTimeout(() => {}, 600000)', '--', `--triage-app=${s.app.marker}`]);
        try {
          await new Promise((r) => setTimeout(r, 1100));
          await fsp.writeFile(s.app.logFile, logText(new Date()));
          return fn(await health(s), s);
        } finally {
          await proc.stop();
        }
      });
    }

    it('yesterday’s crash does not make it dependency-missing: it is service-down', async () => {
      await upNotListening(
        () => crash(yesterday()),
        (run, s) => {
          expect(run.json.cause, JSON.stringify(run.json.hosts[0].steps, null, 2)).toBe('service-down');
          expect(step(run, 'service').captures.state).toBe('active');
          expect(run.json.findings[0].evidence).toContain(`nothing listens on :${s.config.targets.shop.port}`);
          expect(run.json.findings.map((f: { code: string }) => f.code)).not.toContain('dependency-missing');
        },
      );
    });

    it('twin: the same crash written since the process started is dependency-missing', async () => {
      await upNotListening(
        (now) => crash(now.toISOString()),
        (run) => {
          expect(run.json.cause, JSON.stringify(run.json.findings, null, 2)).toBe('dependency-missing');
          expect(run.json.findings[0].evidence[0]).toBe("log: ModuleNotFoundError: No module named 'fastapi'");
        },
      );
    });
  });
});

afterAll(() => {
  console.log(`health runbook diagnosis times (ms): ${JSON.stringify(durations)}`);
});
