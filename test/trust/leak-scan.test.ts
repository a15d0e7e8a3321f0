/**
 * The leak scan. Secrets are planted where a real incident puts them — an
 * env file on an SSH host, a log file, command output, a database URL, a
 * capture, a secret param — and a runbook that reads all of them runs through
 * the real queue: `triage run --json`, `triage run`, `triage status`, and a
 * chat thread. Then every place a secret could end up is searched for each
 * planted value and its base64, base64url, URL-encoded and hex forms: stdout
 * and stderr, every version of every chat message and file, the audit log,
 * and every Redis key under the test's prefix (strings, hashes, lists, sets,
 * sorted sets, streams: all values dumped).
 *
 * Before it, one story per route a secret used to take, each closed at its
 * cause.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { purgePrefix, runCli } from '../support/cli.ts';
import { startTelegramDriver, storyAccess } from '../support/chat-drivers.ts';
import { ConsoleChat } from '../support/console-chat.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';

const R = '«redacted»';

let fleet: Fleet;
let dir: string;
let config: string;
let runbooks: string;
let configObject: Record<string, unknown>;

const rnd = (n: number) => randomBytes(n).toString('base64url').replace(/[-_]/g, 'x');

/** Fresh every run, so a value found can only have come from this test. */
const planted = {
  /** In the env file as JWT_SECRET, with + / = so its URL-encoded form differs. */
  jwt: `${randomBytes(24).toString('base64').slice(0, 30)}+/=`,
  /** The password in DATABASE_URL (env file) and in a log line. */
  dbPassword: `Pw${rnd(12)}`,
  /** `bearer token …` in lower case in a log line. */
  bearer: `bt${rnd(20)}`,
  /** An AWS secret access key on a log line, unnamed, beside its key id. */
  awsSecret: randomBytes(30).toString('base64'),
  /** 64 hex characters under an innocent name in command output. */
  traceBlob: randomBytes(32).toString('hex'),
  /** Printed by a `secretOutput` step and captured; later seen bare in a log. */
  signing: `sg${rnd(18)}`,
  /** A secret runbook param (env:LEAK_TOKEN), echoed and base64-encoded by a step. */
  param: `pt-${randomBytes(12).toString('hex')}`,
};
const awsKeyId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
/** Looks random but the step declares it safe: it must survive. */
const requestId = randomBytes(16).toString('hex');

/** A planted value and the encoded forms it must not appear in either. */
function forms(value: string): Record<string, string> {
  const b = Buffer.from(value);
  return {
    plain: value,
    base64: b.toString('base64'),
    'base64 unpadded': b.toString('base64').replace(/=+$/, ''),
    base64url: b.toString('base64url'),
    'URL-encoded': encodeURIComponent(value),
    hex: b.toString('hex'),
  };
}

const LOG = (p: typeof planted) =>
  [
    `2024-06-03T10:00:01Z INFO upstream call with bearer token ${p.bearer}`,
    `2024-06-03T10:00:02Z WARN boto3 credentials ${awsKeyId} ${p.awsSecret} region=eu-west-1`,
    `2024-06-03T10:00:03Z INFO GET /callback?state=${encodeURIComponent(p.jwt)} 302`,
    `2024-06-03T10:00:04Z DEBUG session blob ${Buffer.from(p.jwt).toString('base64')}`,
    `2024-06-03T10:00:05Z DEBUG db auth hex ${Buffer.from(p.dbPassword).toString('hex')}`,
    `2024-06-03T10:00:06Z ERROR connecting to postgres://u:${p.dbPassword}@db.internal:5432/app failed: timeout`,
    `2024-06-03T10:00:07Z INFO handshake with ${p.signing} ok`,
    '2024-06-03T10:00:08Z ERROR invalid signature for request',
  ].join('\n');

