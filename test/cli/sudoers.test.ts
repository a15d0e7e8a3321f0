/**
 * `triage sudoers`: an operator gives Triage an unprivileged SSH user and
 * installs the snippet it prints. The snippet holds exactly what the probes
 * declare, filled from the config; visudo accepts it; and on a real sshd,
 * logged in as a real throwaway user, a probe without its rule says "needs
 * sudo for …" while the same probe with the rule installed does its check.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeSudoLines, sudoSegments } from '../../src/ops/sudoers.ts';
import { getProbe, probeNames } from '../../src/runbooks/probes.ts';
import { runCli } from '../support/cli.ts';
import { type Fleet, startFleet } from '../support/fleet.ts';
import { type NginxHandle, startNginx } from '../support/nginx.ts';
import { freePort, makeTempDir, randomId, removeTempDir } from '../support/processes.ts';

const VISUDO = '/usr/sbin/visudo';

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir('triage-sudoers-');
});
afterAll(async () => {
  await removeTempDir(dir);
});

function writeConfig(name: string, targets: Record<string, unknown>, hosts?: Record<string, unknown>): string {
  const file = path.join(dir, name);
  const h = hosts ?? { web1: { address: '10.0.0.5', user: 'triage', privateKey: '/nonexistent/key', hostKey: 'SHA256:Jq5Yb3xW0pZ9nQ2sT8vL4kR7mC1dF6hG3aE5uI0oPzA' } };
  fs.writeFileSync(file, JSON.stringify({ hosts: h, targets }, null, 2));
  return file;
}

const SHOP = {
  hosts: ['web1'],
  service: { manager: 'systemd', name: 'shop-api.service' },
  port: 8000,
  nginx: { config: '/etc/nginx/nginx.conf', site: '/etc/nginx/sites-enabled/shop', location: '/api' },
  logs: { journal: 'shop-api.service' },
};

/** The `Cmnd_Alias` entries of a snippet, one command per entry. */
function allowed(text: string): string[] {
  const joined = text.replace(/\\\n\s*/g, '');
  return [...joined.matchAll(/^Cmnd_Alias \w+ = (.*)$/gm)].flatMap((m) => m[1]!.split(', ')).map((c) => c.replace(/\\([\\,:=])/g, '$1'));
}

