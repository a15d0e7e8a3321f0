/**
 * The schema of `triage.yaml`: every key, its type, default, description and
 * the checks across keys, as zod schemas — and the config types inferred from
 * them. `docs/config.md` and the editor help are generated from here
 * (`npm run docs`), so a key's `.describe()` / `.meta()` is its documentation.
 *
 * A check's message is "what is wrong\nfix: what to do" ({@link say}); the
 * shared translator in `src/schema-errors.ts` splits it into the error's
 * message and `fix`, and adds the path and the line.
 *
 * Deliberately left out: reading files, paths relative to the config file and
 * secrets (`load.ts`, `secrets.ts`), and whatever needs the disk, such as
 * key files and known_hosts (`lint.ts`).
 */
import { isIP } from 'node:net';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { DurationSchema } from '../runbooks/schema.ts';
import { didYouMean, say } from '../schema-errors.ts';
import { REDIS_DESCRIPTION, REDIS_EXAMPLES, RetentionSchema, redisSchema } from './redis.ts';

/** The fix for a secret written inline. */
export const SECRET_FIX = 'put it in an environment variable and write env:NAME (or file:/path)';

// ---------------------------------------------------------------------------
// Building blocks

/** Host names in `hosts:`. */
export const HOST_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Target names in `targets:`; chat input is matched against this before any lookup. */
export const TARGET_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** A chat user: `tg:<user id>` or `slack:<user id>`. */
export const IDENTITY_RE = /^(tg|slack):[A-Za-z0-9_-]+$/;
/** A place to post: `tg:<chat id>` or `slack:<channel id>`. */
export const PLACE_RE = IDENTITY_RE;

const USER_RE = /^[a-z_][a-z0-9_.-]{0,31}$/;
const HOST_KEY_RE = /^SHA256:[A-Za-z0-9+/]{43}=?$/;
const ZONE_RE = /^[a-z0-9-]+$/;
const ENV_NAME_RE = /^[A-Z_][A-Z0-9_]*$/i;
const DNS_RE = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const SECRET_RE = /^(env:[A-Za-z_][A-Za-z0-9_]*|file:[^\n\0]+)$/;
const SERVICE_NAME_RE = {
  systemd: /^[A-Za-z0-9@._:-]+$/,
  pm2: /^[A-Za-z0-9._-]+$/,
  docker: /^[A-Za-z0-9._-]+$/,
  // A pgrep -f pattern: it is shell-quoted, so anything printable on one line is safe.
  process: /^[^\x00-\x1f\x7f]{1,200}$/,
} as const;
const SERVICE_NAME_HELP = {
  systemd: 'a systemd unit name (letters, digits, @ . _ : -), e.g. wushipay-api.service',
  pm2: 'a pm2 process name (letters, digits, . _ -)',
  docker: 'a container name (letters, digits, . _ -)',
  process: 'a pgrep -f pattern: printable characters on one line, at most 200',
} as const;
const DEFAULT_DB_PORT = { postgres: 5432, mysql: 3306, redis: 6379, mongodb: 27017 } as const;

const Port = z
  .number({ error: (i) => (i.input === undefined ? undefined : say('expected a port number', 'write a number from 1 to 65535, e.g. port: 8000')) })
  .int(say('a port must be a whole number', 'write a number from 1 to 65535'))
  .min(1, say('port out of range', 'use a port from 1 to 65535'))
  .max(65535, say('port out of range', 'use a port from 1 to 65535'));

const noBadChars = (s: string) => !/[\n\r\0]/.test(s);

/** An absolute path on the target host (it ends up shell-quoted in commands). */
const AbsPath = z
  .string()
  .refine(noBadChars, say('paths may not contain newlines or NUL', 'write the path on one line'))
  .refine((s) => s.startsWith('/'), say('must be an absolute path', 'write the full path starting with /, e.g. /var/log/app.log'));

/** A path on the worker's machine: `~` and relative paths are resolved when the config is loaded. */
const LocalPath = z
  .string()
  .min(1, say('empty path', 'write a file path, e.g. ~/.ssh/id_ed25519'))
  .refine(noBadChars, say('paths may not contain newlines or NUL', 'write the path on one line'));

const httpUrl = (what: string, example: string) =>
  z
    .string()
    .refine((s) => {
      if (/\s/.test(s)) return false;
      try {
        const u = new URL(s);
        return u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        return false;
      }
    }, say(`${what} must be an http:// or https:// URL`, `write it like ${example}`))
    .superRefine(noUrlCredentials(`remove it from the URL: Triage sends no credentials in URLs (secrets go in env:NAME or file:PATH fields), e.g. ${example}`));

/** Query parameters that carry a secret: `?password=`, `?token=`, ... (ioredis reads `?password=` as the password). */
const SECRET_QUERY_RE = /^(password|passwd|pass|pwd|secret|token|access_token|auth|auth_token|api_?key)$/i;

/**
 * Refuses a URL that carries credentials — `user:password@`, a bare `token@`,
 * or a secret query parameter — like any other inline secret. The value is
 * never echoed; the message says only what kind of credential it is.
 */