/* biome-ignore-start lint/suspicious/noTemplateCurlyInString: runbook templates, not JS ones */
const LEAK_RUNBOOK = {
  name: 'leak',
  description: 'reads every place a secret hides',
  params: [{ name: 'token', type: 'string', secret: true, description: 'API token' }],
  steps: [
    {
      id: 'env',
      title: 'the env file',
      run: 'cat ${{ target.workdir }}/.env',
      capture: { jwt: { regex: 'JWT_SECRET=(\\S+)' } },
      summary: 'JWT_SECRET is ${{ env.jwt }}',
      status: { fail: 'env.jwt != null' },
      finding: { code: 'jwt-rejected', title: 'the app rejects JWT ${{ env.jwt }}', evidence: ['jwt: ${{ env.jwt }}'], fix: 'rotate ${{ env.jwt }} and restart' },
    },
    {
      id: 'cfg',
      title: 'the app config',
      secretOutput: true,
      run: `cat \${{ target.workdir }}/.env; echo "signing_material=${planted.signing}"`,
      capture: { sign: { regex: 'signing_material=(\\S+)' }, lines: { regex: '^.+$', type: 'count' } },
      summary: 'signing material ${{ cfg.sign }}, ${{ cfg.lines }} lines',
      status: { fail: 'cfg.sign == null' },
    },
    {
      id: 'logs',
      title: 'the app log',
      run: 'cat ${{ target.workdir }}/app.log',
      capture: { last: { regex: '^.*ERROR (.*)$' } },
      // warn and fail put a step's output in the chat thread
      status: { warn: 'logs.last != null' },
    },
    {
      id: 'trace',
      title: 'the tracer',
      run: `echo "trace_blob=${planted.traceBlob}"; echo "request_id=${requestId}"`,
      safe: ['request_id'],
      status: { warn: 'true' },
    },
    {
      id: 'call',
      title: 'the API with its token',
      run: 'echo "calling api with ${{ params.token }}"; printf %s ${{ params.token }} | base64',
      status: { warn: 'true' },
    },
  ],
  findings: [
    {
      code: 'upstream-auth',
      when: "logs.last != null && env.status == 'fail'",
      title: 'upstream auth fails: ${{ logs.last }}',
      evidence: ['log: ${{ logs.last }}', 'jwt ${{ env.jwt }}'],
      fix: 'check ${{ env.jwt }}',
    },
  ],
};
/* biome-ignore-end lint/suspicious/noTemplateCurlyInString: runbook templates, not JS ones */

function writeRunbook(name: string, rb: object): void {
  writeFileSync(join(runbooks, `${name}.yaml`), stringify(rb));
}

