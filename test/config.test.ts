import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_REDIS_URL,
  type LoadedConfig,
  lintConfig,
  loadConfig,
  parseConfig,
  resolveHost,
  resolveSecret,
  targetHosts,
  targetNames,
} from '../src/config.ts';
import { TriageError, TriageErrors } from '../src/errors.ts';

const FIXTURES = resolve(import.meta.dirname, 'fixtures/config');
const EXAMPLE = resolve(import.meta.dirname, '../examples/triage.yaml');
const FINGERPRINT = `SHA256:${'Ab1+/'.repeat(8)}xyz`;
// Not a usable key: enough for Triage to recognise the file as a private key.
const FAKE_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'triage-config-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

/** The errors a call throws, as a flat list (TriageErrors unpacked). */
function errorsOf(fn: () => unknown): TriageError[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TriageError);
    return err instanceof TriageErrors ? err.errors : [err as TriageError];
  }
  throw new Error('expected an error');
}

async function errorsOfAsync(p: Promise<unknown>): Promise<TriageError[]> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TriageError);
    return err instanceof TriageErrors ? err.errors : [err as TriageError];
  }
  throw new Error('expected an error');
}

function only(errors: TriageError[], path: string): TriageError {
  const found = errors.filter((e) => e.path === path);
  expect(found, `errors at ${path} among:\n${errors.map((e) => e.toLine()).join('\n')}`).toHaveLength(1);
  return found[0];
}

const HOSTS = `
hosts:
  web1:
    address: 10.0.0.5
    user: ubuntu
    privateKey: keys/id_ed25519
    passphrase: env:WEB1_KEY_PASS
    hostKey: ${FINGERPRINT}
  web2: { address: web2.example.com, port: 2222, user: deploy, agent: true, knownHosts: ~/.ssh/known_hosts, zone: eu-prod }
  local: { address: local }
`;

const FULL = `${HOSTS}
targets:
  wushipay:
    hosts: [web1, web2]
    service: { manager: systemd, name: wushipay-api.service }
    port: 8000
    health: http://127.0.0.1:8000/health
    nginx: { site: /etc/nginx/sites-enabled/wushipay }
    workdir: /home/ubuntu/wushizhifu
    requiredEnv: [JWT_SECRET, DATABASE_URL]
    database: { kind: mysql, host: db.internal }
    logs: { journal: wushipay-api.service }
  worker:
    hosts: [local]
    service: { manager: process, name: "node dist/worker.js --queue=main" }
    workdir: /srv/worker
    envFile: config/worker.env
chat:
  telegram: { token: env:TELEGRAM_BOT_TOKEN, allowedChats: [-1001234, "-1005550001"] }
  slack: { botToken: env:SLACK_BOT_TOKEN, signingSecret: file:secrets/slack-signing }
access:
  roles: { operator: [slack:U999] }
schedules:
  - { name: morning, cron: "0 9 * * MON-FRI", tz: Asia/Shanghai, runbook: health, targets: [wushipay], post: slack:C123 }
  - { name: every-minute, cron: "30 * * * * *", runbook: host, targets: all, post: tg:-1001234 }
oncall:
  rotation: [slack:U123, tg:456]
  handoff: { cron: "0 10 * * 1", post: slack:C123 }
`;

