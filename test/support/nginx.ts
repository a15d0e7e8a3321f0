/**
 * A real nginx on 127.0.0.1 proxying `location /api` to an app, laid out like
 * a Debian install (nginx.conf + sites-enabled/<name>.conf) but entirely
 * inside a private temp dir: pid, logs and temp paths never touch /etc or /var.
 *
 * Deliberately left out: TLS, more than one site, reloads.
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import {
  ensureBinaries,
  freePort,
  httpGet,
  makeTempDir,
  readIfExists,
  removeTempDir,
  spawnTracked,
  waitUntil,
} from './processes.ts';

const NGINX = '/usr/sbin/nginx';
const READY_TIMEOUT_MS = 5000;

export interface NginxOptions {
  /** Where nginx.conf, sites-enabled/, logs/ and temp/ go. Default a fresh temp dir (removed by `stop()`). */
  dir?: string;
  /** The app's port that `location` proxies to. */
  upstreamPort: number;
  /** Default `/api`. */
  location?: string;
  /** Default `127.0.0.1`. */
  upstreamHost?: string;
  /** Default `5s`. */
  proxyReadTimeout?: string;
  /** Proxy to `http://app_backend` defined by an `upstream app_backend {}` block. Default false. */
  useUpstreamBlock?: boolean;
  /** Site file name without `.conf`. Default `shop`. */
  siteName?: string;
}

export interface NginxHandle {
  port: number;
  /** Absolute path of nginx.conf (what `nginx -t -c` takes). */
  configPath: string;
  /** Absolute path of the site file nginx.conf includes. */
  sitePath: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The master process. */
  pid: number;
  errorLog: string;
  dir: string;
  /** Writes a syntax error into the site file; the running nginx keeps serving its old config. */
  breakSite(): Promise<void>;
  /** Stops nginx (master and workers) and removes the dir if this module created it. Idempotent. */
  stop(): Promise<void>;
}

/** Makes sure nginx exists (installs it as root, else throws saying what to install). */
export async function ensureNginx(): Promise<string> {
  await ensureBinaries([NGINX]);
  return NGINX;
}

function nginxConf(dir: string): string {
  const p = (...parts: string[]) => path.join(dir, ...parts);
  return [
    // Workers run as nobody otherwise and cannot write our 0700 temp dir.
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'worker_processes 1;',
    `pid ${p('nginx.pid')};`,
    `error_log ${p('logs', 'error.log')} warn;`,
    '',
    'events {',
    '  worker_connections 256;',
    '}',
    '',
    'http {',
    '  default_type text/plain;',
    `  access_log ${p('logs', 'access.log')};`,
    `  client_body_temp_path ${p('temp', 'client_body')};`,
    `  proxy_temp_path ${p('temp', 'proxy')};`,
    `  fastcgi_temp_path ${p('temp', 'fastcgi')};`,
    `  uwsgi_temp_path ${p('temp', 'uwsgi')};`,
    `  scgi_temp_path ${p('temp', 'scgi')};`,
    '',
    `  include ${p('sites-enabled', '*.conf')};`,
    '}',
    '',
  ].join('\n');
}

function siteConf(o: {
  port: number;
  location: string;
  upstreamHost: string;
  upstreamPort: number;
  proxyReadTimeout: string;
  useUpstreamBlock: boolean;
}): string {
  const upstream = `${o.upstreamHost}:${o.upstreamPort}`;
  return [
    ...(o.useUpstreamBlock ? ['upstream app_backend {', `    server ${upstream};`, '}', ''] : []),
    'server {',
    `    listen 127.0.0.1:${o.port};`,
    '    server_name shop.test;',
    '',
    `    location ${o.location} {`,
    `        proxy_pass http://${o.useUpstreamBlock ? 'app_backend' : upstream};`,
    '        proxy_connect_timeout 2s;',
    `        proxy_read_timeout ${o.proxyReadTimeout};`,
    '        proxy_set_header Host $host;',
    '    }',
    '',
    '    location / {',
    "        return 200 'frontend ok';",
    '    }',
    '}',
    '',
  ].join('\n');
}

/** Starts nginx in the foreground as our child and waits until it answers HTTP (≤5 s). */
export async function startNginx(opts: NginxOptions): Promise<NginxHandle> {
  await ensureNginx();
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await makeTempDir('triage-nginx-'));
  const configPath = path.join(dir, 'nginx.conf');
  const sitePath = path.join(dir, 'sites-enabled', `${opts.siteName ?? 'shop'}.conf`);
  const errorLog = path.join(dir, 'logs', 'error.log');
  const stderrLog = path.join(dir, 'logs', 'nginx.stderr.log');
  try {
    for (const sub of ['sites-enabled', 'logs', 'temp']) await fsp.mkdir(path.join(dir, sub), { recursive: true });
    await fsp.writeFile(configPath, nginxConf(dir));

    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      await fsp.writeFile(
        sitePath,
        siteConf({
          port,
          location: opts.location ?? '/api',
          upstreamHost: opts.upstreamHost ?? '127.0.0.1',
          upstreamPort: opts.upstreamPort,
          proxyReadTimeout: opts.proxyReadTimeout ?? '5s',
          useUpstreamBlock: opts.useUpstreamBlock ?? false,
        }),
      );
      await fsp.writeFile(stderrLog, '');
      const proc = await spawnTracked(NGINX, ['-p', `${dir}/`, '-e', errorLog, '-c', configPath, '-g', 'daemon off;'], {
        logFile: stderrLog,
      });
      const url = `http://127.0.0.1:${port}`;
      const output = () => `${readIfExists(stderrLog)}${readIfExists(errorLog)}`.trim();
      try {
        await waitUntil(`nginx on ${url}`, async () => (await httpGet(`${url}/`, 1000)).body === 'frontend ok', {
          timeoutMs: READY_TIMEOUT_MS,
          abort: () => (proc.hasExited() ? `nginx exited: ${output() || '(no output)'}` : undefined),
        });
      } catch (err) {
        await proc.stop();
        if (/Address already in use/.test(output())) continue;
        throw err;
      }
      let stopped: Promise<void> | undefined;
      return {
        port,
        configPath,
        sitePath,
        url,
        pid: proc.pid,
        errorLog,
        dir,
        async breakSite() {
          const site = await fsp.readFile(sitePath, 'utf8');
          // A directive without its semicolon: `nginx -t` reports `unexpected "}"`.
          const broken = site.replace(/( *proxy_set_header Host \$host;\n)/, '$1        proxy_set_header X-Real-IP $remote_addr\n');
          if (broken === site) throw new Error(`breakSite: unexpected site layout in ${sitePath}`);
          await fsp.writeFile(sitePath, broken);
        },
        stop() {
          stopped ??= (async () => {
            await proc.stop();
            if (ownDir) await removeTempDir(dir);
          })();
          return stopped;
        },
      };
    }
    throw new Error('startNginx: no free port after 5 attempts');
  } catch (err) {
    if (ownDir) await removeTempDir(dir);
    throw err;
  }
}