function noUrlCredentials(fix: string) {
  return (s: string, ctx: z.RefinementCtx) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      return;
    }
    const secretKey = [...u.searchParams.keys()].find((k) => SECRET_QUERY_RE.test(k));
    const kind = u.password ? 'a password (user:password@)' : u.username ? 'a user name or token (…@ before the host)' : secretKey ? `a "${secretKey}" query parameter` : undefined;
    if (kind) ctx.addIssue({ code: 'custom', message: say(`the URL carries ${kind}: secrets may not be written inline`, fix) });
  };
}

/**
 * A secret: `env:NAME` (read from the environment) or `file:PATH` (read from a
 * file, trailing newline dropped). Inline values are rejected so tokens never
 * sit in the config file; the value is never echoed in the error.
 */
export const SecretRefSchema = z
  .string({ error: (i) => (i.input === undefined ? undefined : say('secrets may not be written inline', SECRET_FIX)) })
  .regex(SECRET_RE, say('secrets may not be written inline', SECRET_FIX));
export type SecretRef = z.infer<typeof SecretRefSchema>;

const Identity = z
  .string()
  .regex(IDENTITY_RE, say('not a chat identity', 'write tg:<user id> or slack:<user id>, e.g. slack:U123ABC'));
const Place = z
  .string()
  .regex(PLACE_RE, say('not a place to post', 'write tg:<chat id> or slack:<channel id>, e.g. slack:C123ABC'));

const TimeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat(undefined, { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  say('unknown time zone', 'use an IANA zone name such as UTC, Europe/Berlin or Asia/Shanghai'),
);

/**
 * Why a cron expression is invalid, or `null`: 5 fields, or 6 with seconds
 * first (SPEC), read by `cron-parser` — the parser BullMQ's job schedulers
 * use, so what lint accepts is exactly what the scheduler runs.
 */
export function cronProblem(expr: string, tz?: string): string | null {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) return `has ${fields.length} fields, expected 5 (or 6 with seconds first)`;
  try {
    CronExpressionParser.parse(expr.trim(), tz ? { tz } : {});
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

const Cron = z.string().superRefine((expr, ctx) => {
  const problem = cronProblem(expr);
  if (problem) {
    ctx.addIssue({
      code: 'custom',
      message: say(`invalid cron: ${problem}`, 'write 5 fields "min hour day month weekday", e.g. "0 9 * * 1-5", or 6 with seconds first'),
    });
  }
});

type Raw = Record<string, unknown>;
const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
// Cross-field checks run even when a field has the wrong type, so that every
// problem is reported at once; they must therefore not trust the data's shape.
const always = { when: () => true };

// ---------------------------------------------------------------------------
// hosts:

const SSH_ONLY_KEYS = ['port', 'user', 'privateKey', 'agent', 'passphrase', 'hostKey', 'knownHosts'] as const;

/**
 * One machine. `address: local` means the worker's own machine (no SSH); every
 * other host needs `user`, one of `privateKey` / `agent: true`, and one of
 * `hostKey` / `knownHosts` (both may be given).
 */
export const HostSchema = z
  .object({
    /** IP address, DNS name, or `local`. */
    address: z
      .string()
      .refine(
        (a) => a === 'local' || isIP(a) !== 0 || DNS_RE.test(a),
        say('not an IP address, DNS name or local', 'write e.g. address: 10.0.0.5, address: web1.example.com or address: local'),
      ).describe("IP address, DNS name, or `local` for the worker's own machine (no SSH)."),
    /** SSH port. Default 22. */
    port: Port.optional().meta({ description: "SSH port.", default: 22 }),
    /** SSH login. Required unless `address: local`. */
    user: z.string().regex(USER_RE, say('not a valid user name', 'use a login name like ubuntu or deploy')).optional().describe("SSH login. Required unless `address: local`."),
    /** Private key file on the worker's machine. */
    privateKey: LocalPath.optional().describe("Private key file on the worker's machine; `~` and relative paths are resolved against the config file's folder. Give this or `agent: true`."),
    /** Use the SSH agent at `$SSH_AUTH_SOCK` instead of a key file. */
    agent: z.boolean().optional().meta({ description: "Log in with the SSH agent at `$SSH_AUTH_SOCK` instead of a key file.", examples: [true] }),
    /** Passphrase of `privateKey`. */
    passphrase: SecretRefSchema.optional().meta({ description: "Passphrase of `privateKey`.", examples: ["env:TRIAGE_KEY_PASSPHRASE"] }),
    /** Pinned host key fingerprint `SHA256:<43 base64 chars>`. */
    hostKey: z.string().optional().meta({ description: "Pinned host key fingerprint, `SHA256:` and 43 base64 characters, as printed by `ssh-keyscan -p PORT HOST | ssh-keygen -lf -`. Give this or `knownHosts` (or both).", examples: ["SHA256:Jq5Yb3xW0pZ9nQ2sT8vL4kR7mC1dF6hG3aE5uI0oPzA"] }),
    /** known_hosts file to check the host key against. */
    knownHosts: LocalPath.optional().describe("A known_hosts file that must list this host's key. Give this or `hostKey`."),
    /** Which workers may reach this host. Default `default`. */
    zone: z.string().regex(ZONE_RE, say('not a valid zone', 'use lower-case letters, digits and -, e.g. zone: eu-prod')).default('default').describe("Which workers may reach this host: only `triage worker --zone ZONE` takes its work."),
  })
  .strict()
  .superRefine((h: Raw, ctx) => {
    const local = h.address === 'local';
    if (local) {
      for (const key of SSH_ONLY_KEYS) {
        if (h[key] !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: say(`'${key}' has no effect with address: local`, `remove ${key}, or give the host's real address to reach it over SSH`),
          });
        }
      }
      return;
    }
    const hostPort = typeof h.port === 'number' ? h.port : 22;
    const address = typeof h.address === 'string' ? h.address : 'HOST';
    if (h.user === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['user'],
        message: say('missing user (the SSH login)', 'add user: ubuntu (or whichever account Triage logs in as), or use address: local for this machine'),
      });
    }
    const hasKey = h.privateKey !== undefined;
    const useAgent = h.agent === true;
    if (hasKey && useAgent) {
      ctx.addIssue({
        code: 'custom',
        path: ['agent'],
        message: say('privateKey and agent: true are both set', 'keep one: privateKey: FILE to use a key file, or agent: true to use $SSH_AUTH_SOCK'),
      });
    } else if (!hasKey && !useAgent) {
      ctx.addIssue({
        code: 'custom',
        path: ['privateKey'],
        message: say('no way to log in', 'add privateKey: ~/.ssh/id_ed25519 (a key file) or agent: true (use the SSH agent)'),
      });
    }
    if (h.passphrase !== undefined && !hasKey) {
      ctx.addIssue({
        code: 'custom',
        path: ['passphrase'],
        message: say('passphrase is only used with privateKey', 'remove passphrase, or add the privateKey it unlocks'),
      });
    }
    const scan = `ssh-keyscan -p ${hostPort} ${address} | ssh-keygen -lf -`;
    if (h.hostKey === undefined && h.knownHosts === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['hostKey'],
        message: say(
          'the host key is not pinned (Triage never connects to an unverified host)',
          `run \`${scan}\`, check it, and add the SHA256:... fingerprint as hostKey:, or set knownHosts: ~/.ssh/known_hosts`,
        ),
      });
    } else if (typeof h.hostKey === 'string' && !HOST_KEY_RE.test(h.hostKey)) {
      ctx.addIssue({
        code: 'custom',
        path: ['hostKey'],
        message: say('not a SHA256 fingerprint', `write SHA256: followed by 43 base64 characters, as printed by \`${scan}\``),
      });
    } else if (h.hostKey !== undefined && typeof h.hostKey !== 'string') {
      ctx.addIssue({ code: 'custom', path: ['hostKey'], message: say('not a SHA256 fingerprint', `quote it; get it with \`${scan}\``) });
    }
  }, always)
  .transform((h) => ({ ...h, port: h.port ?? 22 }));
