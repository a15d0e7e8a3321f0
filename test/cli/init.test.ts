/**
 * A newcomer's first five minutes: `triage init` against a real host (sshd
 * on loopback) running a real nginx that proxies /api to a real app. The
 * file it writes lints clean and names the right port, nginx site and
 * service; a host key that differs from --host-key is refused; an existing
 * file is kept; bad input writes nothing; and through a real pseudo-terminal
 * a person confirms the fingerprint and the proposals. Nothing is left
 * running or lying around on the host.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseNginxDump } from '../../src/init/nginx-conf.ts';
import { parseProcInfo, parseSs } from '../../src/init/host-facts.ts';
import { processPattern } from '../../src/init/propose.ts';
import { type AppHandle, freePort, startApp } from '../support/apps.ts';
import { runCli } from '../support/cli.ts';
import { type Fleet, startFleet, unusedLoopbackHost } from '../support/fleet.ts';
import { type Census, census, type CensusScope } from '../support/host-census.ts';
import { type NginxHandle, startNginx } from '../support/nginx.ts';
import { httpGet, makeTempDir, randomId, removeTempDir, waitUntil } from '../support/processes.ts';

const execFileP = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/triage.js');

let fleet: Fleet;
let app: AppHandle;
let nginx: NginxHandle;
let dir: string;
let scope: CensusScope;
/** The host's TMPDIR (sshd sets it in every session of this fleet), so its temp files are counted exactly. */
let hostTmp: string;
/** The host's PM2_HOME (also set by sshd): a pm2 daemon there is this test's own. */
let pm2Home: string;
/** Unique per run: other tests on this machine run nginx sites named "shop" too. */
const target = `shop-${randomId(3)}`;

beforeAll(async () => {
  dir = await makeTempDir('triage-init-');
  hostTmp = await makeTempDir('triage-init-host-tmp-');
  pm2Home = join(dir, 'pm2-home');
  fleet = await startFleet({ hosts: 1, sessionEnv: { TMPDIR: hostTmp, PM2_HOME: pm2Home } });
  // Only this fleet's sessions carry this TMPDIR (orphans keep it too): other tests' hosts are not counted.
  scope = { envMarker: `TMPDIR=${hostTmp}` };
  const port = await freePort();
  app = await startApp('ok', { port });
  nginx = await startNginx({ upstreamPort: port, siteName: target });
});
afterAll(async () => {
  if (existsSync(join(pm2Home, 'pm2.pid'))) await execFileP('pm2', ['kill'], { env: { ...process.env, PM2_HOME: pm2Home } }).catch(() => {});
  await Promise.all([nginx?.stop(), app?.stop(), fleet?.stop()]);
  if (dir) await removeTempDir(dir);
  if (hostTmp) await removeTempDir(hostTmp);
});

/** What runs and lies around on the host now: this fleet's processes and the files in its TMPDIR. */
function onHost(): Census {
  return { processes: census(scope).processes, tempFiles: readdirSync(hostTmp), machineTempFiles: [] };
}

/** Waits (bounded) for the host to be back to `before`; returns what it ended on. */
async function settled(before: Census): Promise<Census> {
  const same = (c: Census) => c.processes.length === before.processes.length && c.tempFiles.length === before.tempFiles.length;
  // Bounded: 80 × 100 ms. A leftover shows up as a failed expectation listing it.
  for (let i = 0; i < 80 && !same(onHost()); i++) await new Promise((r) => setTimeout(r, 100));
  return onHost();
}

/** A fresh folder for one story, inside `dir`. */
let n = 0;
async function folder(): Promise<string> {
  const d = join(dir, `case-${++n}`);
  await execFileP('mkdir', ['-p', d]);
  return d;
}

function yesFlags(extra: string[] = []): string[] {
  const h = fleet.hosts[0]!;
  return ['init', '--address', h.address, '--ssh-port', String(h.port), '--user', h.user, '--key', fleet.keyFile, '--target', target, '--yes', '--host-key', fleet.hostKeyFingerprint, ...extra];
}