function visudo(file: string): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(VISUDO, ['-cf', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

describe('triage sudoers', () => {
  it('allows exactly the read-only commands the probes declare, filled from the config', async () => {
    const r = await runCli(['sudoers', '--config', writeConfig('shop.yaml', { shop: SHOP })]);
    expect(r.code).toBe(0);
    expect(allowed(r.stdout).sort()).toEqual(['/usr/bin/ss -Hltnp', '/usr/sbin/nginx -T -c /etc/nginx/nginx.conf', '/usr/sbin/nginx -t -c /etc/nginx/nginx.conf']);
    expect(r.stdout).toMatch(/^triage ALL=\(root\) NOPASSWD: TRIAGE_READ$/m);
    expect(r.stdout).not.toMatch(/systemctl restart/);
    // Log access goes through read-only groups, not sudo.
    expect(r.stdout).toMatch(/usermod -aG adm,systemd-journal triage/);
    // Each rule says which runbook step needs it.
    expect(r.stdout).toMatch(/nginx -t -c \/etc\/nginx\/nginx.conf {3}<- 502\/nginx_test \(probe nginx-test\) for shop/);
  });

  it('follows the config: another nginx path, and no nginx rules for a target without nginx', async () => {
    const moved = await runCli(['sudoers', '--config', writeConfig('moved.yaml', { shop: { ...SHOP, nginx: { ...SHOP.nginx, config: '/opt/nginx/conf/nginx.conf' } } })]);
    expect(allowed(moved.stdout)).toContain('/usr/sbin/nginx -t -c /opt/nginx/conf/nginx.conf');
    expect(moved.stdout).not.toContain('/etc/nginx/nginx.conf');

    const bare = await runCli(['sudoers', '--config', writeConfig('bare.yaml', { api: { hosts: ['web1'], port: 8000 } })]);
    expect(bare.code).toBe(0);
    expect(allowed(bare.stdout)).toEqual(['/usr/bin/ss -Hltnp']);
  });

  it('adds restart only with --allow-changes, in its own alias', async () => {
    const r = await runCli(['sudoers', '--allow-changes', '--config', writeConfig('shop.yaml', { shop: SHOP })]);
    expect(r.code).toBe(0);
    expect(allowed(r.stdout)).toContain('/usr/bin/systemctl restart shop-api.service');
    expect(r.stdout).toMatch(/^Cmnd_Alias TRIAGE_CHANGES = \/usr\/bin\/systemctl restart shop-api.service(, \\)?$/m);
    // deploy's nginx_reload fix: reload only, after its own nginx -t
    expect(allowed(r.stdout)).toContain('/usr/sbin/nginx -s reload -c /etc/nginx/nginx.conf');
    expect(r.stdout).toMatch(/^triage ALL=\(root\) NOPASSWD: TRIAGE_READ, TRIAGE_CHANGES$/m);
    // A pm2 app restarts as its own user: nothing to allow.
    const pm2 = await runCli(['sudoers', '--allow-changes', '--config', writeConfig('pm2.yaml', { shop: { ...SHOP, service: { manager: 'pm2', name: 'shop' }, logs: { pm2: 'shop' } } })]);
    expect(pm2.stdout).not.toMatch(/systemctl/);
  });

  it("takes a user runbook's changes: true step's sudo command, only with --allow-changes", async () => {
    const rb = path.join(dir, 'runbooks');
    fs.mkdirSync(rb, { recursive: true });
    fs.writeFileSync(
      path.join(rb, 'cache.yaml'),
      [
        'name: cache-flush',
        'description: flush the app cache',
        'steps:',
        '  - id: flush',
        '    title: flush the cache',
        '    changes: true',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, written as the user would
        "    run: sudo -n systemctl reload ${{ target.service.name }} && echo done",
        '',
      ].join('\n'),
    );
    const config = writeConfig('shop.yaml', { shop: SHOP });
    const off = await runCli(['sudoers', '--runbooks', rb, '--config', config]);
    expect(off.code, off.stderr).toBe(0);
    expect(off.stdout).not.toMatch(/systemctl reload/);
    const on = await runCli(['sudoers', '--runbooks', rb, '--allow-changes', '--config', config]);
    expect(allowed(on.stdout)).toContain('/usr/bin/systemctl reload shop-api.service');
    expect(on.stdout).toMatch(/<- cache-flush\/flush for shop/);
  });

  it('visudo accepts every snippet it prints, for another user too', async () => {
    const cases: [string, string[]][] = [
      ['read.sudoers', ['--config', writeConfig('shop.yaml', { shop: SHOP })]],
      ['changes.sudoers', ['--allow-changes', '--user', 'ops-triage', '--config', writeConfig('shop.yaml', { shop: SHOP })]],
      ['none.sudoers', ['--config', writeConfig('none.yaml', { api: { hosts: ['web1'] } })]],
      ['demo.sudoers', ['--config', 'deploy/triage.yaml', '--allow-changes']],
    ];
    for (const [name, args] of cases) {
      const r = await runCli(['sudoers', ...args]);
      expect(r.code, r.stderr).toBe(0);
      const file = path.join(dir, name);
      fs.writeFileSync(file, `${r.stdout}\n`);
      const v = visudo(file);
      expect(v.ok, `${name}: ${v.out}`).toBe(true);
      expect(v.out).toMatch(/parsed OK/);
    }
    // The check can fail: a snippet with a bare command (any arguments) is what we never print, and a typo is refused.
    fs.writeFileSync(path.join(dir, 'broken.sudoers'), 'triage ALL=(root) NOPASSWD /usr/bin/ss -Hltnp\n');
    expect(visudo(path.join(dir, 'broken.sudoers')).ok).toBe(false);
  });

  it('leaves out a value sudoers cannot say literally, and says so', async () => {
    const r = await runCli(['sudoers', '--config', writeConfig('space.yaml', { shop: { ...SHOP, nginx: { ...SHOP.nginx, config: '/etc/nginx/my nginx.conf' } } })]);
    expect(r.code).toBe(0);
    expect(allowed(r.stdout)).toEqual(['/usr/bin/ss -Hltnp']);
    expect(r.stdout).toMatch(/# left out \("my" cannot be written literally in sudoers\)|# left out \(.*cannot be written literally in sudoers\): \/usr\/sbin\/nginx -t -c \/etc\/nginx\/my nginx.conf/);
    const file = path.join(dir, 'space.sudoers');
    fs.writeFileSync(file, `${r.stdout}\n`);
    expect(visudo(file).ok).toBe(true);
  });

  it('refuses a user name sudoers would misread, and an unknown target', async () => {
    const config = writeConfig('shop.yaml', { shop: SHOP });
    const bad = await runCli(['sudoers', '--user', 'ALL, root', '--config', config]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/is not a user name/);
    const unknown = await runCli(['sudoers', '--target', 'nope', '--config', config]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no target "nope"/);
  });

  it('the demo image ships exactly what triage sudoers prints for deploy/triage.yaml', async () => {
    const r = await runCli(['sudoers', '--config', 'deploy/triage.yaml']);
    expect(`${r.stdout}\n`).toBe(fs.readFileSync('deploy/demo-target/sudoers', 'utf8'));
  });
});

describe('the probes declare what they run with sudo', () => {
  it('every # sudo: line parses, and each privileged command appears as `as_root CMD ARG` in the probe', () => {
    let declared = 0;
    for (const name of probeNames()) {
      const probe = getProbe(name)!;
      const lines = probeSudoLines(probe);
      declared += lines.length;
      for (const l of lines) {
        const [bin, first] = l.words;
        const call = first!.startsWith('$') ? `as_root ${path.basename(bin!)} ` : `as_root ${path.basename(bin!)} ${first}`;
        expect(probe.text, `${name}: declares ${l.words.join(' ')} but never runs it through as_root`).toContain(call);
      }
      // The other way round: every `as_root X -flag` in the body is declared.
      for (const m of probe.text.matchAll(/as_root (\w+) (-\w+)/g)) {
        expect(
          lines.some((l) => path.basename(l.words[0]!) === m[1] && l.words[1] === m[2]),
          `${name} runs "as_root ${m[1]} ${m[2]}" without a # sudo: line for it`,
        ).toBe(true);
      }
    }
    expect(declared).toBeGreaterThanOrEqual(6);
  });

  it('reads the sudo commands inside a changes: true run: line', () => {
    expect(sudoSegments("cd /srv && sudo -n systemctl restart 'shop.service' && echo ok")).toEqual([['/usr/bin/systemctl', 'restart', 'shop.service']]);
    expect(sudoSegments('echo hi | tee x')).toEqual([]);
  });
});

describe('an unprivileged SSH user on a real host', () => {
  const user = `tri${randomId(3)}`;
  const sudoersFile = `/etc/sudoers.d/triage-test-${user}`;
  let fleet: Fleet;
  let nginx: NginxHandle;
  let config: string;
  let workdir: string;

  beforeAll(async () => {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', '--password', '*', user]);
    fleet = await startFleet({ hosts: 1, user });
    // sshd reads authorized_keys as the user: let it in to the fleet's private dir.
    fs.chmodSync(fleet.dir, 0o711);
    fs.chmodSync(path.join(fleet.dir, 'authorized_keys'), 0o644);
    nginx = await startNginx({ upstreamPort: await freePort() });
    // The app's .env, readable by its owner only (root here), like a real app's secrets file.
    workdir = path.join(dir, 'app');
    fs.mkdirSync(workdir, { mode: 0o755 });
    fs.chmodSync(dir, 0o711);
    fs.writeFileSync(path.join(workdir, '.env'), 'JWT_SECRET=s3cr3t-value\n', { mode: 0o600 });
    const h = fleet.hosts[0]!;
    config = writeConfig(
      'fleet.yaml',
      { shop: { hosts: ['web1'], port: nginx.port, nginx: { config: nginx.configPath, site: nginx.sitePath, location: '/api' }, workdir, envFile: '.env', requiredEnv: ['JWT_SECRET'] } },
      { web1: { address: h.address, port: h.port, user, privateKey: fleet.keyFile, hostKey: fleet.hostKeyFingerprint } },
    );
  });

  afterAll(async () => {
    fs.rmSync(sudoersFile, { force: true });
    await nginx?.stop();
    await fleet?.stop();
    execFileSync('userdel', ['--remove', user], { stdio: 'ignore' });
  });

  const stepOf = (json: unknown, id: string) =>
    (json as { hosts: { steps: { id: string; status: string; output: string }[] }[] }).hosts[0]!.steps.find((s) => s.id === id)!;
  const nginxStep = (json: unknown) => stepOf(json, 'nginx_test');

  it('without its sudo rule, nginx -t says it needs sudo instead of calling the config invalid; with it, the config is checked', async () => {
    const before = await runCli(['run', '502', 'shop', '--config', config, '--json']);
    expect(before.json, before.stderr).toBeDefined();
    const r1 = before.json as { cause: string | null; findings: { code: string }[] };
    expect(nginxStep(r1).status).toBe('warn');
    expect(nginxStep(r1).output).toContain('needs sudo for nginx -t (see triage sudoers)');
    expect(r1.findings.map((f) => f.code)).not.toContain('nginx-config-invalid');
    // nginx (root) holds the target's port: ss shows the socket but not, to this user, whose it is.
    // The 0600 .env: not called missing, and the step says what it needs.
    expect(stepOf(r1, 'env').output).toContain(`needs sudo for cat ${workdir}/.env (see triage sudoers)`);
    expect(stepOf(r1, 'env').output).toMatch(/^var JWT_SECRET file=unreadable/m);
    expect(r1.findings.map((f) => f.code)).not.toContain('missing-env');
    expect(stepOf(r1, 'listen').output).toContain(`needs sudo for ss -ltnp to tell which process holds :${nginx.port} (see triage sudoers)`);

    const snippet = await runCli(['sudoers', '--user', user, '--config', config]);
    const staged = path.join(dir, 'fleet.sudoers');
    fs.writeFileSync(staged, `${snippet.stdout}\n`);
    expect(visudo(staged).ok).toBe(true);
    fs.copyFileSync(staged, sudoersFile);
    fs.chmodSync(sudoersFile, 0o440);

    const after = await runCli(['run', '502', 'shop', '--config', config, '--json']);
    const step = nginxStep(after.json);
    expect(step.status).toBe('pass');
    expect(step.output).toMatch(/syntax is ok/);
    expect(step.output).not.toMatch(/needs sudo/);
    expect(snippet.stdout).toContain(`/usr/bin/cat ${workdir}/.env`);
    expect(stepOf(after.json, 'env').output).toMatch(/^var JWT_SECRET file=set\(12 chars\)/m);
    expect(stepOf(after.json, 'env').output).not.toContain('s3cr3t');
    expect(stepOf(after.json, 'listen').output).toMatch(/^pid=\d+$/m);
    expect(stepOf(after.json, 'listen').output).not.toMatch(/needs sudo/);

    // The rule is exact: a broken config is still caught through it, as nginx-config-invalid.
    await nginx.breakSite();
    const broken = await runCli(['run', '502', 'shop', '--config', config, '--json']);
    expect(nginxStep(broken.json).status).toBe('fail');
    expect((broken.json as { findings: { code: string }[] }).findings.map((f) => f.code)).toContain('nginx-config-invalid');
  });
});
