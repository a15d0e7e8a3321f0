/**
 * A run from the CLI counts into incidents like one from chat: the on-call
 * engineer who ran `triage run` at 3 a.m. finds the incident in `/incidents`
 * later. A repeat failure updates it; a healthy run marks it "recovered?".
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { IncidentStore } from '../../src/oncall/incidents.ts';
import { purgePrefix, runCli } from '../support/cli.ts';

let dir: string;
const prefix = `t-${randomUUID().slice(0, 8)}`;
const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 1 });

beforeAll(async () => {
  await redis.connect();
  dir = mkdtempSync(join(tmpdir(), 'triage-cli-incidents-'));
  writeFileSync(join(dir, 'triage.yaml'), stringify({ hosts: { box: { address: 'local' } }, targets: { shop: { hosts: ['box'] } } }));
  mkdirSync(join(dir, 'runbooks'));
  writeFileSync(
    join(dir, 'runbooks', 'flag.yaml'),
    stringify({
      name: 'flag',
      description: 'fails while the flag file exists',
      params: [{ name: 'flag', type: 'string' }],
      steps: [
        {
          id: 'up',
          title: 'the app is up',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, not JS
          run: 'test ! -e ${{ params.flag }}',
          finding: { code: 'service-down', severity: 'critical', title: 'the app is down', fix: 'start it' },
        },
      ],
    }),
  );
});

afterAll(async () => {
  await purgePrefix(prefix).catch(() => {});
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const run = (flag: string) => runCli(['run', 'flag', 'shop', '--runbooks', join(dir, 'runbooks'), '--param', `flag=${flag}`, '--json'], { cwd: dir, env: { TRIAGE_PREFIX: prefix } });

describe('CLI runs and incidents', () => {
  it('opens one incident, updates it on a repeat failure, and marks it recovered? after a healthy run', async () => {
    const down = join(dir, 'down');
    writeFileSync(down, '');
    const first = await run(down);
    expect(first.code).toBe(1);
    expect(first.json.cause).toBe('service-down');
    const second = await run(down);
    expect(second.code).toBe(1);

    const store = new IncidentStore(redis, prefix);
    const open = await store.open();
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ target: 'shop', cause: 'service-down', count: 2, lastRun: second.json.runId });

    rmSync(down);
    const healthy = await run(down);
    expect(healthy.code).toBe(0);
    const after = await store.get(open[0]!.id);
    expect(after).toMatchObject({ state: 'open', recoveredRun: healthy.json.runId });
    const kinds = (await store.timeline(open[0]!.id)).map((e) => e.kind);
    expect(kinds).toEqual(['run', 'run', 'recovered']);
  });
});