export type HostConfig = z.infer<typeof HostSchema>;

// ---------------------------------------------------------------------------
// targets:

/** How the app runs. `name` is checked per manager; for `process` it is a `pgrep -f` pattern. */
export const ServiceSchema = z
  .object({
    manager: z.enum(['systemd', 'pm2', 'docker', 'process']).describe("How the app is run; `process` is a plain process found with `pgrep -f`."),
    name: z.string().describe("The systemd unit, pm2 process or container name; for `process`, a `pgrep -f` pattern."),
  })
  .strict()
  .superRefine((s, ctx) => {
    const re = SERVICE_NAME_RE[s.manager];
    if (!re.test(s.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['name'],
        message: say(`not a valid ${s.manager} name`, `write ${SERVICE_NAME_HELP[s.manager]}`),
      });
    }
  });
export type ServiceConfig = z.infer<typeof ServiceSchema>;

/** Where nginx proxies to the app. */
export const NginxSchema = z
  .object({
    /** Main config file. Default `/etc/nginx/nginx.conf`. */
    config: AbsPath.default('/etc/nginx/nginx.conf').describe("nginx's main config file (tested with `nginx -t -c`)."),
    /** The site file that holds the app's `location`. */
    site: AbsPath.optional().describe("The site file that holds the app's `location` block."),
    /** The location block that proxies to the app. Default `/`. */
    location: z
      .string()
      .regex(/^\/[^\n\0]*$/, say('a location must start with /', 'write the URL prefix, e.g. location: /api'))
      .default('/')
      .describe("The location block that proxies to the app."),
  })
  .strict();
export type NginxConfig = z.infer<typeof NginxSchema>;

const DB_WORD_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,62}$/;

