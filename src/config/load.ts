/**
 * Finding, reading and validating `triage.yaml`.
 *
 * Every problem is reported as a {@link TriageError} naming the file, the
 * dotted path inside it (`targets.wushipay.port`), the line where YAML can
 * tell, and one sentence saying how to fix it. Schema problems are collected
 * and thrown together as {@link TriageErrors}, never one at a time (the
 * wording is `src/schema-errors.ts`'s, shared with runbooks).
 *
 * Paths in a loaded config are absolute: `~` is expanded and relative
 * `privateKey`, `knownHosts` and `file:` secret paths are resolved against the
 * directory of the config file. Deliberately left out: key files and secrets
 * are not read here but only when a host or secret is used (`resolve.ts`,
 * `secrets.ts`), so the chat bot can load the same file without the SSH keys
 * being present.
 */
import { dirname, resolve as resolvePath } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { TriageError, TriageErrors } from '../errors.ts';
import { schemaErrors } from '../schema-errors.ts';
import { readTextFile, yamlToJS } from '../text-file.ts';
import { expandPath } from './paths.ts';
import { describeRedis, type RedisConfig } from './redis.ts';
import { type Config, ConfigSchema } from './schema.ts';

/** A validated config and where it came from. */
export interface LoadedConfig {
  /** Absolute path of the config file; `''` when none was found and `requireFile: false`. */
  file: string;
  config: Config;
  /** `config.redis` (a URL; for a Sentinel set or a Cluster, a description without secrets), else `$REDIS_URL`, else `redis://127.0.0.1:6379`. */
  redisUrl: string;
  /** True when neither the config nor `$REDIS_URL` named a Redis (so `run`/`demo` may start a private one). */
  redisFromDefault: boolean;
}

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** `--config FILE`. Takes precedence over `$TRIAGE_CONFIG` and `./triage.yaml`. */
  file?: string;
  /** Directory for `./triage.yaml` and relative paths. Default `process.cwd()`. */
  cwd?: string;
  /** Environment (`TRIAGE_CONFIG`, `REDIS_URL`, `HOME`). Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * Default true. When false and no file was named (by `file` or
   * `$TRIAGE_CONFIG`) and `./triage.yaml` does not exist, an empty config
   * (`hosts: {}, targets: {}`) is returned with `file: ''` instead of an error.
   */
  requireFile?: boolean;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * Finds, reads and validates the config: `opts.file`, else `$TRIAGE_CONFIG`,
 * else `./triage.yaml` in `cwd`.
 * @throws TriageError CONFIG_NOT_FOUND, CONFIG_YAML, or TriageErrors with every CONFIG_INVALID problem.
 */
export async function loadConfig(opts: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const fromEnv = env.TRIAGE_CONFIG || undefined;
  const source = opts.file ? 'flag' : fromEnv ? 'env' : 'default';
  const file = resolvePath(cwd, opts.file || fromEnv || 'triage.yaml');
  let text: string;
  try {
    // Size and encoding are checked before the whole file is read or parsed (see text-file.ts).
    text = readTextFile(file, { code: 'CONFIG_INVALID', what: 'config file' });
  } catch (err) {
    if (err instanceof TriageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      if (source === 'default' && opts.requireFile === false) {
        return { file: '', config: { hosts: {}, targets: {} }, ...redisOf(undefined, env) };
      }
      const why = source === 'flag' ? '--config names' : source === 'env' ? '$TRIAGE_CONFIG names' : 'no --config or $TRIAGE_CONFIG given, and';
      throw new TriageError('CONFIG_NOT_FOUND', `${why} ${file}, which does not exist`, {
        file,
        fix: `pass --config FILE, set $TRIAGE_CONFIG to the file, or create triage.yaml in ${cwd} (start from examples/triage.yaml)`,
        cause: err,
      });
    }
    throw new TriageError('CONFIG_INVALID', `cannot read the config file: ${(err as Error).message}`, {
      file,
      fix: code === 'EISDIR' ? 'point to the triage.yaml file, not its directory' : 'make the file readable by the user running Triage',
      cause: err,
    });
  }
  return parseConfig(text, file, env);
}

/**
 * Validates config text. `file` is used in errors and as the base for
 * relative paths. Reads no files (key files are read by `resolveHost`).
 * @throws TriageErrors with every CONFIG_YAML or CONFIG_INVALID problem.
 */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new TriageErrors(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const what = e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
        return new TriageError('CONFIG_YAML', `YAML syntax error${pos ? ` at line ${pos.line}:${pos.col}` : ''}: ${what}`, {
          file,
          fix: yamlFix(e.code, pos?.line),
          cause: e,
        });
      }),
    );
  }
  const raw = yamlToJS(doc, file, 'CONFIG_YAML');
  if (raw === null || raw === undefined) {
    throw new TriageErrors([
      new TriageError('CONFIG_INVALID', 'the config file is empty', { file, fix: 'add at least hosts: and targets: (see examples/triage.yaml)' }),
    ]);
  }
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new TriageErrors(
      schemaErrors(parsed.error.issues, { schema: ConfigSchema, code: 'CONFIG_INVALID', file, doc, lineCounter, example: exampleFor, fallbackFix: 'see examples/triage.yaml for the expected form' }),
    );
  }
  const config = normalisePaths(parsed.data, dirname(resolvePath(file)), env);
  return { file: resolvePath(file), config, ...redisOf(config.redis, env) };
}