async function pgrep(pattern: string): Promise<number[]> {
  const { stdout } = await execFileP('pgrep', ['-f', '--', pattern]).catch(() => ({ stdout: '' }));
  return stdout.split('\n').filter(Boolean).map(Number);
}

describe('triage init --yes against a host with nginx in front of an app', () => {
  it('writes a triage.yaml that lints clean and proposes the right port, nginx site and service, leaving nothing on the host', async () => {
    const cwd = await folder();
    const before = onHost();
    const r = await runCli(yesFlags(), { cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote triage.yaml — next: npx triage run 502 ${target} --dry-run`);
    expect(r.stdout).toContain(fleet.hostKeyFingerprint);

    const file = join(cwd, 'triage.yaml');
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^# triage\.yaml for shop-/);
    expect(text).toContain('nothing on the host was changed');
    const config = parseYaml(text);
    const h = fleet.hosts[0]!;
    expect(config.hosts).toEqual({ web1: { address: h.address, port: h.port, user: h.user, privateKey: fleet.keyFile, hostKey: fleet.hostKeyFingerprint } });
    const t = config.targets[target];
    expect(t.hosts).toEqual(['web1']);
    expect(t.port).toBe(app.port);
    expect(t.nginx).toEqual({ config: nginx.configPath, site: nginx.sitePath, location: '/api' });
    expect(t.service.manager).toBe('process');
    expect(await pgrep(t.service.name)).toContain(app.pid);
    expect(t.logs).toEqual({ file: app.logFile });
    expect(t.health).toBe(`http://127.0.0.1:${app.port}/health`);
    expect(t.workdir).toBe(app.workdir);

    const lint = await runCli(['lint', file], { cwd });
    expect(lint.stderr).toBe('');
    expect(lint.stdout).toBe('ok: 1 file checked');
    expect(lint.code).toBe(0);
    // pm2 is installed but its daemon was not running: init did not start one (pm2 jlist would have).
    expect(existsSync(pm2Home)).toBe(false);
    // The next step it printed works as printed.
    const next = await runCli(['run', '502', target, '--dry-run'], { cwd });
    expect(next.stderr).toBe('');
    expect(next.code).toBe(0);

    const after = await settled(before);
    expect(after.processes).toEqual(before.processes);
    expect(after.tempFiles).toEqual(before.tempFiles);
  });

  it('flags override proposals, and none leaves a key out', async () => {
    const cwd = await folder();
    const r = await runCli(yesFlags(['--service', 'systemd:shop-api.service', '--logs', 'journal:shop-api.service', '--nginx-config', 'none', '--health', 'none']), { cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const t = parseYaml(readFileSync(join(cwd, 'triage.yaml'), 'utf8')).targets[target];
    expect(t).toEqual({ hosts: ['web1'], service: { manager: 'systemd', name: 'shop-api.service' }, port: app.port, logs: { journal: 'shop-api.service' }, workdir: app.workdir });
  });

  it('refuses a host whose key is not the --host-key, and writes nothing', async () => {
    const cwd = await folder();
    const wrong = `SHA256:${'x'.repeat(43)}`;
    const args = yesFlags();
    args[args.indexOf('--host-key') + 1] = wrong;
    const before = onHost();
    const r = await runCli(args, { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`presents host key ${fleet.hostKeyFingerprint}, not the --host-key ${wrong} — refusing to pin it, nothing written`);
    expect(existsSync(join(cwd, 'triage.yaml'))).toBe(false);
    // It never logged in: no session was opened on the host.
    expect((await settled(before)).processes).toEqual(before.processes);
  });

  it('keeps an existing file unless --force', async () => {
    const cwd = await folder();
    const file = join(cwd, 'triage.yaml');
    writeFileSync(file, '# mine, hands off\n');
    const r = await runCli(yesFlags(), { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('triage: triage.yaml already exists — nothing written — pass --force to overwrite it, or --config OTHER_FILE');
    expect(readFileSync(file, 'utf8')).toBe('# mine, hands off\n');

    const forced = await runCli(yesFlags(['--force']), { cwd });
    expect(forced.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain(`port: ${app.port}`);
  });

  it('writes where --config says and tells how to use it', async () => {
    const cwd = await folder();
    const r = await runCli(yesFlags(['--config', 'conf/prod.yaml']), { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^triage: cannot write conf\/prod\.yaml: .* is not a directory/);
    await execFileP('mkdir', [join(cwd, 'conf')]);
    const ok = await runCli(yesFlags(['--config', 'conf/prod.yaml']), { cwd });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`wrote conf/prod.yaml — next: npx triage run 502 ${target} --config conf/prod.yaml --dry-run`);
  });
});

describe('triage init --yes when nginx -T refuses the config', () => {
  it('reads the site files directly and still finds the location', async () => {
    const name = `broken-${randomId(3)}`;
    const broken = await startNginx({ upstreamPort: app.port, siteName: name, location: '/v1' });
    try {
      await broken.breakSite();
      const cwd = await folder();
      const args = yesFlags();
      args[args.indexOf('--target') + 1] = name;
      const r = await runCli(args, { cwd });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`${broken.configPath} (read directly)`);
      const t = parseYaml(readFileSync(join(cwd, 'triage.yaml'), 'utf8')).targets[name];
      expect(t.nginx).toEqual({ config: broken.configPath, site: broken.sitePath, location: '/v1' });
      expect(t.port).toBe(app.port);
    } finally {
      await broken.stop();
    }
  });
});

describe('triage init --yes against a pm2 app', () => {
  it('proposes the pm2 process and its logs for the port it listens on, even with nginx proxying to another app', async () => {
    const name = `api-${randomId(3)}`;
    const appDir = join(dir, name);
    await execFileP('mkdir', ['-p', appDir]);
    const port = await freePort();
    writeFileSync(join(appDir, 'server.js'), `require('http').createServer((q, r) => r.end('{"ok":true}')).listen(${port}, '127.0.0.1');\n`);
    await execFileP('pm2', ['start', join(appDir, 'server.js'), '--name', name], { cwd: appDir, env: { ...process.env, PM2_HOME: pm2Home } });
    await waitUntil(`pm2 app on :${port}`, async () => (await httpGet(`http://127.0.0.1:${port}/`, 1000)).status === 200, { timeoutMs: 15_000 });

    const cwd = await folder();
    const args = yesFlags();
    args[args.indexOf('--target') + 1] = name;
    const r = await runCli(args, { cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/pm2: 1 process\n/);
    const t = parseYaml(readFileSync(join(cwd, 'triage.yaml'), 'utf8')).targets[name];
    expect(t).toEqual({ hosts: ['web1'], service: { manager: 'pm2', name }, port, health: `http://127.0.0.1:${port}/health`, workdir: appDir, logs: { pm2: name } });
    expect((await runCli(['lint', join(cwd, 'triage.yaml')])).code).toBe(0);
  });
});

describe('bad input gets one clear line, and nothing is written', () => {
  const cases: [string, string[], number, RegExp][] = [
    ['a port out of range', ['--ssh-port', '70000'], 2, /^triage: --ssh-port "70000": not a port \(nothing written\) — use a number from 1 to 65535$/],
    ['an unknown service manager', ['--service', 'upstart:shop'], 2, /^triage: --service "upstart:shop": unknown service manager "upstart" \(nothing written\) — write systemd:UNIT/],
    ['a key file that does not exist', ['--key', '/nonexistent/id_ed25519'], 2, /^triage: --key: cannot read private key \/nonexistent\/id_ed25519: .*ENOENT.* \(nothing written\) — create a key/],
    ['a public key given as the key', ['--key', '@pub'], 2, /is a public key \(nothing written\)/],
    ['a bad app port', ['--port', 'http'], 2, /^triage: --port "http": not a port/],
    ['a target name with capitals', ['--target', 'Shop'], 2, /^triage: --target "Shop": not a valid target name/],
    ['a host key that is not a fingerprint', ['--host-key', 'MD5:aa:bb'], 2, /^triage: --host-key: not a SHA256 fingerprint/],
  ];
  it.each(cases)('%s', async (_what, change, code, message) => {
    const cwd = await folder();
    const args = yesFlags();
    for (let i = 0; i < change.length; i += 2) {
      const value = change[i + 1] === '@pub' ? `${fleet.keyFile}.pub` : change[i + 1]!;
      const at = args.indexOf(change[i]!);
      if (at >= 0) args[at + 1] = value;
      else args.push(change[i]!, value);
    }
    const r = await runCli(args, { cwd });
    expect(r.code).toBe(code);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(existsSync(join(cwd, 'triage.yaml'))).toBe(false);
  });

  it('a key the host does not accept is exit 3 (could not log in)', async () => {
    const cwd = await folder();
    const other = join(cwd, 'other_ed25519');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const args = yesFlags();
    args[args.indexOf('--key') + 1] = other;
    const r = await runCli(args, { cwd });
    expect(r.code).toBe(3);
    expect(r.stderr.split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/refused the key for user/);
    expect(existsSync(join(cwd, 'triage.yaml'))).toBe(false);
  });

  it('--yes names every value it is missing', async () => {
    const cwd = await folder();
    const r = await runCli(['init', '--yes'], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('triage: --yes needs --address, --target, --host-key — see `triage init --help`');
  });

  it('without a terminal and without --yes it says how to run it', async () => {
    const r = await runCli(['init'], { cwd: await folder() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^triage: no terminal to ask on — pass --yes/);
  });

  it('a host nothing answers on is exit 3 (could not reach)', async () => {
    const cwd = await folder();
    const gone = unusedLoopbackHost();
    const args = yesFlags();
    args[args.indexOf('--address') + 1] = gone.address;
    args[args.indexOf('--ssh-port') + 1] = String(gone.port);
    const r = await runCli(args, { cwd });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`triage: cannot reach ${gone.address}:${gone.port}: connection refused — check the address and --ssh-port, and that sshd runs on the host`);
    expect(existsSync(join(cwd, 'triage.yaml'))).toBe(false);
  });

  it('--help shows usage, every flag with its default and an example', async () => {
    const r = await runCli(['init', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: triage init/);
    for (const f of ['address', 'ssh-port', 'user', 'key', 'target', 'config', 'force', 'yes', 'host-key', 'port', 'service', 'nginx-site', 'logs', 'health']) {
      expect(r.stdout).toMatch(new RegExp(`^ {2}--${f} .*default: `, 'm'));
    }
    expect(r.stdout).toContain('Nothing on the host is changed');
    expect(r.stdout).toMatch(/examples?:\n {2}npx triage init/);
  });
});

/**
 * Drives `node bin/triage.js init` through a real pseudo-terminal (python3's
 * pty): waits for each prompt, types the answer, records everything.
 */
const PTY_DRIVER = `
import json, os, pty, re, select, sys, time
cfg = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.chdir(cfg["cwd"])
    os.execvpe(cfg["argv"][0], cfg["argv"], cfg["env"])
buf, transcript, i = b"", b"", 0
deadline = time.time() + cfg["timeout"]
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        buf += data
        transcript += data
    if i < len(cfg["steps"]) and re.search(cfg["steps"][i][0].encode(), buf):
        os.write(fd, (cfg["steps"][i][1] + "\\r").encode())
        buf, i = b"", i + 1
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
print(json.dumps({"transcript": transcript.decode("utf8", "replace"), "code": os.waitstatus_to_exitcode(status), "answered": i}))
`;

async function throughTerminal(cwd: string, args: string[], steps: [RegExp, string][]): Promise<{ transcript: string; code: number; answered: number }> {
  const cfg = {
    cwd,
    argv: [process.execPath, BIN, ...args],
    env: { ...process.env, TRIAGE_CONFIG: '', TERM: 'dumb' },
    steps: steps.map(([re, answer]) => [re.source, answer]),
    timeout: 45,
  };
  const { stdout } = await execFileP('python3', ['-c', PTY_DRIVER, JSON.stringify(cfg)], { maxBuffer: 4 * 1024 * 1024 });
  const r = JSON.parse(stdout) as { transcript: string; code: number; answered: number };
  // What a person saw: without carriage returns and cursor controls.
  r.transcript = r.transcript.replace(/\r/g, '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  return r;
}

describe('triage init on a terminal', () => {
  it('asks for the host, shows the fingerprint to confirm, and the person accepts each proposal', async () => {
    const cwd = await folder();
    const h = fleet.hosts[0]!;
    const before = onHost();
    const r = await throughTerminal(
      cwd,
      ['init'],
      [
        [/Write the config to \[\.\/triage\.yaml\]: $/, ''],
        [/Host address \(IP or DNS name\): $/, h.address],
        [/SSH port \[22\]: $/, String(h.port)],
        [/SSH user \[[^\]]+\]: $/, h.user],
        [/Private key file \[[^\]]+\]: $/, fleet.keyFile],
        [/Target name \(the service, e\.g\. shop\): $/, target],
        [/Pin this key\? \[y\/N\]: $/, 'y'],
        [/app port \[\d+\]: $/, ''],
        [/service \[[^\]]+\]: $/, ''],
        [/nginx config \[[^\]]+\]: $/, ''],
        [/nginx site \[[^\]]+\]: $/, ''],
        [/nginx location \[[^\]]+\]: $/, ''],
        [/logs \[[^\]]+\]: $/, ''],
        [/health URL \[[^\]]+\]: $/, ''],
        [/workdir \[[^\]]+\]: $/, ''],
      ],
    );
    console.log(`--- transcript of an interactive triage init ---\n${r.transcript}\n--- end (exit ${r.code}) ---`);
    expect(r.answered).toBe(15);
    expect(r.code).toBe(0);
    expect(r.transcript).toContain(`presents an ED25519 host key with fingerprint\n  ${fleet.hostKeyFingerprint}`);
    expect(r.transcript).toContain(`wrote triage.yaml — next: npx triage run 502 ${target} --dry-run`);

    const file = join(cwd, 'triage.yaml');
    const t = parseYaml(readFileSync(file, 'utf8')).targets[target];
    expect(t.port).toBe(app.port);
    expect(t.nginx).toEqual({ config: nginx.configPath, site: nginx.sitePath, location: '/api' });
    expect(await pgrep(t.service.name)).toContain(app.pid);
    expect(readFileSync(file, 'utf8')).toContain('pinned after you confirmed it');
    expect((await runCli(['lint', file])).code).toBe(0);

    const after = await settled(before);
    expect(after.processes).toEqual(before.processes);
    expect(after.tempFiles).toEqual(before.tempFiles);
  });

  it('answering no to the fingerprint writes nothing; a mistyped port is asked again', async () => {
    const cwd = await folder();
    const h = fleet.hosts[0]!;
    const r = await throughTerminal(
      cwd,
      ['init', '--user', h.user, '--key', fleet.keyFile, '--target', target],
      [
        [/Write the config to/, ''],
        [/Host address/, h.address],
        [/SSH port \[22\]: $/, '99999'],
        [/not a port — use a number from 1 to 65535\r?\nSSH port \[22\]: $/, String(h.port)],
        [/Pin this key\? \[y\/N\]: $/, ''],
      ],
    );
    expect(r.answered).toBe(5);
    expect(r.code).toBe(2);
    expect(r.transcript).toContain('triage: host key not pinned — nothing written');
    expect(existsSync(join(cwd, 'triage.yaml'))).toBe(false);
  });
});

describe('triage init on a terminal, cut short', () => {
  it('Ctrl-D at a question cancels and writes nothing', async () => {
    const cwd = await folder();
    const r = await throughTerminal(cwd, ['init'], [
      [/Write the config to/, ''],
      [/Host address/, '\x04'],
    ]);
    expect(r.answered).toBe(2);
    expect(r.code).toBe(3);
    expect(r.transcript).toContain('triage: cancelled — nothing written');
    expect(existsSync(join(cwd, 'triage.yaml'))).toBe(false);
  });
});

describe('what init reads from a host', () => {
  it('finds proxied locations in an nginx -T dump, through upstream blocks, and skips regex locations for the path', () => {
    const dump = [
      '# configuration file /etc/nginx/nginx.conf:',
      'http { include /etc/nginx/sites-enabled/*; }',
      '# configuration file /etc/nginx/sites-enabled/shop:',
      'upstream shop_api { server 127.0.0.1:8000 weight=2; }',
      'server {',
      '  listen 80; server_name shop.example.com www.shop.example.com;',
      '  location /api { proxy_pass http://shop_api; }  # the API',
      '  location ~ ^/ws/ { proxy_pass http://127.0.0.1:9001; }',
      '  location = /status { proxy_pass http://unix:/run/app.sock:/; }',
      '  location "/quoted path" { proxy_pass http://localhost; }',
      '}',
    ].join('\n');
    const { files, proxies } = parseNginxDump(dump);
    expect(files).toEqual(['/etc/nginx/nginx.conf', '/etc/nginx/sites-enabled/shop']);
    expect(proxies.map((p) => [p.location, p.upstream])).toEqual([
      ['/api', { host: '127.0.0.1', port: 8000 }],
      [undefined, { host: '127.0.0.1', port: 9001 }],
      ['/status', undefined],
      ['/quoted path', { host: 'localhost', port: 80 }],
    ]);
    expect(proxies[0]!.serverNames).toEqual(['shop.example.com', 'www.shop.example.com']);
    expect(proxies[0]!.file).toBe('/etc/nginx/sites-enabled/shop');
  });

  it('reads ss -ltnp, including IPv6 and several processes on one socket', () => {
    const ss = [
      'State  Recv-Q Send-Q Local Address:Port Peer Address:PortProcess',
      'LISTEN 0      511        127.0.0.1:8000      0.0.0.0:*    users:(("node",pid=4242,fd=20),("node",pid=4243,fd=20))',
      'LISTEN 0      128             [::]:22           [::]:*    users:(("sshd",pid=1,fd=4))',
      'LISTEN 0      128                *:3000            *:*',
    ].join('\n');
    expect(parseSs(ss)).toEqual([
      { address: '127.0.0.1', port: 8000, processes: [{ name: 'node', pid: 4242 }, { name: 'node', pid: 4243 }] },
      { address: '::', port: 22, processes: [{ name: 'sshd', pid: 1 }] },
      { address: '*', port: 3000, processes: [] },
    ]);
  });

  it('reads /proc facts and turns a command line into a pgrep -f pattern', () => {
    const info = parseProcInfo('@@pid 7\n@@args node\x1f/srv/shop/server.js\x1f--port=8000\x1f\n@@cwd /srv/shop\n@@out /var/log/shop.log\n@@cgroup shop.service\n');
    expect(info).toEqual([{ pid: 7, args: ['node', '/srv/shop/server.js', '--port=8000'], cwd: '/srv/shop', stdout: '/var/log/shop.log', unit: 'shop.service' }]);
    expect(processPattern(info[0]!.args)).toBe('/srv/shop/server.js');
    expect(processPattern(['/usr/bin/python3', '-m', 'uvicorn', 'main:app', '--port', '8000'])).toBe('uvicorn main:app');
    expect(processPattern(['/opt/app/bin/server', '--listen=:8080'])).toBe('/opt/app/bin/server');
    expect(processPattern(['java', '-Xmx1g', '-jar', '/srv/app(1).jar'])).toBe('/srv/app\\(1\\).jar');
  });
});