/** One `database.staleRows` query: a single read-only SELECT, optionally named by a leading `-- comment` line. */
const StaleQuery = z
  .string()
  .transform((q) => q.trim().replace(/;\s*$/, ''))
  .refine((q) => !q.includes('\0'), say('a query may not contain NUL', 'remove the NUL byte'))
  .refine((q) => !q.includes(';'), say('one statement per query, no ;', 'split it into two entries of staleRows'))
  .refine(
    (q) => /^(select|with|values|table)\b/i.test(q.replace(/^(?:--[^\n]*\n\s*)+/, '')),
    say('not a SELECT', "write a query that returns the stuck rows, e.g. SELECT id FROM tasks WHERE status = 'submitted' AND updated_at < now() - interval '5 minutes'"),
  );

/** A database the app needs. `port` defaults per kind (5432, 3306, 6379, 27017). */
export const DatabaseSchema = z
  .object({
    kind: z.enum(['postgres', 'mysql', 'redis', 'mongodb']).describe("Which database it is."),
    host: z
      .string()
      .refine((a) => isIP(a) !== 0 || DNS_RE.test(a), say('not an IP address or DNS name', 'write e.g. host: 127.0.0.1 or host: db.internal'))
      .describe("Its address as seen from the app's host."),
    port: Port.optional().describe("Its port. Default by kind: postgres 5432, mysql 3306, redis 6379, mongodb 27017."),
    urlEnv: z
      .string()
      .regex(ENV_NAME_RE, say('not an environment variable name', 'use letters, digits and _, e.g. urlEnv: DATABASE_URL'))
      .optional()
      .meta({ description: "The variable in the target's `envFile` that holds the database URL. Runbooks read it there, on the host, and connect with `psql`/`mysql` there; the URL and its password never leave the host.", examples: ['DATABASE_URL'] }),
    user: z
      .string()
      .regex(DB_WORD_RE, say('not a database user name', 'use letters, digits, . _ -, e.g. user: app'))
      .optional()
      .meta({ description: "The user the `db` runbook connects as when there is no `urlEnv` (a password comes from the host's `~/.pgpass` / `~/.my.cnf`, never from here). Default: the client's default (the SSH user).", examples: ['app'] }),
    name: z
      .string()
      .regex(DB_WORD_RE, say('not a database name', 'use letters, digits, . _ -, e.g. name: wushipay'))
      .optional()
      .meta({ description: "The database to connect to when there is no `urlEnv`. Default: the client's default.", examples: ['wushipay'] }),
    staleRows: z
      .array(StaleQuery)
      .default([])
      .meta({
        description:
          "Read-only queries that return rows stuck in a state (seed 002: tasks in `submitted` for over 5 minutes). The `db` runbook runs each as a subquery inside a READ ONLY transaction with a statement timeout; any row returned is a warning. One SELECT (or WITH) each, no `;`; a first line `-- words` names the check.",
        examples: [["-- tasks stuck in submitted\nSELECT task_id, status, updated_at FROM tasks WHERE status IN ('submitted', 'processing') AND updated_at < now() - interval '5 minutes'"]],
      }),
  })
  .strict()
  .transform((d) => ({ ...d, port: d.port ?? DEFAULT_DB_PORT[d.kind] }));
export type DatabaseConfig = z.infer<typeof DatabaseSchema>;

/** A path on the host under `deploy:`: relative to the target's `workdir`, or absolute. */
const DeployPath = z
  .string()
  .min(1, say('empty path', 'write a path relative to workdir, e.g. venv'))
  .refine(noBadChars, say('paths may not contain newlines or NUL', 'write the path on one line'));

/** What the `deploy` runbook checks after a deploy (seed 003). Paths are relative to `workdir` unless absolute. */
export const DeploySchema = z
  .object({
    python: z
      .object({
        venv: DeployPath.default('venv').meta({ description: "The app's virtualenv (its `bin/pip` lists what is installed).", examples: ['venv'] }),
        requirements: DeployPath.default('requirements.txt').meta({ description: 'The requirements file the venv must satisfy (`==` pins are compared exactly).', examples: ['requirements-production.txt'] }),
      })
      .strict()
      .optional()
      .describe('A Python app: its venv must hold every package the requirements file names.'),
    node: z
      .object({
        lockfile: DeployPath.default('package-lock.json').meta({ description: 'The npm lockfile `node_modules` must match.', examples: ['package-lock.json'] }),
      })
      .strict()
      .optional()
      .describe('A Node app: `node_modules` must hold every package of the lockfile, at the locked version.'),
    migrations: z
      .object({
        sql: DeployPath.optional().meta({ description: 'A folder of plain SQL files applied in name order with no tracking tool: a file counts as applied when a `schema_migrations` table lists it, or else when the tables and columns it creates exist.', examples: ['migrations'] }),
        alembic: DeployPath.optional().meta({ description: 'An `alembic.ini`: `alembic current` must be at `alembic heads`.', examples: ['alembic.ini'] }),
        prisma: DeployPath.optional().meta({ description: 'A Prisma schema: `prisma migrate status` must have nothing to apply.', examples: ['prisma/schema.prisma'] }),
      })
      .strict()
      .superRefine((m: Raw, ctx) => {
        const given = (['sql', 'alembic', 'prisma'] as const).filter((k) => m[k] !== undefined);
        if (given.length !== 1) {
          ctx.addIssue({
            code: 'custom',
            message: say(
              given.length === 0 ? 'no migrations given' : `give one kind of migrations, not ${given.join(' and ')}`,
              'write exactly one of { sql: migrations }, { alembic: alembic.ini } or { prisma: prisma/schema.prisma }',
            ),
          });
        }
      }, always)
      .optional()
      .describe('Database migrations the deploy must have applied (needs `database` with `urlEnv` for `sql`).'),
    frontend: z
      .object({
        build: DeployPath.meta({ description: 'Where the frontend build lands (e.g. `frontend/dist`).', examples: ['frontend/dist'] }),
        served: DeployPath.meta({ description: 'The folder nginx serves it from; it must hold the latest build.', examples: ['/var/www/wushipay'] }),
      })
      .strict()
      .optional()
      .describe('A built frontend nginx must serve.'),
    ports: z
      .array(Port)
      .default([])
      .meta({ description: 'Other services that must listen after a deploy (frontend, mobile, ...).', examples: [[5174, 5175]] }),
  })
  .strict();