describe('a valid config', () => {
  it('loads ./triage.yaml with every default filled and paths made absolute', async () => {
    write('triage.yaml', FULL);
    const loaded = await loadConfig({ cwd: dir, env: { HOME: '/home/oncall' } });
    const { config } = loaded;

    expect(loaded.file).toBe(join(dir, 'triage.yaml'));
    expect(config.hosts.web1).toMatchObject({ port: 22, zone: 'default', privateKey: join(dir, 'keys/id_ed25519') });
    expect(config.hosts.web2).toMatchObject({ port: 2222, zone: 'eu-prod', agent: true, knownHosts: '/home/oncall/.ssh/known_hosts' });

    const api = config.targets.wushipay;
    expect(api.nginx).toEqual({ config: '/etc/nginx/nginx.conf', site: '/etc/nginx/sites-enabled/wushipay', location: '/' });
    expect(api.database).toEqual({ kind: 'mysql', host: 'db.internal', port: 3306, staleRows: [] });
    expect(api.logs).toEqual({ journal: 'wushipay-api.service' });
    expect(api).toMatchObject({ envFile: '.env', envFileExplicit: false });
    expect(config.targets.worker).toMatchObject({ envFile: 'config/worker.env', envFileExplicit: true, requiredEnv: [] });

    expect(config.chat?.telegram).toEqual({
      token: 'env:TELEGRAM_BOT_TOKEN',
      mode: 'polling',
      apiRoot: 'https://api.telegram.org',
      allowedChats: [-1001234, '-1005550001'],
    });
    expect(config.chat?.slack).toMatchObject({
      port: 3000,
      apiUrl: 'https://slack.com/api/',
      allowedChannels: [],
      signingSecret: `file:${join(dir, 'secrets/slack-signing')}`,
    });
    expect(config.access?.roles).toEqual({ viewer: [], responder: [], operator: ['slack:U999'] });
    expect(config.schedules?.[1].tz).toBe('UTC');
    expect(config.oncall?.handoff?.tz).toBe('UTC');
    expect(targetNames(config)).toEqual(['wushipay', 'worker']);
  });

  it('the shipped example is valid', async () => {
    const loaded = await loadConfig({ file: EXAMPLE, env: { HOME: '/home/ubuntu' } });
    expect(loaded.config.hosts.web1).toMatchObject({ privateKey: '/home/ubuntu/.ssh/triage_ed25519', knownHosts: '/home/ubuntu/.ssh/known_hosts' });
    expect(loaded.config.targets.wushipay.envFileExplicit).toBe(true);
    expect(loaded.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(loaded.redisFromDefault).toBe(false);
  });

  it('accepts the three ways to write telegram webhook mode and normalises them', () => {
    const base = 'hosts: { local: { address: local } }\ntargets: { demo: { hosts: [local] } }\nchat:\n  telegram:\n    token: env:T\n';
    const hook = '{ url: "https://bot.example.com/tg", port: 8443, secretToken: env:TG_SECRET }';
    const want = { webhook: { url: 'https://bot.example.com/tg', port: 8443, secretToken: 'env:TG_SECRET' } };
    for (const form of [`    mode: webhook\n    webhook: ${hook}\n`, `    mode: { webhook: ${hook} }\n`, `    webhook: ${hook}\n`]) {
      const tg = parseConfig(base + form, 'triage.yaml', {}).config.chat?.telegram;
      expect(tg?.mode).toEqual(want);
      expect(tg).not.toHaveProperty('webhook');
    }
    const [err] = errorsOf(() => parseConfig(`${base}    mode: webhook\n`, 'triage.yaml', {}));
    expect(err.path).toBe('chat.telegram.webhook');
    expect(err.fix).toMatch(/url.*port.*secretToken/);
  });
});

describe('mistakes name the file, the path, the line and the fix', () => {
  it('an unknown key suggests the closest known one', () => {
    const file = join(dir, 'triage.yaml');
    const text = FULL.replace('    port: 8000\n', '    prot: 8000\n');
    const err = only(errorsOf(() => parseConfig(text, file, {})), 'targets.wushipay.prot');
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.file).toBe(file);
    expect(err.message).toMatch(/unknown key 'prot' — did you mean 'port'\?/);
    expect(err.message).toMatch(/line \d+:\d+/);
    expect(err.fix).toBe("rename 'prot' to 'port'");
  });

  it('an unknown key with no close match lists the allowed keys', () => {
    const err = only(errorsOf(() => parseConfig(`${FULL}colour: blue\n`, 'triage.yaml', {})), 'colour');
    expect(err.fix).toMatch(/^remove it; allowed here: redis, (.+, )?hosts, targets, chat, access, schedules, oncall/);
  });

  it('missing hosts says what to add', () => {
    const err = only(errorsOf(() => parseConfig('targets: { demo: { hosts: [local] } }\n', 'triage.yaml', {})), 'hosts');
    expect(err.message).toMatch(/missing required key 'hosts'/);
    expect(err.fix).toMatch(/^add hosts: \{ web1: \{ address:/);
  });

  it('a target that names an unknown host lists the known hosts', () => {
    const text = FULL.replace('hosts: [web1, web2]', 'hosts: [web1, web3]');
    const err = only(errorsOf(() => parseConfig(text, 'triage.yaml', {})), 'targets.wushipay.hosts.1');
    expect(err.message).toMatch(/unknown host 'web3' — did you mean 'web1'\?/);
    expect(err.fix).toBe('use one of the hosts defined under hosts: web1, web2, local');
  });

  it('an @name in telegram.allowedChats is refused: Telegram only sends numeric chat ids, so it would never match', () => {
    const text = FULL.replace('allowedChats: [-1001234, "-1005550001"]', 'allowedChats: [-1001234, "@oncall_room"]');
    const err = only(errorsOf(() => parseConfig(text, 'triage.yaml', {})), 'chat.telegram.allowedChats.1');
    expect(err.message).toMatch(/an @name never matches/);
    expect(err.fix).toMatch(/numeric chat id/);
  });

  it('an inline secret is refused without echoing it', () => {
    const text = FULL.replace('token: env:TELEGRAM_BOT_TOKEN', 'token: "123456:hunter2-inline"');
    const errors = errorsOf(() => parseConfig(text, 'triage.yaml', {}));
    const err = only(errors, 'chat.telegram.token');
    expect(err.fix).toBe('put it in an environment variable and write env:NAME (or file:/path)');
    for (const e of errors) expect(e.toLine()).not.toContain('hunter2');
  });

  it.each([
    ['70000', /port out of range/, /1 to 65535/],
    ['0', /port out of range/, /1 to 65535/],
    ['"8000"', /expected a port number/, /port: 8000/],
    ['80.5', /whole number/, /1 to 65535/],
  ])('a bad port (%s) is reported at its path', (port, message, fix) => {
    const err = only(errorsOf(() => parseConfig(FULL.replace('port: 8000', `port: ${port}`), 'triage.yaml', {})), 'targets.wushipay.port');
    expect(err.message).toMatch(message);
    expect(err.fix).toMatch(fix);
  });

  it('a target name with shell metacharacters is rejected', () => {
    const text = `${HOSTS}targets:\n  "x; rm -rf /": { hosts: [web1] }\n`;
    const err = only(errorsOf(() => parseConfig(text, 'triage.yaml', {})), 'targets."x; rm -rf /"');
    expect(err.message).toMatch(/not a valid target name/);
    expect(err.fix).toMatch(/lower-case letters, digits, _ and -/);
  });

  it('a host without a pinned key says how to get the fingerprint', () => {
    const text = 'hosts:\n  web1: { address: 10.0.0.5, port: 2222, user: ubuntu, agent: true }\ntargets: { a: { hosts: [web1] } }\n';
    const err = only(errorsOf(() => parseConfig(text, 'triage.yaml', {})), 'hosts.web1.hostKey');
    expect(err.fix).toContain('ssh-keyscan -p 2222 10.0.0.5 | ssh-keygen -lf -');
    expect(err.fix).toContain('knownHosts');
  });

  it('malformed YAML is a CONFIG_YAML error with file and line', async () => {
    const file = join(FIXTURES, 'malformed.yaml');
    const errors = await errorsOfAsync(loadConfig({ file }));
    expect(errors[0].code).toBe('CONFIG_YAML');
    expect(errors[0].file).toBe(file);
    expect(errors[0].message).toMatch(/YAML syntax error at line 5:\d+/);
    expect(errors[0].fix).toMatch(/line 5/);
  });

  it('reports every problem in a file at once, each with file, path and fix', async () => {
    const file = join(FIXTURES, 'many-errors.yaml');
    const errors = await errorsOfAsync(loadConfig({ file }));
    expect(errors.map((e) => e.path)).toEqual([
      'hosts.web1.prot',
      'targets."x; rm -rf /"',
      'targets.wushipay.hosts.0',
      'targets.wushipay.port',
      'chat.telegram.token',
    ]);
    for (const e of errors) {
      expect(e).toMatchObject({ code: 'CONFIG_INVALID', file });
      expect(e.fix).toBeTruthy();
      expect(e.message).toMatch(/\(line \d+:\d+\)$/);
    }
    expect(errors[0].message).toContain('(line 8:5)');
  });

  it('an empty file says what to write', () => {
    const [err] = errorsOf(() => parseConfig('# nothing yet\n', 'triage.yaml', {}));
    expect(err.message).toBe('the config file is empty');
    expect(err.fix).toMatch(/hosts: and targets:/);
  });
});

describe('hosts and key files', () => {
  function loadWithKey(key?: string): LoadedConfig {
    if (key !== undefined) write('keys/id_ed25519', key);
    write('home/.ssh/known_hosts', '[web2.example.com]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA\n');
    return parseConfig(`${HOSTS}targets: { api: { hosts: [web1, local] } }\n`, join(dir, 'triage.yaml'), { HOME: join(dir, 'home') });
  }

  it('resolveHost reads the key, resolves the passphrase and fills defaults', () => {
    const loaded = loadWithKey(FAKE_KEY);
    const spec = resolveHost(loaded, 'web1', { WEB1_KEY_PASS: 'open sesame' });
    expect(spec).toEqual({
      name: 'web1',
      address: '10.0.0.5',
      port: 22,
      user: 'ubuntu',
      zone: 'default',
      privateKey: Buffer.from(FAKE_KEY),
      passphrase: 'open sesame',
      hostKey: FINGERPRINT,
    });
    expect(resolveHost(loaded, 'local')).toEqual({ name: 'local', address: 'local', zone: 'default' });
    expect(lintConfig(loaded)).toEqual([]);
  });

  it('a missing key file is CONFIG_INVALID at hosts.NAME.privateKey, from resolveHost and lintConfig', () => {
    const loaded = loadWithKey();
    const keyPath = join(dir, 'keys/id_ed25519');
    const [err] = errorsOf(() => resolveHost(loaded, 'web1', { WEB1_KEY_PASS: 'x' }));
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', path: 'hosts.web1.privateKey', file: join(dir, 'triage.yaml') });
    expect(err.message).toContain(keyPath);
    expect(err.message).toContain('ENOENT');
    expect(err.fix).toContain(`ssh-keygen -t ed25519 -f ${keyPath}`);

    const problems = lintConfig(loaded);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ code: 'CONFIG_INVALID', path: 'hosts.web1.privateKey' });
  });

  it('an unreadable key file reports the OS error', () => {
    mkdirSync(join(dir, 'keys/id_ed25519'), { recursive: true }); // a directory cannot be read as a file, even by root
    const [err] = errorsOf(() => resolveHost(loadWithKey(), 'web1', { WEB1_KEY_PASS: 'x' }));
    expect(err.path).toBe('hosts.web1.privateKey');
    expect(err.message).toContain('EISDIR');
  });

  it('a public key in place of the private key is caught', () => {
    const [err] = lintConfig(loadWithKey('ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA triage@laptop\n'));
    expect(err.message).toMatch(/is a public key/);
    expect(err.fix).toMatch(/without \.pub/);
  });

  it('an unset passphrase variable is SECRET_UNRESOLVED naming it', () => {
    const [err] = errorsOf(() => resolveHost(loadWithKey(FAKE_KEY), 'web1', {}));
    expect(err).toMatchObject({ code: 'SECRET_UNRESOLVED', path: 'hosts.web1.passphrase' });
    expect(err.message).toContain('WEB1_KEY_PASS');
  });

  it('an unknown host is HOST_UNKNOWN listing the hosts', () => {
    const [err] = errorsOf(() => resolveHost(loadWithKey(FAKE_KEY), 'web9'));
    expect(err).toMatchObject({ code: 'HOST_UNKNOWN', fix: 'known hosts: web1, web2, local' });
  });

  it('lint checks that knownHosts exists and lists the host (plain, [host]:port and hashed entries)', () => {
    const text = (kh: string) =>
      `hosts:\n  web2: { address: web2.example.com, port: 2222, user: deploy, agent: true, knownHosts: ${kh} }\n  web3: { address: 10.0.0.7, user: deploy, agent: true, knownHosts: ${kh} }\ntargets: { a: { hosts: [web2, web3] } }\n`;
    const file = join(dir, 'triage.yaml');

    const missing = lintConfig(parseConfig(text('known_hosts'), file, {}));
    expect(missing.map((e) => e.path)).toEqual(['hosts.web2.knownHosts', 'hosts.web3.knownHosts']);
    expect(missing[0].fix).toContain('ssh-keyscan -p 2222 web2.example.com >>');

    write('known_hosts', '[web2.example.com]:2222 ssh-ed25519 AAAA\n');
    const noEntry = lintConfig(parseConfig(text('known_hosts'), file, {}));
    expect(noEntry).toHaveLength(1);
    expect(noEntry[0].message).toMatch(/has no entry for 10\.0\.0\.7/);

    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('10.0.0.7').digest('base64');
    write('known_hosts', `[web2.example.com]:2222 ssh-ed25519 AAAA\n|1|${salt.toString('base64')}|${hash} ssh-ed25519 AAAA\n`);
    expect(lintConfig(parseConfig(text('known_hosts'), file, {}))).toEqual([]);
  });
});

