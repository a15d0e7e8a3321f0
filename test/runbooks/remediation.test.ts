/**
 * Remediation, end to end through the real CLI and queue: a finding offers its
 * fix as a host-changing step; it runs only once approved (`--approve STEP`),
 * then the runbook re-checks and the result says whether it worked.
 *
 * Real parts: an app under a real pm2 (its own PM2_HOME) that is down, the
 * 502 runbook's `restart` (pm2 restart --update-env), and the real test nginx
 * reloaded after `nginx -t` by the built-in `nginx-reload` probe.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the stale-proxy runbook's strings are runbook text, where ${{ }} is the template syntax
import { writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalExecutor } from '../../src/executors/local.ts';
import { diagnose, runHost, runRunbook } from '../../src/runbooks/engine.ts';
import { parseRunbook } from '../../src/runbooks/loader.ts';
import type { ApprovalAnswer } from '../../src/runbooks/remediation.ts';
import type { StepResult } from '../../src/runbooks/result.ts';
import { type AppHandle, startApp } from '../support/apps.ts';
import { runCli } from '../support/cli.ts';
import { type NginxHandle, startNginx } from '../support/nginx.ts';
import { type Pm2, privatePm2, writeNodeApi } from '../support/pm2.ts';
import { freePort, httpGet, makeTempDir, removeTempDir, tcpProbe } from '../support/processes.ts';

let dir: string;
let pm2: Pm2;
/** Per pm2 test: two or three real runs; pm2 and its log reads are slow on a loaded machine (no time is asserted). */
const PM2_BUDGET = 180_000;

beforeAll(async () => {
  dir = await makeTempDir('triage-remedy-');
  pm2 = privatePm2(dir);
}, 120_000);

afterAll(async () => {
  pm2?.stop();
  await removeTempDir(dir);
});

const listens = (port: number) =>
  tcpProbe('127.0.0.1', port).then(
    () => true,
    () => false,
  );

/** A pm2 app `name` on a fresh port, started and then stopped: the 502 of seed 001 (the app is not running). */
async function downApp(name: string): Promise<{ config: string; port: number; app: string }> {
  const port = await freePort();
  const app = join(dir, name);
  pm2.run('start', writeNodeApi(app, port), '--name', name, '--restart-delay', '200');
  for (let i = 0; i < 50 && !(await listens(port)); i++) await new Promise((r) => setTimeout(r, 100));
  pm2.run('stop', name);
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    stringify({
      hosts: { web1: { address: 'local' } },
      targets: { shop: { hosts: ['web1'], service: { manager: 'pm2', name }, port, health: `http://127.0.0.1:${port}/health` } },
    }),
  );
  return { config, port, app };
}