export type DeployConfig = z.infer<typeof DeploySchema>;

/** Where the app logs: exactly one of a file, a journald unit, a pm2 process or a container. */
export type LogsConfig = { file: string } | { journal: string } | { pm2: string } | { docker: string };
const LOG_KEYS = ['file', 'journal', 'pm2', 'docker'] as const;
export const LogsSchema = z
  .object({
    file: AbsPath.optional().describe("A log file (absolute path)."),
    journal: z.string().regex(SERVICE_NAME_RE.systemd, say('not a systemd unit name', 'write e.g. journal: wushipay-api.service')).optional().meta({ description: "A systemd unit whose journal to read.", examples: ["wushipay-api.service"] }),
    pm2: z.string().regex(SERVICE_NAME_RE.pm2, say('not a pm2 process name', 'use letters, digits, . _ -')).optional().meta({ description: "A pm2 process whose logs to read.", examples: ["wushipay-api"] }),
    docker: z.string().regex(SERVICE_NAME_RE.docker, say('not a container name', 'use letters, digits, . _ -')).optional().meta({ description: "A container whose `docker logs` to read.", examples: ["wushipay-api"] }),
  })
  .strict()
  .superRefine((l: Raw, ctx) => {
    const given = LOG_KEYS.filter((k) => l[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: say(
          given.length === 0 ? 'no log source given' : `give one log source, not ${given.join(' and ')}`,
          'write exactly one of { file: /var/log/app.log }, { journal: app.service }, { pm2: name } or { docker: name }',
        ),
      });
    }
  }, always)
  .transform((l) => l as LogsConfig);

/** One service to diagnose: which hosts it runs on and the facts the runbooks check. */
export const TargetSchema = z
  .object({
    /** Names from `hosts:`; at least one. */
    hosts: z.array(z.string()).min(1, say('a target needs at least one host', 'list host names from the hosts: section, e.g. hosts: [web1]')).describe("Names from `hosts:` the service runs on; at least one. A run checks each of them."),
    service: ServiceSchema.optional().describe("How the app runs."),
    /** Where the app should listen. */
    port: Port.optional().describe("The port the app should listen on."),
    /** Health URL, checked from the host. */
    health: httpUrl('health', 'http://127.0.0.1:8000/health').optional().describe("Health URL, fetched on the host (`http://` or `https://`)."),
    nginx: NginxSchema.optional().describe("Where nginx proxies to the app."),
    /** The app's directory on the host. */
    workdir: AbsPath.optional().describe("The app's folder on the host (absolute path)."),
    /** Env file relative to `workdir`. Default `.env`; `envFileExplicit` says whether it was written. */
    envFile: z
      .string()
      .refine(noBadChars, say('paths may not contain newlines or NUL', 'write the path on one line'))
      .refine((p) => p.length > 0 && !p.startsWith('/') && !p.split('/').includes('..'), say('envFile must be a path inside workdir', 'write it relative to workdir without .., e.g. envFile: .env'))
      .optional()
      .meta({ description: "The app's env file, relative to `workdir` (needs `workdir`).", default: ".env" }),
    /** Variables the app needs. Default `[]`. */
    requiredEnv: z
      .array(z.string().regex(ENV_NAME_RE, say('not an environment variable name', 'use letters, digits and _, e.g. DATABASE_URL')))
      .default([])
      .describe("Environment variables the app needs (checked in `envFile` and in the running process)."),
    database: DatabaseSchema.optional().describe("A database the app needs."),
    logs: LogsSchema.optional().describe("Where the app logs: exactly one of `file`, `journal`, `pm2` or `docker`."),
    upstreams: z
      .array(httpUrl('upstreams', 'https://api.example.com'))
      .default([])
      .meta({ description: "Third-party services the app calls (`http://` or `https://` URLs). The `504` runbook times DNS, TCP, TLS and the first byte to each from the host; `host` checks their names resolve.", examples: [['https://api.example.com']] }),
    deploy: DeploySchema.optional().describe("What the `deploy` runbook checks: dependencies, migrations, restarts, the frontend, other ports. Paths are relative to `workdir`."),
  })
  .strict()
  .superRefine((t: Raw, ctx) => {
    if (t.envFile !== undefined && t.workdir === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['envFile'],
        message: say('envFile is relative to workdir, which is not set', 'add workdir: /path/to/the/app'),
      });
    }
    const d = t.deploy as Raw | undefined;
    if (d && t.workdir === undefined && ['python', 'node', 'migrations', 'frontend'].some((k) => d[k] !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['deploy'],
        message: say('deploy paths are relative to workdir, which is not set', 'add workdir: /path/to/the/app'),
      });
    }
  }, always)
  .transform(({ envFile, ...t }) => ({ ...t, envFile: envFile ?? '.env', envFileExplicit: envFile !== undefined }));
