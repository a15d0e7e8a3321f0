/**
 * `docker compose up` as a team would run it, checked without a Docker
 * engine: docker-compose itself normalizes the files, and every part of the
 * result must agree with Triage — each service's command is a real `triage`
 * subcommand with flags the command table accepts, every file and build
 * context exists and reaches the image, every variable is one something
 * reads, Redis is configured as BullMQ needs, workers can be scaled, and the
 * image's healthcheck really tells a live Redis from a dead one.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { COMMANDS } from '../../src/cli/help.ts';
import { parse as parseFlags } from '../../src/cli/io.ts';
import { RunbookLibrary } from '../../src/runbooks/loader.ts';
import { freePort, makeTempDir, removeTempDir } from '../support/processes.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TRIAGE_IMAGE = 'triage:local';

interface Service {
  build?: { context: string; target?: string; dockerfile?: string };
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: unknown[];
  container_name?: string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  secrets?: { source: string }[];
  stdin_open?: boolean;
  tty?: boolean;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file: string }>;
}

/** What docker-compose makes of the files: anchors merged, paths absolute. Throws on any error it reports. */
function composeConfig(...files: string[]): Compose {
  const args = [...files.flatMap((f) => ['-f', f]), 'config'];
  const r = spawnSync('docker-compose', args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DEMO_BREAK: '' } });
  if (r.error) throw r.error;
  expect(r.status, `docker-compose ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return parseYaml(r.stdout) as Compose;
}

const triageServices = (c: Compose) => Object.entries(c.services).filter(([, s]) => s.image === TRIAGE_IMAGE && !s.entrypoint);

/** Every environment variable name Triage's code reads. */
function variablesTheCodeReads(): Set<string> {
  const names = new Set<string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) for (const m of fs.readFileSync(p, 'utf8').matchAll(/env\.([A-Z_][A-Z0-9_]*)|env\[['"]([A-Z_][A-Z0-9_]*)['"]\]/g)) names.add(m[1] ?? m[2]!);
    }
  };
  walk(path.join(ROOT, 'src'));
  return names;
}

describe('docker-compose.yml', () => {
  let compose: Compose;
  beforeAll(() => {
    compose = composeConfig('docker-compose.yml');
  });

  it('docker-compose accepts it, alone and with the chat override', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['bot', 'demo-target', 'diagnose', 'keys', 'redis', 'worker']);
    const chat = composeConfig('docker-compose.yml', 'deploy/docker-compose.chat.yml');
    expect(chat.services.bot!.secrets!.map((s) => s.source).sort()).toEqual(['slack_app_token', 'slack_bot_token', 'slack_signing_secret', 'telegram_bot_token']);
  });

  it('runs Redis the way BullMQ requires: append-only file, no eviction, on a volume', () => {
    const redis = compose.services.redis!;
    const cmd = redis.command!.join(' ');
    expect(cmd).toMatch(/--appendonly yes/);
    expect(cmd).toMatch(/--maxmemory-policy noeviction/);
    expect(redis.volumes!.some((v) => v.startsWith('redis-data:/data'))).toBe(true);
    expect(redis.healthcheck!.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('each triage service runs a real subcommand, with flags the command table accepts', () => {
    const library = RunbookLibrary.load();
    const config = parseYaml(fs.readFileSync(path.join(ROOT, 'deploy/triage.yaml'), 'utf8')) as { targets: Record<string, unknown> };
    const seen: string[] = [];
    for (const [name, s] of triageServices(compose)) {
      const [cmd, ...args] = s.command!;
      expect(COMMANDS.map((c) => c.name), `${name}: ${cmd}`).toContain(cmd);
      const { positionals } = parseFlags(args, cmd!); // throws USAGE on a flag the table does not know
      if (cmd === 'run') {
        expect(() => library.get(positionals[0]!)).not.toThrow();
        expect(Object.keys(config.targets)).toContain(positionals[1]);
      } else {
        expect(positionals, `${name} takes no positional arguments`).toEqual([]);
      }
      seen.push(cmd!);
    }
    expect(seen.sort()).toEqual(['bot', 'run', 'worker']);
    // The bot serves the console (chat-less) on a terminal compose keeps open.
    expect(compose.services.bot!.command).toContain('--console');
    expect(compose.services.bot!.stdin_open && compose.services.bot!.tty).toBe(true);
    // Work is done by the worker service, not embedded in the bot or the one-shot run.
    expect(compose.services.bot!.command).toContain('--no-worker');
    expect(compose.services.diagnose!.command).toContain('--no-worker');
  });

  it('workers scale: no fixed name, no host ports, and a grace period longer than the worker waits', () => {
    const w = compose.services.worker!;
    expect(w.container_name).toBeUndefined();
    expect(w.ports).toBeUndefined();
    for (const s of Object.values(compose.services)) expect(s.container_name).toBeUndefined();
    const raw = parseYaml(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { stop_grace_period?: string }> };
    const grace = Number(/--grace (\d+)s/.exec(w.command!.join(' '))![1]);
    expect(Number.parseInt(raw.services.worker!.stop_grace_period!, 10)).toBeGreaterThan(grace);
  });

  it('every variable it sets is one the code or the demo target reads', () => {
    const read = variablesTheCodeReads();
    const entry = fs.readFileSync(path.join(ROOT, 'deploy/demo-target/entrypoint.sh'), 'utf8');
    for (const [name, s] of Object.entries(compose.services)) {
      for (const v of Object.keys(s.environment ?? {})) {
        if (name === 'demo-target') expect(entry, `${name}: ${v}`).toContain(`\${${v}`);
        else expect(read.has(v), `${name} sets ${v}, which nothing in src/ reads`).toBe(true);
      }
    }
    // The image points TRIAGE_CONFIG at the file compose mounts.
    const mounted = compose.services.worker!.volumes!.find((v) => v.endsWith(':/etc/triage/triage.yaml:ro'));
    expect(mounted).toBeDefined();
    expect(compose.services.worker!.environment!.TRIAGE_CONFIG).toBe('/etc/triage/triage.yaml');
  });

  it('every file, folder and build context it names exists, and what the config names is mounted', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.build) {
        expect(fs.existsSync(path.join(s.build.context, s.build.dockerfile ?? 'Dockerfile')), `${name}: ${s.build.context}`).toBe(true);
      }
      for (const v of s.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (src.startsWith('/')) expect(fs.existsSync(src), `${name} mounts ${src}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${src}`).toContain(src);
      }
    }
    // The config's key and known_hosts live on the keys volume, made by the keys service and demo-target.
    const cfg = fs.readFileSync(path.join(ROOT, 'deploy/triage.yaml'), 'utf8');
    expect(cfg).toContain('privateKey: /keys/triage_ed25519');
    expect(compose.services.keys!.command!.join(' ')).toContain('-f /keys/triage_ed25519');
    expect(cfg).toContain('knownHosts: /keys/known_hosts');
    expect(fs.readFileSync(path.join(ROOT, 'deploy/demo-target/entrypoint.sh'), 'utf8')).toContain('"$KEYS/known_hosts"');
    // Chat secrets: each file the override names is documented in deploy/secrets/README.md, and its /run/secrets path is what triage.chat.yaml reads.
    const chat = composeConfig('docker-compose.yml', 'deploy/docker-compose.chat.yml');
    const readme = fs.readFileSync(path.join(ROOT, 'deploy/secrets/README.md'), 'utf8');
    const chatCfg = fs.readFileSync(path.join(ROOT, 'deploy/triage.chat.yaml'), 'utf8');
    for (const [secret, { file }] of Object.entries(chat.secrets!)) {
      expect(path.dirname(file)).toBe(path.join(ROOT, 'deploy/secrets'));
      expect(readme).toContain(`deploy/secrets/${path.basename(file)}`);
      expect(chatCfg).toContain(`file:/run/secrets/${secret}`);
    }
  });

  it('the services start in order: Redis healthy, keys made, the demo host ready', () => {
    const s = compose.services;
    expect(s.worker!.depends_on).toMatchObject({ redis: { condition: 'service_healthy' }, 'demo-target': { condition: 'service_healthy' } });
    expect(s.bot!.depends_on).toMatchObject({ redis: { condition: 'service_healthy' } });
    expect(s['demo-target']!.depends_on).toMatchObject({ keys: { condition: 'service_completed_successfully' } });
    expect(s.diagnose!.depends_on).toMatchObject({ 'demo-target': { condition: 'service_healthy' } });
  });
});

describe('the Triage image', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const ignored = fs
    .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('is multi-stage, installs production dependencies from the lockfile, runs as a user that is not root', () => {
    expect(dockerfile.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^FROM .* AS runtime$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \[.*"node", "bin\/triage\.js"\]$/m);
    // A build script (compiled JS in dist/) must be used by the image as soon as there is one.
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    if (pkg.scripts.build) {
      expect(dockerfile).toMatch(/^RUN npm run build$/m);
      expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
      // bin/triage.js runs dist/ only while its stamp matches src/: the image ships src/ and re-stamps, then checks.
      expect(dockerfile).toMatch(/^COPY --from=build \/app\/src \.\/src$/m);
      expect(dockerfile).toMatch(/srcKey\('\/app\/src\/'\)/);
      expect(fs.readFileSync(path.join(ROOT, 'bin/triage.js'), 'utf8')).toMatch(/dist\/build-stamp\.json/);
    } else {
      expect(dockerfile).toMatch(/tsx/);
    }
  });

  it('copies only what exists and .dockerignore lets through', () => {
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    expect(copies).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'bin', 'src']));
    for (const c of copies) {
      expect(fs.existsSync(path.join(ROOT, c)), c).toBe(true);
      expect(ignored, `${c} is copied but .dockerignore drops it`).not.toContain(c);
    }
    for (const heavy of ['node_modules', '.git', 'test', '.scratch']) expect(ignored).toContain(heavy);
  });

  describe('its HEALTHCHECK, run here', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await makeTempDir('triage-health-');
    });
    afterAll(async () => {
      await removeTempDir(dir);
    });

    const healthcheck = () => /^HEALTHCHECK [^\n]*\\\n\s+CMD (.+)$/m.exec(dockerfile)![1]!;
    const runCheck = (redis: string) => {
      const cfg = path.join(dir, `${redis.replace(/\W/g, '_')}.yaml`);
      fs.writeFileSync(cfg, `redis: ${redis}\nhosts:\n  local: { address: local }\ntargets:\n  t: { hosts: [local] }\n`);
      return spawnSync('sh', ['-c', healthcheck()], { cwd: ROOT, env: { ...process.env, TRIAGE_CONFIG: cfg }, encoding: 'utf8', timeout: 150_000 }).status;
    };

    it('is healthy while Redis answers, unhealthy (exit 1) when it does not', async () => {
      expect(healthcheck()).toContain('node bin/triage.js status');
      expect(runCheck('redis://127.0.0.1:6379')).toBe(0);
      expect(runCheck(`redis://127.0.0.1:${await freePort()}`)).toBe(1);
    }, 320_000); // two CLI starts; a loaded 2-core box takes tens of seconds each
  });
});