describe('secrets', () => {
  it('env: and file: secrets resolve; file: paths are relative to the config file', () => {
    write('secrets/slack-signing', 's3cret\n');
    const loaded = parseConfig(FULL, join(dir, 'triage.yaml'), {});
    const slack = loaded.config.chat!.slack!;
    expect(resolveSecret(slack.signingSecret, {}, 'chat.slack.signingSecret')).toBe('s3cret');
    expect(resolveSecret(slack.botToken, { SLACK_BOT_TOKEN: 'xoxb-1' }, 'chat.slack.botToken')).toBe('xoxb-1');
  });

  it('an unset variable or unreadable file is SECRET_UNRESOLVED with a fix', () => {
    const [unset] = errorsOf(() => resolveSecret('env:SLACK_BOT_TOKEN', {}, 'chat.slack.botToken', 'triage.yaml'));
    expect(unset).toMatchObject({ code: 'SECRET_UNRESOLVED', path: 'chat.slack.botToken', file: 'triage.yaml' });
    expect(unset.message).toBe('environment variable SLACK_BOT_TOKEN is not set');
    expect(unset.fix).toMatch(/set SLACK_BOT_TOKEN/);

    const [empty] = errorsOf(() => resolveSecret('env:SLACK_BOT_TOKEN', { SLACK_BOT_TOKEN: '' }, 'p'));
    expect(empty.message).toMatch(/is empty/);

    const [nofile] = errorsOf(() => resolveSecret(`file:${join(dir, 'nope')}`, {}, 'chat.slack.signingSecret'));
    expect(nofile.code).toBe('SECRET_UNRESOLVED');
    expect(nofile.message).toContain('ENOENT');
    expect(nofile.fix).toContain(join(dir, 'nope'));
  });
});