export type TargetConfig = z.infer<typeof TargetSchema>;

// ---------------------------------------------------------------------------
// chat:

const TelegramWebhookSchema = z
  .object({
    /** Public HTTPS URL Telegram posts updates to. */
    url: httpUrl('url', 'https://triage.example.com/telegram').describe("Public HTTPS URL Telegram posts updates to; its path is the path served."),
    /** Local port the webhook server listens on. */
    port: Port.describe("Local port the webhook server listens on (put TLS in front of it)."),
    /** Checked against Telegram's `X-Telegram-Bot-Api-Secret-Token` header. */
    secretToken: SecretRefSchema.describe("Secret Telegram must send in `X-Telegram-Bot-Api-Secret-Token`; requests without it get 403."),
  })
  .strict();
export type TelegramWebhookConfig = z.infer<typeof TelegramWebhookSchema>;

const BAD_CHAT = say('not a Telegram chat id', 'write the numeric chat id (e.g. -1001234)');
/** Telegram delivers every update with the chat's numeric id, so an `@name` here would never match. */
const AT_CHAT = say(
  'an @name never matches: Telegram identifies chats by numeric id',
  'write the numeric chat id instead (type /help in the chat: the refusal names its id)',
);

/**
 * Telegram. `mode` is accepted as `polling`, as `webhook` with a sibling
 * `webhook: {url, port, secretToken}`, as `{ webhook: {...} }`, or left out
 * with only a `webhook:` key; it is normalised to `'polling'` or
 * `{ webhook: {...} }` (the sibling key is dropped). Default `polling`.
 * `apiRoot` defaults to `https://api.telegram.org`, without a trailing slash.
 */
export const TelegramSchema = z
  .object({
    token: SecretRefSchema.describe("Bot token from @BotFather."),
    mode: z
      .union([z.enum(['polling', 'webhook']), z.object({ webhook: TelegramWebhookSchema }).strict()], {
        error: (i) => (i.input === undefined ? undefined : say('mode must be polling or webhook', 'write mode: polling, or mode: webhook with webhook: { url, port, secretToken: env:NAME }')),
      })
      .optional()
      .meta({ description: "`polling` (long polling), or `webhook` together with the `webhook:` key.", default: "polling" }),
    webhook: TelegramWebhookSchema.optional().meta({ description: "Webhook settings, with `mode: webhook`.", examples: [{ url: 'https://triage.example.com/telegram', port: 8443, secretToken: 'env:TELEGRAM_WEBHOOK_SECRET' }] }),
    apiRoot: httpUrl('apiRoot', 'https://api.telegram.org')
      .default('https://api.telegram.org')
      .transform((u) => u.replace(/\/+$/, ''))
      .describe("Bot API server; a self-hosted one may go here."),
    /** Chats the bot answers in. Default `[]`. */
    allowedChats: z
      .array(
        z.union(
          [
            z.number().int(),
            z.string().superRefine((v, ctx) => {
              if (!/^-?\d+$/.test(v)) ctx.addIssue({ code: 'custom', message: v.startsWith('@') ? AT_CHAT : BAD_CHAT });
            }),
          ],
          { error: BAD_CHAT },
        ),
      )
      .default([])
      .describe("Chats the bot answers in: numeric chat ids (groups are negative, e.g. `-1001234`)."),
  })
  .strict()
  .superRefine((t: Raw, ctx) => {
    const mode = t.mode;
    if (mode === 'webhook' && t.webhook === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['webhook'],
        message: say('mode: webhook needs the webhook settings', 'add webhook: { url: https://..., port: 8443, secretToken: env:TELEGRAM_WEBHOOK_SECRET }'),
      });
    }
    if (t.webhook !== undefined && (mode === 'polling' || isObj(mode))) {
      ctx.addIssue({
        code: 'custom',
        path: ['webhook'],
        message: say(
          isObj(mode) ? 'webhook is given twice (here and under mode)' : 'webhook settings given with mode: polling',
          isObj(mode) ? 'keep one of them' : 'set mode: webhook, or remove the webhook key',
        ),
      });
    }
  }, always)
  .transform(({ webhook, mode, ...t }) => ({
    ...t,
    mode: (typeof mode === 'object' ? mode : webhook ? { webhook } : 'polling') as 'polling' | { webhook: TelegramWebhookConfig },
  }));