describe('the demo target', () => {
  const ctx = path.join(ROOT, 'deploy/demo-target');
  const dockerfile = fs.readFileSync(path.join(ctx, 'Dockerfile'), 'utf8');

  it('copies files that exist, and its scripts pass shellcheck', () => {
    const copies = [...dockerfile.matchAll(/^COPY (?:--\S+ )*(\S+) \S+$/gm)].map((m) => m[1]!);
    expect(copies.length).toBeGreaterThanOrEqual(6);
    for (const c of copies) expect(fs.existsSync(path.join(ctx, c)), c).toBe(true);
    execFileSync('shellcheck', ['--shell=sh', '--severity=style', path.join(ctx, 'break-app.sh'), path.join(ctx, 'entrypoint.sh')]);
  });

  it('logs Triage in as an unprivileged user with exactly the generated sudo rights', () => {
    expect(dockerfile).toMatch(/useradd [^\n]*triage/);
    expect(dockerfile).toMatch(/COPY --chmod=0440 sudoers \/etc\/sudoers\.d\/triage/);
    expect(dockerfile).toMatch(/visudo -cf \/etc\/sudoers\.d\/triage/);
    const sshd = fs.readFileSync(path.join(ctx, 'sshd_config'), 'utf8');
    expect(sshd).toMatch(/^AllowUsers triage$/m);
    expect(sshd).toMatch(/^PasswordAuthentication no$/m);
    expect(sshd).toMatch(/^PermitRootLogin no$/m);
    expect(fs.readFileSync(path.join(ROOT, 'deploy/triage.yaml'), 'utf8')).toMatch(/user: triage/);
  });

  it('its nginx site is valid, and what the config says about it matches', async () => {
    const dir = await makeTempDir('triage-demo-nginx-');
    try {
      const conf = fs
        .readFileSync(path.join(ctx, 'nginx.conf'), 'utf8')
        .replace(/^user .*$/m, '')
        .replace('/run/nginx.pid', path.join(dir, 'nginx.pid'))
        .replaceAll('/var/log/nginx', dir)
        .replace('/etc/nginx/sites-enabled/*', path.join(dir, 'demo.site'));
      fs.writeFileSync(path.join(dir, 'nginx.conf'), conf);
      fs.writeFileSync(path.join(dir, 'demo.site'), fs.readFileSync(path.join(ctx, 'demo.site'), 'utf8').replace('listen 80', `listen 127.0.0.1:${await freePort()}`));
      const r = spawnSync('/usr/sbin/nginx', ['-t', '-c', path.join(dir, 'nginx.conf'), '-p', dir], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      // The mode `nginx` of break-app removes the one semicolon it names: the site must contain it.
      const breaker = fs.readFileSync(path.join(ctx, 'break-app.sh'), 'utf8');
      const semicolon = /s#(proxy_pass [^#]+;)#/.exec(breaker)![1]!;
      expect(fs.readFileSync(path.join(ctx, 'demo.site'), 'utf8')).toContain(semicolon);
    } finally {
      await removeTempDir(dir);
    }
    const cfg = parseYaml(fs.readFileSync(path.join(ROOT, 'deploy/triage.yaml'), 'utf8')) as { targets: { demo: { port: number; nginx: { site: string; location: string } } } };
    expect(fs.readFileSync(path.join(ctx, 'demo.site'), 'utf8')).toContain(`location ${cfg.targets.demo.nginx.location} {\n    proxy_pass http://127.0.0.1:${cfg.targets.demo.port};`);
    expect(fs.readFileSync(path.join(ctx, 'break-app.sh'), 'utf8')).toContain(`SITE=${cfg.targets.demo.nginx.site}`);
  });

  it('its app crashes with the ModuleNotFoundError the 502 runbook reads as dependency-missing, and with the module stops only at a missing JWT_SECRET (break-app env)', async () => {
    const lib = await makeTempDir('triage-demo-lib-');
    try {
      const crash = spawnSync('python3', [path.join(ctx, 'app/api.py')], { env: { PATH: process.env.PATH, JWT_SECRET: 'x', PORT: String(await freePort()) }, encoding: 'utf8', timeout: 10_000 });
      expect(crash.status).not.toBe(0);
      expect(crash.stderr).toMatch(/ModuleNotFoundError: No module named 'demo_payments'/);
      // The crash as the 502 runbook's log signatures read it.
      const read = RunbookLibrary.load().signatures.match(crash.stderr);
      expect(read.cause).toBe('dependency-missing');
      expect(read.cause_detail).toBe('demo_payments');

      fs.writeFileSync(path.join(lib, 'demo_payments.py'), 'PROVIDER = "demo"\n');
      const noSecret = spawnSync('python3', [path.join(ctx, 'app/api.py')], { env: { PATH: process.env.PATH, PYTHONPATH: lib }, encoding: 'utf8', timeout: 10_000 });
      expect(noSecret.stderr).toMatch(/JWT_SECRET is not set/);
    } finally {
      await removeTempDir(lib);
    }
  });

  it('both demo configs pass triage lint and describe the same hosts and targets', () => {
    for (const f of ['deploy/triage.yaml', 'deploy/triage.chat.yaml']) {
      const r = spawnSync('node', ['bin/triage.js', 'lint', '--schema-only', f], { cwd: ROOT, encoding: 'utf8' });
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
    }
    const a = parseYaml(fs.readFileSync(path.join(ROOT, 'deploy/triage.yaml'), 'utf8'));
    const b = parseYaml(fs.readFileSync(path.join(ROOT, 'deploy/triage.chat.yaml'), 'utf8'));
    expect(b.hosts).toEqual(a.hosts);
    expect(b.targets).toEqual(a.targets);
    expect(b.redis).toEqual(a.redis);
  });
});