describe('finding the config and Redis', () => {
  const minimal = 'hosts: { local: { address: local } }\ntargets: { demo: { hosts: [local] } }\n';

  it('uses --config, then $TRIAGE_CONFIG, then ./triage.yaml', async () => {
    write('triage.yaml', minimal);
    write('from-env.yaml', minimal);
    const flag = join(FIXTURES, 'minimal.yaml');
    const env = { TRIAGE_CONFIG: 'from-env.yaml' };
    expect((await loadConfig({ cwd: dir, env: {} })).file).toBe(join(dir, 'triage.yaml'));
    expect((await loadConfig({ cwd: dir, env })).file).toBe(join(dir, 'from-env.yaml'));
    expect((await loadConfig({ cwd: dir, env, file: flag })).file).toBe(flag);
  });

  it('a missing file is CONFIG_NOT_FOUND naming the three places', async () => {
    const [none] = await errorsOfAsync(loadConfig({ cwd: dir, env: {} }));
    expect(none.code).toBe('CONFIG_NOT_FOUND');
    expect(none.file).toBe(join(dir, 'triage.yaml'));
    expect(none.fix).toMatch(/--config FILE.*\$TRIAGE_CONFIG.*triage\.yaml in /);

    const [fromEnv] = await errorsOfAsync(loadConfig({ cwd: dir, env: { TRIAGE_CONFIG: '/nowhere/t.yaml' } }));
    expect(fromEnv.message).toBe('$TRIAGE_CONFIG names /nowhere/t.yaml, which does not exist');

    // An explicitly named file must exist even when a file is optional.
    await expect(loadConfig({ cwd: dir, env: {}, file: 'x.yaml', requireFile: false })).rejects.toMatchObject({ code: 'CONFIG_NOT_FOUND' });
    const empty = await loadConfig({ cwd: dir, env: {}, requireFile: false });
    expect(empty).toMatchObject({ file: '', config: { hosts: {}, targets: {} } });
  });

  it('Redis comes from the config, else $REDIS_URL, else the default', () => {
    const env = { REDIS_URL: 'redis://queue.internal:6380' };
    expect(parseConfig(minimal, 't.yaml', {})).toMatchObject({ redisUrl: DEFAULT_REDIS_URL, redisFromDefault: true });
    expect(parseConfig(minimal, 't.yaml', env)).toMatchObject({ redisUrl: env.REDIS_URL, redisFromDefault: false });
    expect(parseConfig(`redis: rediss://r.example.com:6379\n${minimal}`, 't.yaml', env)).toMatchObject({
      redisUrl: 'rediss://r.example.com:6379',
      redisFromDefault: false,
    });
    const [bad] = errorsOf(() => parseConfig(minimal, 't.yaml', { REDIS_URL: 'localhost:6379' }));
    expect(bad).toMatchObject({ code: 'CONFIG_INVALID', path: '$REDIS_URL' });
  });
});

