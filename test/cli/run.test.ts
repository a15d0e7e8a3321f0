/**
 * `triage run` from the engineer's side: bad input is refused with a clear
 * message and exit 2 before anything runs; `--dry-run` shows the exact
 * commands; a dead host is a finding, not a crash; secrets never come out.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { type Fleet, fleetConfigHosts, startFleet, unusedLoopbackHost } from '../support/fleet.ts';

let fleet: Fleet;
let dir: string;
let config: string;
let runbooks: string;
let canary: string;

beforeAll(async () => {
  fleet = await startFleet({ hosts: 2 });
  dir = mkdtempSync(join(tmpdir(), 'triage-cli-'));
  canary = join(dir, 'ran');
  const gone = unusedLoopbackHost();
  config = join(dir, 'triage.yaml');
  writeFileSync(
    config,
    stringify({
      hosts: {
        ...fleetConfigHosts(fleet),
        gone: { address: gone.address, port: gone.port, user: 'root', privateKey: fleet.keyFile, hostKey: fleet.hostKeyFingerprint },
      },
      targets: {
        shop: { hosts: ['web1', 'web2'], port: 8000, workdir: dir },
        mixed: { hosts: ['web1', 'gone'], workdir: dir },
      },
    }),
  );
  runbooks = join(dir, 'runbooks');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(runbooks);
  writeFileSync(
    join(runbooks, 'touch.yaml'),
    stringify({
      name: 'touch',
      description: 'leaves a mark so tests can tell whether anything ran',
      params: [{ name: 'tag', type: 'string', default: 'x' }],
      steps: [
        { id: 'mark', title: 'mark', run: `echo \${{ params.tag }} >> ${canary}; echo done` },
        {
          id: 'leak',
          title: 'prints secrets',
          run: "echo 'JWT_SECRET=hunter2hunter2hunter2'; echo 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz123456'",
        },
      ],
    }),
  );
  writeFileSync(
    join(runbooks, 'notify.yaml'),
    stringify({
      name: 'notify',
      description: 'uses a secret parameter',
      params: [{ name: 'token', type: 'string', secret: true, description: 'API token' }],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, not a JS one
      steps: [{ id: 'call', title: 'call with the token', run: 'echo calling with ${{ params.token }}' }],
    }),
  );
});
afterAll(async () => {
  await fleet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const run = (...args: string[]) => runCli(['run', ...args, '--config', config, '--runbooks', runbooks]);

describe('bad input is refused before anything runs (exit 2)', () => {
  const cases: [string, string[], RegExp][] = [
    ['unknown runbook', ['nosuch', 'shop'], /no runbook "nosuch".*known runbooks: .*502/],
    ['unknown target', ['touch', 'nosuch'], /nosuch.*shop/],
    ['unknown host', ['touch', 'shop', '--host', 'web9'], /web9.*web1, web2/],
    ['shell metacharacters in the target', ['touch', 'x; rm -rf /'], /not a valid target name/],
    ['shell metacharacters in a param', ['touch', 'shop', '--param', 'tag=$(reboot)'], /parameter "tag"/],
    ['unknown param', ['touch', 'shop', '--param', 'nope=1'], /no parameter "nope"/],
    ['missing target', ['touch'], /missing <target>/],
    ['unknown flag', ['touch', 'shop', '--force'], /unknown flag --force — see `triage run --help`/],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: one clear line, exit 2, nothing executed`, async () => {
      const r = await run(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split('\n')).toHaveLength(1);
      expect(existsSync(canary)).toBe(false);
    });
  }

  it('malformed YAML in the config: names the file and line, exit 2', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'hosts:\n  web1: { address: 127.0.0.2\ntargets: [\n');
    const r = await runCli(['run', 'touch', 'shop', '--config', bad, '--runbooks', runbooks]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(bad);
    expect(r.stderr).toMatch(/line \d+/);
    expect(existsSync(canary)).toBe(false);
  });

  it('a missing config file says where it looked', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'triage-empty-'));
    const r = await runCli(['run', 'touch', 'shop', '--runbooks', runbooks], { cwd: empty, env: { TRIAGE_CONFIG: '' } });
    rmSync(empty, { recursive: true });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/triage\.yaml/);
  });
});

describe('secret parameters', () => {
  const value = 'tok-8c1f0e5a9d2b47e6a1c3f5e7d9b0a2c4';

  it('refuse a literal value: a secret is passed as env:NAME or file:PATH', async () => {
    const r = await run('notify', 'shop', '--param', `token=${value}`);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/parameter "token" holds a secret, so it takes env:NAME or file:PATH, never the value itself/);
    expect(r.stderr).not.toContain(value);
  });

  it('are read by the worker only; the value never reaches the result, the run record or the dry run', async () => {
    const prefix = `t-secret-${Date.now()}`;
    const env = { NOTIFY_TOKEN: value, TRIAGE_PREFIX: prefix };
    const r = await runCli(['run', 'notify', 'shop', '--host', 'web1', '--param', 'token=env:NOTIFY_TOKEN', '--json', '--config', config, '--runbooks', runbooks], { env });
    expect(r.code).toBe(0);
    expect(r.json.hosts[0].steps[0].output).toBe('calling with «redacted»');
    expect(r.stdout).not.toContain(value);
    const status = await runCli(['status', r.json.runId, '--json', '--config', config], { env });
    expect(status.json.params).toEqual({ token: 'env:NOTIFY_TOKEN' });
    expect(status.stdout).not.toContain(value);
    const dry = await runCli(['run', 'notify', 'shop', '--dry-run', '--param', 'token=env:NOTIFY_TOKEN', '--config', config, '--runbooks', runbooks], { env });
    expect(dry.stdout).toContain("'«secret from env:NOTIFY_TOKEN»'");
    const { purgePrefix } = await import('../support/cli.ts');
    await purgePrefix(prefix);
  });
});

describe('--dry-run', () => {
  it('prints the exact quoted commands per host and runs nothing', async () => {
    const r = await run('touch', 'shop', '--dry-run', '--param', 'tag=v1.2');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('# web1');
    expect(r.stdout).toContain('# web2');
    expect(r.stdout).toContain(`echo 'v1.2' >> ${canary}`);
    expect(r.stdout).toContain('nothing was executed');
    expect(existsSync(canary)).toBe(false);
  });

  it('shows the built-in 502 runbook with config facts filled in and skipped steps named', async () => {
    const r = await run('502', 'shop', '--dry-run', '--host', 'web1');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("sh probes/listener.sh '8000'");
    expect(r.stdout).toMatch(/## nginx_test: .*\(skipped: no nginx in the config\)/);
    expect(r.stdout).not.toMatch(/target\.nginx != null/);
  });
});

describe('running', () => {
  it('runs on every host of the target and reports per host', async () => {
    const r = await run('touch', 'shop', '--json');
    expect(r.code).toBe(0);
    expect(r.json.hosts.map((h: { host: string }) => h.host)).toEqual(['web1', 'web2']);
    expect(r.json.status).toBe('healthy');
    expect(r.json.runId).toMatch(/^r_/);
  });

  it('never lets a secret from command output into the result', async () => {
    const r = await run('touch', 'shop', '--json');
    expect(r.stdout).not.toContain('hunter2');
    expect(r.stdout).not.toContain('abcdefghijklmnopqrstuvwxyz123456');
    expect(r.stdout).toContain('JWT_SECRET=');
  });

  it('an unreachable host becomes a finding while the other host still runs', async () => {
    const r = await run('touch', 'mixed', '--json');
    expect(r.code).toBe(1);
    expect(r.json.cause).toBe('host-unreachable');
    const [web1, gone] = r.json.hosts;
    expect(web1.reachable).toBe(true);
    expect(web1.steps.every((s: { status: string }) => s.status === 'pass')).toBe(true);
    expect(gone.reachable).toBe(false);
    expect(gone.error.code).toBe('SSH_CONNECT');
  });

  it('prints one line per step and the verdict for humans', async () => {
    const r = await run('touch', 'shop', '--host', 'web2');
    expect(r.stdout).toMatch(/web2\s+✓ mark/);
    expect(r.stdout).toMatch(/✓ healthy/);
    expect(r.stdout).toMatch(/run r_\w+ · \d+ms/);
  });
});
