/**
 * Old log lines never drive a cause while the app is up: the `502` runbook
 * reads only what the running process logged since it started (the logs
 * probe's APP_PIDS), over real SSH against the real setups. Yesterday's
 * ModuleNotFoundError in the log of an app that runs again is history, not
 * the diagnosis; the same line written today is.
 */
import * as fsp from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from '../support/cli.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { spawnTracked } from '../support/processes.ts';
import { type Scenario502, type Setup502, setup502 } from '../support/scenarios.ts';

let fleet: Fleet;
beforeAll(async () => {
  fleet = await startFleet({ hosts: 1 });
});
afterAll(async () => {
  await fleet?.stop();
});

const yesterday = () => new Date(Date.now() - 26 * 3600_000).toISOString();
const crash = (at: string) => `[${at}] shop-api: starting\nTraceback (most recent call last):\n  File "api_server.py", line 9, in <module>\nModuleNotFoundError: No module named 'fastapi'\n`;

async function run502(s: Setup502): Promise<CliRun> {
  const run = await runCli(['run', '502', 'shop', '--config', s.configPath, '--json']);
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

/** The app's process runs (matched by its marker) but has not opened its port yet; its log is `logText`. */
async function upNotListening<T>(logText: () => string, fn: (run: CliRun, s: Setup502) => T): Promise<T> {
  return withSetup('service-down', async (s) => {
    const proc = await spawnTracked(process.execPath, ['-e', 'setTimeout(() => {}, 600000)', '--', `--triage-app=${s.app.marker}`]);
    try {
      // /proc dates the start to the second: the log written next is surely after it.
      await new Promise((r) => setTimeout(r, 1100));
      await fsp.writeFile(s.app.logFile, logText());
      return fn(await run502(s), s);
    } finally {
      await proc.stop();
    }
  });
}

describe("triage run 502 and yesterday's crash", () => {
  it('a healthy app whose log starts with yesterday’s crash is healthy', async () => {
    await withSetup('healthy', async (s) => {
      await fsp.writeFile(s.app.logFile, crash(yesterday()) + (await fsp.readFile(s.app.logFile, 'utf8')));
      const run = await run502(s);
      expect(run.json.status, JSON.stringify(run.json.findings, null, 2)).toBe('healthy');
      const logs = run.json.hosts[0].steps.find((x: { id: string }) => x.id === 'logs');
      expect(logs.status).toBe('pass');
      expect(logs.summary).toMatch(/^0 error lines in tail -n 300 .*since the running process started at .*; 4 older lines left out$/);
    });
  });

  it('an app up but not listening, with yesterday’s ModuleNotFoundError: service-down, not dependency-missing', async () => {
    await upNotListening(
      () => crash(yesterday()),
      (run) => {
        expect(run.json.cause, JSON.stringify(run.json.findings, null, 2)).toBe('service-down');
        expect(run.json.findings.map((f: { code: string }) => f.code)).not.toContain('dependency-missing');
      },
    );
  });

  it('twin: the same line logged since the process started is dependency-missing', async () => {
    await upNotListening(
      () => crash(new Date().toISOString()),
      (run) => {
        expect(run.json.cause, JSON.stringify(run.json.findings, null, 2)).toBe('dependency-missing');
        expect(run.json.summary).toContain('fastapi');
      },
    );
  });
});