export type TelegramConfig = z.infer<typeof TelegramSchema>;

/**
 * Slack. With `appToken` Triage uses Socket Mode; without it, an HTTP receiver
 * on `port` (default 3000, `POST /slack/events`). `apiUrl` defaults to
 * `https://slack.com/api/` and always ends with `/`.
 */
export const SlackSchema = z
  .object({
    botToken: SecretRefSchema.describe("Bot User OAuth Token (`xoxb-\u2026`)."),
    signingSecret: SecretRefSchema.describe("The app's signing secret; every HTTP request is checked against it."),
    appToken: SecretRefSchema.optional().describe("App-level token (`xapp-\u2026`, scope `connections:write`): given = Socket Mode, absent = HTTP receiver."),
    port: Port.default(3000).describe("Port of the HTTP receiver (`POST /slack/events`); not used in Socket Mode."),
    apiUrl: httpUrl('apiUrl', 'https://slack.com/api/')
      .default('https://slack.com/api/')
      .transform((u) => (u.endsWith('/') ? u : `${u}/`))
      .describe("Web API base URL (e.g. GovSlack's)."),
    /** Channel ids the bot answers in. Default `[]`. */
    allowedChannels: z
      .array(z.string().regex(/^[A-Za-z0-9_-]+$/, say('not a Slack channel id', 'write the channel id, e.g. C0123ABC (not #name)')))
      .default([])
      .describe("Channel ids the bot answers in (e.g. `C0123ABC`, not `#name`)."),
  })
  .strict();
export type SlackConfig = z.infer<typeof SlackSchema>;

export const ChatSchema = z
  .object({ telegram: TelegramSchema.optional().describe("The Telegram bot."), slack: SlackSchema.optional().describe("The Slack app.") })
  .strict();
export type ChatConfig = z.infer<typeof ChatSchema>;

// ---------------------------------------------------------------------------
// access:, schedules:, oncall:

/** Who may do what. Each role lists identities; missing roles default to `[]`. */
export const AccessSchema = z
  .object({
    roles: z
      .object({
        viewer: z.array(Identity).default([]).meta({ description: "May list runbooks, targets and schedules, and see runs (`/status`).", examples: [["tg:111"]] }),
        responder: z.array(Identity).default([]).describe("A viewer who may also `/diagnose` and `/cancel`."),
        operator: z.array(Identity).default([]).describe("A responder who may also `/approve` steps that change a host."),
      })
      .strict()
      .describe("Identities (`tg:<user id>`, `slack:<user id>`) per role; someone listed under several roles gets the highest."),
  })
  .strict();
export type AccessConfig = z.infer<typeof AccessSchema>;
export type Role = keyof AccessConfig['roles'];

/** A runbook run on a cron schedule, posted as a digest. `tz` defaults to `UTC`. */
export const ScheduleSchema = z
  .object({
    name: z.string().regex(TARGET_NAME_RE, say('not a valid schedule name', 'use lower-case letters, digits, _ and -, e.g. morning')).describe("The schedule's name, unique."),
    cron: Cron.describe("When: 5 cron fields, or 6 with seconds first."),
    tz: TimeZone.default('UTC').describe("IANA time zone the cron is read in."),
    runbook: z.string().regex(TARGET_NAME_RE, say('not a runbook name', 'write a runbook name such as health or 502')).describe("The runbook to run."),
    /** `all`, or target names. */
    targets: z.union([z.literal('all'), z.array(z.string()).min(1)], {
      error: say('targets must be all or a list of target names', 'write targets: all or targets: [wushipay]'),
    }).describe("`all`, or a list of target names."),
    post: Place.describe("Where the digest goes: `tg:<chat id>` or `slack:<channel id>`."),
  })
  .strict();
export type ScheduleConfig = z.infer<typeof ScheduleSchema>;

/** On-call rotation; `handoff` posts the handoff thread on a schedule (`tz` default `UTC`). */
export const OncallSchema = z
  .object({
    rotation: z.array(Identity).min(1, say('the rotation is empty', 'list who is on call in order, e.g. rotation: [slack:U123, slack:U456]')).describe("Who is on call, in order (identities)."),
    handoff: z
      .object({
        cron: Cron.describe("When to post the handoff: 5 cron fields, or 6 with seconds first."),
        tz: TimeZone.default('UTC').describe("IANA time zone the cron is read in."),
        post: Place.describe("Where the handoff thread goes: `tg:<chat id>` or `slack:<channel id>`."),
        takeWithin: DurationSchema.optional().meta({ description: "How long the incoming person has to press \"I have it\" before the bot says so and mentions the next person in the rotation.", default: '15m', examples: ['30m'] }),
      })
      .strict()
      .optional().describe("Post the on-call handoff thread on a schedule."),
  })
  .strict();