describe('targets', () => {
  const config = parseConfig(`${HOSTS}targets:\n  wushipay: { hosts: [web1, web2] }\n  admin: { hosts: [local] }\n`, 't.yaml', {}).config;

  it('lists a target’s hosts, or just the one asked for', () => {
    expect(targetNames(config)).toEqual(['wushipay', 'admin']);
    expect(targetHosts(config, 'wushipay')).toEqual(['web1', 'web2']);
    expect(targetHosts(config, 'wushipay', 'web2')).toEqual(['web2']);
  });

  it('an unknown target lists the known ones', () => {
    const [err] = errorsOf(() => targetHosts(config, 'wushipy'));
    expect(err).toMatchObject({ code: 'TARGET_UNKNOWN', fix: 'known targets: wushipay, admin' });
    expect(err.message).toMatch(/did you mean 'wushipay'/);
    const [hostile] = errorsOf(() => targetHosts(config, `x; rm -rf / ${'a'.repeat(200)}`));
    expect(hostile.message.length).toBeLessThan(120);
  });

  it('a --host outside the target lists the target’s hosts', () => {
    const [err] = errorsOf(() => targetHosts(config, 'wushipay', 'local'));
    expect(err).toMatchObject({ code: 'HOST_UNKNOWN', fix: 'hosts of wushipay: web1, web2' });
  });
});