beforeAll(async () => {
  fleet = await startFleet({ hosts: 1 });
  dir = mkdtempSync(join(tmpdir(), 'triage-leak-'));
  writeFileSync(
    join(dir, '.env'),
    [
      'NODE_ENV=production',
      'PORT=8000',
      `JWT_SECRET=${planted.jwt}`,
      `DATABASE_URL=postgres://u:${planted.dbPassword}@db.internal:5432/app`,
      `AWS_ACCESS_KEY_ID=${awsKeyId}`,
      `AWS_SECRET_ACCESS_KEY=${planted.awsSecret}`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'app.log'), `${LOG(planted)}\n`);
  runbooks = join(dir, 'runbooks');
  mkdirSync(runbooks);
  writeRunbook('leak', LEAK_RUNBOOK);
  configObject = { hosts: fleetConfigHosts(fleet), targets: { shop: { hosts: ['web1'], workdir: dir, port: 8000 } } };
  config = join(dir, 'triage.yaml');
  writeFileSync(config, stringify(configObject));
});
afterAll(async () => {
  await fleet?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const run = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(['run', ...args, '--config', config, '--runbooks', runbooks], { env });

/** Runs a one-off runbook on web1 and returns the parsed --json result. */
async function runOne(rb: Record<string, unknown>, args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  writeRunbook(String(rb.name), { description: 'one route', ...rb });
  const r = await run([String(rb.name), 'shop', '--json', ...args], env);
  expect(r.json, r.stderr).toBeDefined();
  return r;
}

/* biome-ignore-start lint/suspicious/noTemplateCurlyInString: runbook templates, not JS ones */
describe('each route a secret took is closed at its cause', () => {
  it('a capture of a secret (JWT_SECRET=(\\S+)) is redacted in the summary, captures, finding title and evidence, and wherever it shows up later', async () => {
    const secret = `Js${rnd(20)}`;
    const r = await runOne({
      name: 'capture',
      steps: [
        {
          id: 'env',
          title: 'env',
          run: `echo "JWT_SECRET=${secret}"`,
          capture: { jwt: { regex: 'JWT_SECRET=(\\S+)' } },
          summary: 'jwt ${{ env.jwt }}',
          status: { fail: 'env.jwt != null' },
          finding: { code: 'bad-jwt', title: 'bad jwt ${{ env.jwt }}', evidence: ['value ${{ env.jwt }}'], fix: 'rotate it' },
        },
        { id: 'later', title: 'later', run: `echo "verifying with ${secret}"` },
      ],
    });
    expect(r.stdout).not.toContain(secret);
    const [env, later] = r.json.hosts[0].steps;
    expect(env.output).toBe(`JWT_SECRET=${R}`);
    expect(env.captures).toEqual({ jwt: R });
    expect(env.summary).toBe(`jwt ${R}`);
    expect(r.json.findings[0]).toMatchObject({ code: 'bad-jwt', title: `bad jwt ${R}`, evidence: [`value ${R}`] });
    expect(later.output).toBe(`verifying with ${R}`);
  });

  it("a known secret's base64, base64url, URL-encoded and hex forms", async () => {
    const secret = `Sx/${rnd(14)}+!`;
    const f = forms(secret);
    const r = await runOne(
      {
        name: 'encoded',
        params: [{ name: 'token', type: 'string', secret: true }],
        steps: [{ id: 'enc', title: 'encodings', run: `echo ${Object.values(f).slice(1).map((v) => `'${v}'`).join(' ')}; echo \${{ params.token }}` }],
      },
      ['--param', 'token=env:ENC_TOKEN'],
      { ENC_TOKEN: secret },
    );
    for (const [name, form] of Object.entries(f)) expect(r.stdout, `${name} leaked`).not.toContain(form);
    expect(r.json.hosts[0].steps[0].output).toBe(`${Array(Object.keys(f).length - 1).fill(R).join(' ')}\n${R}`);
  });

  it('a credential after "bearer token", "api key", "password" in any case', async () => {
    const values = [`a${rnd(16)}`, `b${rnd(16)}`, `c${rnd(16)}9`, `d${rnd(16)}`];
    const r = await runOne({
      name: 'words',
      steps: [
        {
          id: 'log',
          title: 'log',
          run: `echo "retrying with bearer token ${values[0]}"; echo "BEARER ${values[1]}"; echo "the password is ${values[2]}"; echo "invalid api key ${values[3]}"`,
        },
      ],
    });
    for (const v of values) expect(r.stdout).not.toContain(v);
    expect(r.json.hosts[0].steps[0].output).toBe(`retrying with bearer token ${R}\nBEARER ${R}\nthe password is ${R}\ninvalid api key ${R}`);
  });

  it('an AWS secret access key on a line without its name', async () => {
    const key = randomBytes(30).toString('base64');
    const r = await runOne({ name: 'aws', steps: [{ id: 'creds', title: 'creds', run: `echo "using ${awsKeyId} ${key} for s3"` }] });
    expect(r.stdout).not.toContain(key);
    expect(r.json.hosts[0].steps[0].output).toBe(`using ${R} ${R} for s3`);
  });

  it('long hex and base64 under innocent names, unless the step declares the field safe; ordinary output survives', async () => {
    const hex = randomBytes(32).toString('hex');
    const span = randomBytes(32).toString('hex');
    const b64 = randomBytes(24).toString('base64');
    const ordinary = [
      'GET /api/v1/orders HTTP/1.1 502 upstream=http://127.0.0.1:8000',
      'pid=48123 port=8000 at 2024-06-03T10:00:01.123Z',
      'request 550e8400-e29b-41d4-a716-446655440000',
      'deployed 9fceb02d0ae598e95dc970b74767f19372d61af8',
      'nginx: /etc/nginx/sites-enabled/wushipay.conf',
    ];
    const r = await runOne({
      name: 'entropy',
      steps: [
        {
          id: 'trace',
          title: 'trace',
          run: `echo "trace_blob=${hex}"; echo "payload ${b64}"; echo "span_id=${span}"; ${ordinary.map((l) => `echo '${l}'`).join('; ')}`,
          capture: { span: { regex: 'span_id=(\\w+)' }, blob: { regex: 'trace_blob=(\\w+)' } },
          safe: ['span_id', 'span'],
        },
      ],
    });
    const step = r.json.hosts[0].steps[0];
    expect(step.output.split('\n')).toEqual([`trace_blob=${R}`, `payload ${R}`, `span_id=${span}`, ...ordinary]);
    expect(step.captures).toEqual({ span, blob: R });
  });

  it('a secretOutput step shows only its size; its captures drive the rules but are hidden when shown', async () => {
    const material = `m${rnd(18)}`;
    const out = `KEY_MATERIAL ${material}\n`;
    const r = await runOne({
      name: 'secretout',
      steps: [
        {
          id: 'dump',
          title: 'key dump',
          secretOutput: true,
          run: `printf '%s' '${out}'`,
          capture: { material: { regex: 'KEY_MATERIAL (\\S+)' }, n: { regex: '^KEY', type: 'count' } },
          summary: 'material ${{ dump.material }}',
          status: { fail: `dump.material == '${material}'` },
          finding: { code: 'key-found', title: 'found ${{ dump.material }} (${{ dump.n }})', fix: 'rotate it' },
        },
        { id: 'echo', title: 'echo', run: `echo "seen ${material} again"` },
      ],
    });
    expect(r.stdout).not.toContain(material);
    const [dump, echo] = r.json.hosts[0].steps;
    expect(dump.output).toBe(`«secret output: ${Buffer.byteLength(out.trimEnd())} bytes»`);
    expect(dump.status).toBe('fail'); // the rule saw the real value
    expect(dump.captures).toEqual({ material: R, n: 1 });
    expect(dump.summary).toBe(`material ${R}`);
    expect(r.json.findings[0].title).toBe(`found ${R} (1)`);
    expect(echo.output).toBe(`seen ${R} again`);
  });
});
/* biome-ignore-end lint/suspicious/noTemplateCurlyInString: runbook templates, not JS ones */

describe('error messages keep what is wrong and how to fix it', () => {
  it('a bad privateKey path and an inline botToken: lint and run both say so, with the fix', async () => {
    const bad = join(dir, 'bad.yaml');
    const inline = `xoxb-${randomBytes(8).toString('hex')}-inline`;
    writeFileSync(
      bad,
      stringify({
        hosts: { web1: { address: '127.0.0.2', user: 'app', privateKey: '/nonexistent/deploy_key', hostKey: fleet.hostKeyFingerprint } },
        targets: { shop: { hosts: ['web1'] } },
        chat: { slack: { botToken: inline, signingSecret: 'env:SLACK_SIGNING_SECRET', allowedChannels: ['C1'] } },
      }),
    );
    const lint = await runCli(['lint', bad]);
    const run = await runCli(['run', 'leak', 'shop', '--config', bad, '--runbooks', runbooks]);
    for (const r of [lint, run]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/chat\.slack\.botToken: secrets may not be written inline .*— put it in an environment variable and write env:NAME/);
      expect(r.stderr).not.toContain(inline);
      expect(r.stderr).not.toContain(`botToken: ${R}`);
    }
    // The key file is only read once the schema is valid.
    writeFileSync(bad, stringify({ hosts: { web1: { address: '127.0.0.2', user: 'app', privateKey: '/nonexistent/deploy_key', hostKey: fleet.hostKeyFingerprint } }, targets: { shop: { hosts: ['web1'] } } }));
    const lint2 = await runCli(['lint', bad]);
    const run2 = await runCli(['run', 'leak', 'shop', '--config', bad, '--runbooks', runbooks]);
    for (const r of [lint2, run2]) {
      expect(r.stderr).toMatch(/hosts\.web1\.privateKey: cannot read private key \/nonexistent\/deploy_key: ENOENT/);
      expect(r.stderr).toContain('ssh-keygen -t ed25519 -f /nonexistent/deploy_key');
      expect(r.stderr).not.toContain(R);
    }
  });
});

// ---------------------------------------------------------------------------
// The scan

/** Every value stored under `prefix`, one string per place (a string key, a hash field, a list item, a stream entry, ...). */
async function dumpRedis(prefix: string): Promise<{ keys: number; places: { where: string; text: string }[] }> {
  const r = new Redis('redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
  const places: { where: string; text: string }[] = [];
  let keys = 0;
  try {
    let cursor = '0';
    do {
      const [next, batch] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of batch) {
        keys++;
        const type = await r.type(key);
        const add = (part: string, text: string) => places.push({ where: `redis ${type} ${key}${part}`, text });
        add(' (name)', key);
        if (type === 'string') add('', (await r.getBuffer(key))?.toString('latin1') ?? '');
        else if (type === 'hash') for (const [f, v] of Object.entries(await r.hgetall(key))) add(` ${f}`, `${f}\n${v}`);
        else if (type === 'list') for (const [i, v] of (await r.lrange(key, 0, -1)).entries()) add(`[${i}]`, v);
        else if (type === 'set') for (const v of await r.smembers(key)) add(' member', v);
        else if (type === 'zset') for (const v of await r.zrange(key, '0', '-1', 'WITHSCORES')) add(' member', v);
        else if (type === 'stream') for (const [id, fields] of await r.xrange(key, '-', '+')) add(` ${id}`, fields.join('\n'));
        else add(' (unknown type)', type);
      }
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
  return { keys, places };
}

describe('the leak scan', () => {
  it('plants secrets everywhere, runs through the queue, CLI, status and chat, and finds none of them anywhere', async () => {
    const prefix = `t-leak-${randomBytes(4).toString('hex')}`;
    const env = { LEAK_TOKEN: planted.param, TRIAGE_PREFIX: prefix, TELEGRAM_BOT_TOKEN: '' };
    const places: { where: string; text: string }[] = [];
    try {
      const json = await run(['leak', 'shop', '--json', '--param', 'token=env:LEAK_TOKEN'], env);
      expect(json.code, json.stderr).toBe(1);
      const runId: string = json.json.runId;
      const human = await run(['leak', 'shop', '--param', 'token=env:LEAK_TOKEN'], env);
      const status = await runCli(['status', runId, '--json', '--config', config], { env });
      const statusHuman = await runCli(['status', runId, '--config', config], { env });
      const recent = await runCli(['status', '--config', config], { env });
      for (const [what, r] of Object.entries({ 'run --json': json, run: human, 'status --json': status, status: statusHuman, 'status (recent)': recent })) {
        places.push({ where: `${what} stdout`, text: r.stdout }, { where: `${what} stderr`, text: r.stderr });
      }

      // The run did its work, and what is not secret survived.
      const steps = json.json.hosts[0].steps;
      expect(steps.map((s: { id: string; status: string }) => `${s.id}:${s.status}`)).toEqual(['env:fail', 'cfg:pass', 'logs:warn', 'trace:warn', 'call:warn']);
      expect(json.json.cause).toBe('upstream-auth');
      expect(steps[0].output).toContain('PORT=8000');
      expect(steps[1].output).toMatch(/^«secret output: \d+ bytes»$/);
      expect(steps[3].output).toBe(`trace_blob=${R}\nrequest_id=${requestId}`);
      expect(steps[2].output).toContain('ERROR invalid signature for request');

      // The same run from chat: every message version and file the chat got, and the audit trail.
      const chat = await ConsoleChat.start({
        config: { ...configObject, chat: { telegram: { token: 'env:TELEGRAM_BOT_TOKEN', allowedChats: [-100] } } },
        runbookDirs: [runbooks],
        env: { ...process.env, ...env },
      });
      try {
        await chat.send('/diagnose leak shop');
        const card = await chat.waitForFinalCard({ timeoutMs: 60_000 });
        expect(card).toContain('upstream-auth');
        const chatRun = chat.runId()!;
        expect(chat.thread(chatRun)).toContain('── logs (warn) ──');
        await chat.send(`/status ${chatRun}`);
        for (const m of chat.log.messages) {
          for (const [i, v] of m.versions.entries()) places.push({ where: `chat message ${m.ref.id} v${i}`, text: JSON.stringify(v) });
        }
        for (const f of chat.log.files) places.push({ where: `chat file ${f.file.filename}`, text: `${f.file.filename}\n${String(f.file.content)}` });
        places.push({ where: 'chat core log', text: chat.logged.join('\n') });
        places.push({ where: 'audit log', text: JSON.stringify(await chat.auditEntries(1000)) });
        const chatRedis = await dumpRedis(chat.queue.prefix);
        places.push(...chatRedis.places);
      } finally {
        await chat.close();
      }

      // And on Telegram: what the fake Bot API recorded (the real adapter, the real core, a worker).
      const tg = await startTelegramDriver({ runbooks: { leak: LEAK_RUNBOOK }, config: { ...configObject, access: storyAccess() } });
      try {
        await tg.send('responder', '/diagnose leak shop');
        const card = await tg.waitForFinalCard(60_000);
        expect(card).toContain('upstream-auth');
        for (const [i, v] of tg.cardVersions().entries()) places.push({ where: `telegram card v${i}`, text: v });
        const thread = tg.thread();
        for (const [i, m] of thread.messages.entries()) places.push({ where: `telegram thread message ${i}`, text: m });
        for (const f of thread.files) places.push({ where: `telegram file ${f.filename}`, text: `${f.filename}\n${f.content}` });
        places.push({ where: 'telegram notices', text: tg.notices().join('\n') });
        places.push({ where: 'telegram audit', text: JSON.stringify(await tg.audit()) });
        places.push({ where: 'telegram bot log', text: tg.logged.join('\n') });
        expect(thread.messages.join('\n')).toContain('handshake with «redacted» ok');
      } finally {
        await tg.close();
      }

      const redis = await dumpRedis(prefix);
      expect(redis.keys).toBeGreaterThan(5);
      places.push(...redis.places);

      // The planting worked: every value is in the files, runbook and environment the run read.
      const sources = [readFileSync(join(dir, '.env'), 'utf8'), readFileSync(join(dir, 'app.log'), 'utf8'), JSON.stringify(LEAK_RUNBOOK), env.LEAK_TOKEN].join('\n');
      for (const [name, value] of Object.entries(planted)) expect(sources, `${name} was not planted`).toContain(value);

      const found: string[] = [];
      const plantedForms = Object.entries(planted).flatMap(([name, value]) => Object.entries(forms(value)).map(([form, text]) => ({ name: `${name} (${form})`, text })));
      for (const p of places) for (const f of plantedForms) if (p.text.includes(f.text)) found.push(`${f.name} in ${p.where}`);
      const figures = `planted ${Object.keys(planted).length} secrets (${plantedForms.length} forms), scanned ${places.length} places (${redis.keys} Redis keys under the CLI prefix), ${found.length} found`;
      console.log(`leak scan: ${figures}`);
      expect(found, figures).toEqual([]);
      // The scan can see a leak: the safe request id, planted the same way, is found.
      expect(places.some((p) => p.text.includes(requestId))).toBe(true);
    } finally {
      await purgePrefix(prefix);
    }
  });
});