function redisOf(fromConfig: RedisConfig | undefined, env: NodeJS.ProcessEnv): Pick<LoadedConfig, 'redisUrl' | 'redisFromDefault'> {
  // A Sentinel set or a Cluster: redisUrl only names it (connectRedis takes config.redis itself).
  if (fromConfig) return { redisUrl: typeof fromConfig === 'string' ? fromConfig : describeRedis(fromConfig), redisFromDefault: false };
  const fromEnv = env.REDIS_URL;
  if (fromEnv) {
    if (!/^rediss?:\/\/\S+$/.test(fromEnv)) {
      throw new TriageError('CONFIG_INVALID', '$REDIS_URL is not a redis:// URL', {
        path: '$REDIS_URL',
        fix: 'set REDIS_URL=redis://HOST:6379 (or rediss:// for TLS), or put redis: in the config',
      });
    }
    return { redisUrl: fromEnv, redisFromDefault: false };
  }
  return { redisUrl: DEFAULT_REDIS_URL, redisFromDefault: true };
}

function normaliseSecret(ref: string, baseDir: string, env: NodeJS.ProcessEnv): string {
  return ref.startsWith('file:') ? `file:${expandPath(ref.slice(5), baseDir, env)}` : ref;
}

function normalisePaths(config: Config, baseDir: string, env: NodeJS.ProcessEnv): Config {
  const path = (p: string | undefined) => (p === undefined ? undefined : expandPath(p, baseDir, env));
  const secret = <T extends string | undefined>(r: T): T => (r === undefined ? r : (normaliseSecret(r, baseDir, env) as T));
  const hosts = Object.fromEntries(
    Object.entries(config.hosts).map(([name, h]) => [
      name,
      { ...h, privateKey: path(h.privateKey), knownHosts: path(h.knownHosts), passphrase: secret(h.passphrase) },
    ]),
  );
  for (const h of Object.values(hosts)) {
    for (const k of ['privateKey', 'knownHosts', 'passphrase'] as const) if (h[k] === undefined) delete h[k];
  }
  const chat = config.chat && { ...config.chat };
  if (chat?.telegram) {
    const tg = chat.telegram;
    const mode = typeof tg.mode === 'object' ? { webhook: { ...tg.mode.webhook, secretToken: secret(tg.mode.webhook.secretToken) } } : tg.mode;
    chat.telegram = { ...tg, token: secret(tg.token), mode };
  }
  if (chat?.slack) {
    const s = chat.slack;
    chat.slack = { ...s, botToken: secret(s.botToken), signingSecret: secret(s.signingSecret) };
    if (s.appToken !== undefined) chat.slack.appToken = secret(s.appToken);
  }
  return { ...config, hosts, ...(chat ? { chat } : {}) };
}

/** Example values for fixes, by path pattern (`*` = any name or index), then by key. */
const EXAMPLES: Record<string, string> = {
  hosts: 'hosts: { web1: { address: 10.0.0.5, user: ubuntu, agent: true, knownHosts: ~/.ssh/known_hosts } }',
  targets: 'targets: { wushipay: { hosts: [web1], port: 8000 } }',
  'targets.*.hosts': 'hosts: [web1]',
  'targets.*.port': 'port: 8000',
  'hosts.*.port': 'port: 22',
  'targets.*.service.name': 'name: wushipay-api.service',
  'targets.*.database.host': 'host: 127.0.0.1',
  'schedules.*.name': 'name: morning',
  'schedules.*.targets': 'targets: all',
  address: 'address: 10.0.0.5',
  user: 'user: ubuntu',
  privateKey: 'privateKey: ~/.ssh/id_ed25519',
  knownHosts: 'knownHosts: ~/.ssh/known_hosts',
  agent: 'agent: true',
  zone: 'zone: default',
  manager: 'manager: systemd',
  kind: 'kind: postgres',
  health: 'health: http://127.0.0.1:8000/health',
  workdir: 'workdir: /home/ubuntu/app',
  requiredEnv: 'requiredEnv: [DATABASE_URL]',
  token: 'token: env:TELEGRAM_BOT_TOKEN',
  botToken: 'botToken: env:SLACK_BOT_TOKEN',
  signingSecret: 'signingSecret: env:SLACK_SIGNING_SECRET',
  appToken: 'appToken: env:SLACK_APP_TOKEN',
  secretToken: 'secretToken: env:TELEGRAM_WEBHOOK_SECRET',
  url: 'url: https://triage.example.com/telegram',
  allowedChats: 'allowedChats: [-1001234]',
  allowedChannels: 'allowedChannels: [C0123ABC]',
  roles: 'roles: { responder: [slack:U123] }',
  cron: 'cron: "0 9 * * *"',
  tz: 'tz: UTC',
  runbook: 'runbook: health',
  post: 'post: slack:C123',
  rotation: 'rotation: [slack:U123, slack:U456]',
  config: 'config: /etc/nginx/nginx.conf',
  site: 'site: /etc/nginx/sites-enabled/app',
  location: 'location: /api',
  file: 'file: /var/log/app.log',
  redis: 'redis: redis://127.0.0.1:6379',
};

function exampleFor(path: readonly PropertyKey[]): string | undefined {
  const pattern = path.map((s, i) => (typeof s === 'number' || (i === 1 && (path[0] === 'hosts' || path[0] === 'targets')) ? '*' : String(s))).join('.');
  return EXAMPLES[pattern] ?? EXAMPLES[String(path[path.length - 1])];
}

function yamlFix(code: string, line: number | undefined): string {
  const at = line ? ` on line ${line}` : '';
  switch (code) {
    case 'DUPLICATE_KEY':
      return `remove or rename the repeated key${at}`;
    case 'TAB_AS_INDENT':
      return `indent with spaces, not tabs${at}`;
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
      return `line up keys at the same level with the same number of spaces${at}, and put ': ' after each key`;
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return `put a space after ':'${at}, or quote values that contain ': '`;
    default:
      return `fix the YAML${at}: check indentation, the ': ' after keys, and quote values that contain : # [ ] { } or *`;
  }
}