export type OncallConfig = z.infer<typeof OncallSchema>;

// ---------------------------------------------------------------------------
// The whole file

const HostName = z
  .string()
  .regex(HOST_NAME_RE, say('not a valid host name', 'start with a letter or digit, then letters, digits, . _ - (at most 63 characters)'));
const TargetName = z
  .string()
  .regex(TARGET_NAME_RE, say('not a valid target name', 'use lower-case letters, digits, _ and - (at most 63), starting with a letter or digit, e.g. wushipay'));

/**
 * The schema of `triage.yaml`. Only `hosts` and `targets` are required.
 * `redis` defaults (in {@link LoadedConfig.redisUrl}) to `$REDIS_URL`, then
 * `redis://127.0.0.1:6379`. Unknown keys are errors everywhere.
 */
export const ConfigSchema = z
  .object({
    redis: redisSchema({
      url: z
        .string()
        .refine((s) => {
          try {
            return /^rediss?:$/.test(new URL(s).protocol);
          } catch {
            return false;
          }
        }, say('not a Redis URL', 'write redis://HOST:6379 (or rediss:// for TLS)'))
        .superRefine(
          noUrlCredentials(
            'remove redis: from the config and put the whole URL, password included, in $REDIS_URL in the environment of the Triage process (e.g. an EnvironmentFile= only Triage can read)',
          ),
        ),
      secret: SecretRefSchema,
      port: Port,
    })
      .optional()
      .meta({ description: REDIS_DESCRIPTION, examples: REDIS_EXAMPLES }),
    hosts: z.record(HostName, HostSchema).describe("The machines runbooks run on, by name (letters, digits, `.` `_` `-`)."),
    targets: z.record(TargetName, TargetSchema).describe("The services you diagnose, by name (lower-case letters, digits, `_` `-`), as in `/diagnose 502 NAME`."),
    chat: ChatSchema.optional().describe("The chat platforms `triage bot` serves."),
    access: AccessSchema.optional().describe("Who may use the chat bot. Without it nobody on Telegram or Slack is let in."),
    schedules: z.array(ScheduleSchema).optional().describe("Runbooks to run on a schedule and post as a digest (BullMQ job schedulers, one per name; `triage bot` keeps them in step with this list)."),
    oncall: OncallSchema.optional().describe("The on-call rotation: `/oncall`, `/handoff` and the scheduled handoff thread."),
    retention: RetentionSchema.optional().describe(
      "How much history Redis keeps: finished runs (record, steps, events), the audit trail, resolved incidents and BullMQ's job records, by count and age. Workers enforce it every `every`; the defaults keep Redis bounded even without this key.",
    ),
  })
  .strict()
  .superRefine((c: Raw, ctx) => {
    const hosts = isObj(c.hosts) ? Object.keys(c.hosts) : null;
    const targets = isObj(c.targets) ? c.targets : null;
    if (targets && hosts) {
      for (const [name, t] of Object.entries(targets)) {
        if (!isObj(t) || !Array.isArray(t.hosts)) continue;
        const seen = new Set<unknown>();
        t.hosts.forEach((h, i) => {
          if (typeof h !== 'string') return;
          if (!hosts.includes(h)) {
            ctx.addIssue({
              code: 'custom',
              path: ['targets', name, 'hosts', i],
              message: say(
                `unknown host '${h}'${didYouMean(h, hosts)}`,
                hosts.length ? `use one of the hosts defined under hosts: ${hosts.join(', ')}` : 'define it under hosts: first',
              ),
            });
          } else if (seen.has(h)) {
            ctx.addIssue({ code: 'custom', path: ['targets', name, 'hosts', i], message: say(`host '${h}' is listed twice`, 'remove the duplicate') });
          }
          seen.add(h);
        });
      }
    }
    if (Array.isArray(c.schedules)) {
      const names = new Set<unknown>();
      const known = targets ? Object.keys(targets) : null;
      c.schedules.forEach((s, i) => {
        if (!isObj(s)) return;
        if (typeof s.name === 'string') {
          if (names.has(s.name)) {
            ctx.addIssue({ code: 'custom', path: ['schedules', i, 'name'], message: say(`schedule name '${s.name}' is used twice`, 'give each schedule its own name') });
          }
          names.add(s.name);
        }
        if (known && Array.isArray(s.targets)) {
          s.targets.forEach((t, j) => {
            if (typeof t === 'string' && !known.includes(t)) {
              ctx.addIssue({
                code: 'custom',
                path: ['schedules', i, 'targets', j],
                message: say(`unknown target '${t}'${didYouMean(t, known)}`, `use all or targets defined under targets: ${known.join(', ') || '(none yet)'}`),
              });
            }
          });
        }
      });
    }
  }, always);
export type Config = z.infer<typeof ConfigSchema>;