describe('restart, the fix for service-down (a real app under pm2)', () => {
  it('without --approve nothing on the host changes: the result offers the restart and says it needs approval', async () => {
    const { config, port } = await downApp('api-unapproved');
    const r = await runCli(['run', '502', 'shop', '--config', config, '--json']);
    expect(r.code).toBe(1);
    expect(r.json.cause).toBe('service-down');
    expect(r.json.remediation).toEqual([
      expect.objectContaining({ host: 'web1', finding: 'service-down', step: 'restart', outcome: 'needs-approval', ran: false, worked: null, reason: 'needs approval: re-run with --approve restart' }),
    ]);
    const restart = r.json.hosts[0].steps.find((s: { id: string }) => s.id === 'restart');
    expect(restart).toMatchObject({ status: 'skipped', reason: 'needs approval: re-run with --approve restart' });
    expect(restart.approvedBy).toBeUndefined();
    expect(pm2.status('api-unapproved')).toBe('stopped');
    expect(await listens(port)).toBe(false);

    const human = await runCli(['run', '502', 'shop', '--config', config]);
    expect(human.stdout).toContain('fix on web1: restart for service-down — not run, needs approval: re-run with --approve restart');
    expect(pm2.status('api-unapproved')).toBe('stopped');
    pm2.run('delete', 'api-unapproved');
  }, PM2_BUDGET);

  it('with --approve restart it restarts the app, the re-check passes, and the result says it worked and who approved it', async () => {
    const { config, port } = await downApp('api-approved');
    const r = await runCli(['run', '502', 'shop', '--config', config, '--json', '--approve', 'restart']);
    expect(r.json.cause).toBe('service-down');
    const fix = r.json.remediation[0];
    expect(fix, JSON.stringify(r.json.remediation, null, 2)).toMatchObject({ step: 'restart', outcome: 'worked', ran: true, worked: true, evidence: [] });
    expect(fix.approvedBy).toMatch(/^cli:/);
    expect(fix.recheck.map((c: { id: string; before: string; after: string }) => `${c.id} ${c.before}→${c.after}`)).toEqual(
      expect.arrayContaining(['service fail→pass', 'listen fail→pass', 'health fail→pass']),
    );
    const restart = r.json.hosts[0].steps.find((s: { id: string }) => s.id === 'restart');
    expect(restart).toMatchObject({ status: 'pass', summary: 'pm2 restart api-approved --update-env', approvedBy: fix.approvedBy });
    // Re-checks are in the remediation, not among the diagnosis steps.
    expect(r.json.hosts[0].steps.map((s: { id: string }) => s.id)).not.toContain('listen.recheck');
    expect(pm2.status('api-approved')).toBe('online');
    expect((await httpGet(`http://127.0.0.1:${port}/health`)).status).toBe(200);

    // Now it is up: the next run is healthy and offers nothing.
    const again = await runCli(['run', '502', 'shop', '--config', config, '--json', '--approve', 'restart']);
    expect(again.json.status).toBe('healthy');
    expect(again.json.remediation).toBeUndefined();
    expect(again.json.hosts[0].steps.map((s: { id: string }) => s.id)).not.toContain('restart');
    pm2.run('delete', 'api-approved');
  }, PM2_BUDGET);

  it("a restart that does not fix it (the new code needs a module that is not installed) says it did not work, with the re-check's evidence", async () => {
    const { config, port, app } = await downApp('api-broken-deploy');
    // Deployed while it was stopped: the new code requires a module nobody installed.
    writeNodeApi(app, port, { missingModule: true });
    const r = await runCli(['run', '502', 'shop', '--config', config, '--json', '--approve', 'restart']);
    expect(r.json.cause).toBe('service-down');
    const fix = r.json.remediation[0];
    expect(fix, JSON.stringify(fix, null, 2)).toMatchObject({ step: 'restart', outcome: 'did-not-work', ran: true, worked: false });
    expect(fix.recheck.find((c: { id: string }) => c.id === 'listen')).toMatchObject({ before: 'fail', after: 'fail' });
    const evidence = fix.evidence.join('\n');
    expect(evidence).toContain(`re-check what listens on the app's port: fail — :${port}: nothing listens`);
    expect(evidence).toMatch(/still: (dependency-missing|service-down) — /);
    expect(evidence).toContain("Cannot find module 'left-pad-not-installed'");
    expect(await listens(port)).toBe(false);

    // The next run names the real cause, which a restart does not fix: nothing is offered.
    const next = await runCli(['run', '502', 'shop', '--config', config, '--approve', 'restart']);
    expect(next.stdout).toContain('✗ dependency-missing — api-broken-deploy crashes on start: Node module left-pad-not-installed is not installed');
    expect(next.stdout).toContain('skipped: a fix offered only when service-down or upstream-error is the cause; here it is dependency-missing');
    expect(next.stdout).not.toContain('fix on web1');
    pm2.run('delete', 'api-broken-deploy');
  }, PM2_BUDGET);

  it('only the cause’s own fix is offered: an app that crashes on a missing module (dependency-missing) is not restarted, even with --approve restart', async () => {
    const port = await freePort();
    const app = join(dir, 'api-crashloop');
    pm2.run('start', writeNodeApi(app, port, { missingModule: true }), '--name', 'api-crashloop', '--restart-delay', '200');
    await new Promise((r) => setTimeout(r, 1500)); // let it crash and log why
    const config = join(dir, 'crashloop.yaml');
    writeFileSync(
      config,
      stringify({ hosts: { web1: { address: 'local' } }, targets: { shop: { hosts: ['web1'], service: { manager: 'pm2', name: 'api-crashloop' }, port } } }),
    );
    const restartsBefore = pm2.run('jlist');
    const r = await runCli(['run', '502', 'shop', '--config', config, '--json', '--approve', 'restart']);
    expect(r.json.cause, JSON.stringify(r.json.findings, null, 2)).toBe('dependency-missing');
    expect(r.json.remediation).toBeUndefined();
    expect(r.json.hosts[0].steps.find((s: { id: string }) => s.id === 'restart')).toMatchObject({
      status: 'skipped',
      reason: 'a fix offered only when service-down or upstream-error is the cause; here it is dependency-missing',
    });
    expect(restartsBefore).toBeTruthy();
    pm2.run('delete', 'api-crashloop');
  }, PM2_BUDGET);

  it('--approve must name a host-changing step of the runbook: anything else is exit 2 with a clear line, and nothing runs', async () => {
    const { config, port } = await downApp('api-typo');
    const typo = await runCli(['run', '502', 'shop', '--config', config, '--approve', 'restrat']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('--approve "restrat": the 502 runbook has no such step');
    expect(typo.stderr).toContain('steps of the 502 runbook that change a host: restart');
    expect(typo.stdout).toBe('');
    const reads = await runCli(['run', '502', 'shop', '--config', config, '--approve', 'restart', '--approve', 'listen']);
    expect(reads.code).toBe(2);
    expect(reads.stderr).toContain('--approve "listen": that step only reads; there is nothing to approve');
    expect(reads.stdout).toBe('');
    expect(pm2.status('api-typo')).toBe('stopped');
    expect(await listens(port)).toBe(false);
    pm2.run('delete', 'api-typo');
  }, PM2_BUDGET);
});

/**
 * nginx still proxies with the config it loaded, while the file on disk was
 * fixed: the fix is `nginx -t`, then a reload. (The deploy runbook's "nginx
 * not reloaded" finding uses the same built-in probe.)
 */
const STALE_RUNBOOK = {
  name: 'stale-proxy',
  description: 'the API answers through nginx; when not, reload nginx',
  steps: [
    {
      id: 'through_nginx',
      title: 'the API through nginx',
      probe: 'http',
      args: ['${{ target.health }}', '5'],
      summary: "${{ target.health }}: HTTP ${{ through_nginx.code }}",
      capture: { code: { regex: 'http_code=(\\d+)', type: 'number' } },
      status: { pass: 'through_nginx.code >= 200 && through_nginx.code < 400' },
    },
    {
      id: 'reload',
      title: 'check and reload nginx',
      changes: true,
      when: 'target.nginx != null',
      probe: 'nginx-reload',
      args: ['${{ target.nginx.config }}'],
      recheck: ['through_nginx'],
      settle: '5s',
    },
  ],
  findings: [
    {
      code: 'nginx-stale',
      title: 'nginx answers ${{ through_nginx.code }} for ${{ target.nginx.location }}',
      when: "through_nginx.status == 'fail'",
      evidence: ['${{ target.health }}: HTTP ${{ through_nginx.code }}'],
      fix: 'sudo nginx -t && sudo nginx -s reload',
      remedy: 'reload',
    },
  ],
};

describe('nginx reload after nginx -t, the fix for a stale nginx (the real test nginx)', () => {
  let app: AppHandle;
  let nginx: NginxHandle;
  let config: string;
  let runbooks: string;

  beforeAll(async () => {
    app = await startApp('ok', { port: await freePort() });
    // nginx loaded a site that proxies to a port where nothing listens: 502.
    nginx = await startNginx({ upstreamPort: await freePort() });
    runbooks = join(dir, 'runbooks');
    await fsp.mkdir(runbooks, { recursive: true });
    await fsp.writeFile(join(runbooks, 'stale-proxy.yaml'), stringify(STALE_RUNBOOK));
    config = join(dir, 'nginx.yaml');
    writeFileSync(
      config,
      stringify({
        hosts: { web1: { address: 'local' } },
        targets: { shop: { hosts: ['web1'], nginx: { config: nginx.configPath, site: nginx.sitePath, location: '/api' }, health: `${nginx.url}/api/health` } },
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await nginx?.stop();
    await app?.stop();
  });

  const pointAtApp = async () => {
    const site = await fsp.readFile(nginx.sitePath, 'utf8');
    await fsp.writeFile(nginx.sitePath, site.replace(/proxy_pass http:\/\/127\.0\.0\.1:\d+;/, `proxy_pass http://127.0.0.1:${app.port};`));
  };

  it('nginx -t refuses the edited config: nothing is reloaded, the old config keeps serving, and the fix did not work', async () => {
    await pointAtApp();
    await nginx.breakSite();
    const r = await runCli(['run', 'stale-proxy', 'shop', '--config', config, '--runbooks', runbooks, '--json', '--approve', 'reload']);
    expect(r.json.cause).toBe('nginx-stale');
    const fix = r.json.remediation[0];
    expect(fix, JSON.stringify(fix, null, 2)).toMatchObject({ step: 'reload', outcome: 'did-not-work', ran: true, worked: false });
    expect(fix.reason).toMatch(/^reload ended fail \(exit 1\): .*\[emerg\] .*unexpected "}" in .*shop\.conf/);
    const reload = r.json.hosts[0].steps.find((s: { id: string }) => s.id === 'reload');
    expect(reload.output).toContain('not reloading');
    expect(reload.output).not.toContain('run=nginx -s reload');
    expect(fix.evidence.join('\n')).toContain('re-check the API through nginx: fail');
    expect((await httpGet(`${nginx.url}/api/health`)).status).toBe(502);
    expect((await httpGet(`${nginx.url}/`)).body).toBe('frontend ok');
  }, 120_000);

  it('without approval the stale nginx stays as it is; with --approve reload nginx -t passes, nginx reloads and the re-check passes', async () => {
    // The site file is fixed properly now, but the running nginx has not loaded it.
    const site = await fsp.readFile(nginx.sitePath, 'utf8');
    await fsp.writeFile(nginx.sitePath, site.replace(/^ *proxy_set_header X-Real-IP \$remote_addr\n/m, ''));
    const asked = await runCli(['run', 'stale-proxy', 'shop', '--config', config, '--runbooks', runbooks, '--json']);
    expect(asked.json.remediation[0]).toMatchObject({ step: 'reload', outcome: 'needs-approval', ran: false });
    expect((await httpGet(`${nginx.url}/api/health`)).status).toBe(502);

    const r = await runCli(['run', 'stale-proxy', 'shop', '--config', config, '--runbooks', runbooks, '--json', '--approve', 'reload']);
    const fix = r.json.remediation[0];
    expect(fix, JSON.stringify(r.json, null, 2)).toMatchObject({ step: 'reload', outcome: 'worked', ran: true, worked: true });
    expect(fix.recheck).toEqual([expect.objectContaining({ id: 'through_nginx', before: 'fail', after: 'pass', summary: `${nginx.url}/api/health: HTTP 200` })]);
    const reload = r.json.hosts[0].steps.find((s: { id: string }) => s.id === 'reload');
    expect(reload.output).toMatch(/test is successful[\s\S]*run=nginx -s reload/);
    // A reload is asynchronous: until the old workers take their QUIT, one may still answer with the old config.
    let status = 0;
    for (const end = Date.now() + 10_000; status !== 200 && Date.now() < end; await new Promise((res) => setTimeout(res, 100))) {
      status = (await httpGet(`${nginx.url}/api/health`)).status;
    }
    expect(status).toBe(200);
  }, 120_000);
});

describe("a runbook's remedies are checked when it is linted", () => {
  const rb = (patch: { remedy?: string; changes?: boolean; recheck?: string[] }) => ({
    name: 'fixit',
    description: 'one check and its fix',
    steps: [
      { id: 'check', title: 'the app answers', run: 'true' },
      { id: 'fix', title: 'restart it', run: 'true', ...(patch.changes === false ? {} : { changes: true }), ...(patch.recheck ? { recheck: patch.recheck } : {}) },
    ],
    findings: [{ code: 'service-down', title: 'down', when: "check.status == 'fail'", fix: 'restart it', remedy: patch.remedy ?? 'fix' }],
  });
  const lint = async (name: string, doc: unknown) => {
    const file = join(dir, `${name}.yaml`);
    await fsp.writeFile(file, stringify(doc));
    return runCli(['lint', file]);
  };

  it('a remedy naming a step that is missing, or that does not change the host, or a fix without recheck, is refused with its path', async () => {
    const missing = await lint('missing', rb({ remedy: 'restart', recheck: ['check'] }));
    expect(missing.code).toBe(2);
    expect(`${missing.stdout}\n${missing.stderr}`).toMatch(/findings\.0\.remedy.*no step "restart"/);
    const reads = await lint('reads', rb({ changes: false, recheck: ['check'] }));
    expect(`${reads.stdout}\n${reads.stderr}`).toMatch(/findings\.0\.remedy.*step "fix" does not change the host/);
    const unchecked = await lint('unchecked', rb({}));
    expect(`${unchecked.stdout}\n${unchecked.stderr}`).toMatch(/steps\.1\.recheck.*remedy "fix" needs recheck/);
    const later = await lint('later', rb({ recheck: ['fix'] }));
    expect(`${later.stdout}\n${later.stderr}`).toMatch(/steps\.1\.recheck\.0.*"fix" is not a step before "fix"/);
  });

  it('a well-formed remedy lints clean', async () => {
    const good = await lint('good', rb({ recheck: ['check'] }));
    expect(good.code, `${good.stdout}\n${good.stderr}`).toBe(0);
  });
});

describe('the engine runs a fix only on an explicit approval, and never again after a crash interrupted it', () => {
  // The app is up while its "up" file exists; the fix creates it and appends to a log, so every run of it is counted.
  const RUNBOOK = `
name: fixit
description: one check and its fix
steps:
  - { id: check, title: the app is up, run: "test -f \${{ target.workdir }}/up || { echo down; exit 3; }" }
  - { id: fix, title: start the app, changes: true, recheck: [check], settle: 1s, run: "echo ran >> \${{ target.workdir }}/fix.log; touch \${{ target.workdir }}/up" }
findings:
  - { code: service-down, title: the app is down, when: "check.status == 'fail'", fix: start it, remedy: fix }
`;
  const executor = new LocalExecutor();
  afterAll(() => executor.close());

  const run = async (name: string, approve?: (stepId: string) => Promise<ApprovalAnswer>, done?: StepResult[]) => {
    const workdir = join(dir, name);
    await fsp.mkdir(workdir, { recursive: true });
    const runbook = parseRunbook(RUNBOOK, 'fixit.yaml').runbook;
    const ran = () => fsp.readFile(join(workdir, 'fix.log'), 'utf8').then((t) => t.split('\n').filter(Boolean).length, () => 0);
    if (done) {
      // Resuming: the checks and the fix's start were recorded before the crash; hand them over as `done`.
      const r = await runRunbook({ runId: 'r_test0002', runbook, target: { name: 'shop', workdir }, hosts: [{ name: 'web1', address: 'local' }], params: {}, executor });
      done.unshift(...r.hosts[0]!.steps.filter((x) => x.id === 'check'));
    }
    const host = await runHost({ runbook, target: { name: 'shop', workdir }, host: { name: 'web1', address: 'local' }, params: {}, executor, done, ...(approve ? { approve: (st) => approve(st.id) } : {}) });
    const result = diagnose({ runId: 'r_test0003', runbook, target: { name: 'shop', workdir }, hostSpecs: [{ name: 'web1', address: 'local' }], params: {}, hosts: [host], startedAt: new Date().toISOString(), durationMs: 1 });
    return { result, runs: await ran() };
  };

  it('an answer that is not an explicit yes runs nothing; a yes records who gave it', async () => {
    const vague = await run('vague', async () => ({ by: 'tg:42' }) as unknown as ApprovalAnswer);
    expect(vague.runs).toBe(0);
    expect(vague.result.remediation?.[0]).toMatchObject({ outcome: 'needs-approval', ran: false });
    const refused = await run('refused', async () => ({ approved: false, reason: 'refused by slack:U9' }));
    expect(refused.runs).toBe(0);
    expect(refused.result.remediation?.[0]).toMatchObject({ outcome: 'needs-approval', reason: 'refused by slack:U9' });
    const yes = await run('yes', async () => ({ approved: true, by: 'slack:U999' }));
    expect(yes.runs).toBe(1);
    expect(yes.result.remediation?.[0]).toMatchObject({ outcome: 'worked', worked: true, approvedBy: 'slack:U999', recheck: [{ id: 'check', before: 'fail', after: 'pass' }] });
    expect(yes.result.hosts[0]!.steps.find((x) => x.id === 'fix')).toMatchObject({ status: 'pass', approvedBy: 'slack:U999' });
  });

  it('a fix a crash interrupted (recorded as such by the worker) is not run again: the result says so', async () => {
    const interrupted: StepResult = { id: 'fix', title: 'start the app', status: 'error', exitCode: null, durationMs: 0, output: '', reason: 'interrupted; not re-run without a new approval', errorCode: 'RUN_FAILED' };
    let asked = 0;
    const r = await run('crashed', async () => {
      asked++;
      return { approved: true, by: 'tg:42' };
    }, [interrupted]);
    expect(r.runs).toBe(0);
    expect(asked).toBe(0);
    expect(r.result.remediation?.[0]).toMatchObject({ outcome: 'interrupted', ran: false, worked: null, reason: 'interrupted; not re-run without a new approval' });
  });
});
