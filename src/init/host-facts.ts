/**
 * A read-only look at a host for `triage init`: what listens on which TCP
 * port and which process that is, how nginx proxies, and what systemd, pm2
 * and docker run. Every probe is optional: a missing tool is skipped and
 * noted, never an error.
 *
 * Read-only by construction: the commands below are fixed text (the only
 * values put into them are integers and shell-quoted paths read from the
 * host itself). `nginx -T` runs only against the config of an nginx that is
 * already running (so its logs, pid file and temp paths exist and nothing is
 * created); a stopped nginx's files are read with `cat`. `pm2 jlist` runs
 * only when the pm2 daemon is already up (otherwise pm2 would start one),
 * and its output is cut down on the host so process environments never
 * leave it.
 *
 * Deliberately left out: sudo (what the login user may see is what is
 * proposed), UDP, and containers' own insides.
 */
import type { ExecResult } from '../executors/executor.ts';
import { shellQuote } from '../runbooks/template.ts';
import { type NginxDump, parseNginxDump } from './nginx-conf.ts';

/** Runs one command on the host (the SSH executor, bound to one host). */
export type HostRunner = (command: string, opts?: { maxOutputBytes?: number }) => Promise<ExecResult>;

/** A listening TCP socket and who holds it. */
export interface ListeningSocket {
  /** As ss prints it: `127.0.0.1`, `0.0.0.0`, `::`, `*`. */
  address: string;
  port: number;
  processes: { name: string; pid: number }[];
}

/** What /proc says about one process. */
export interface ProcessInfo {
  pid: number;
  /** argv. */
  args: string[];
  cwd?: string;
  /** Where fd 1 points (a file path, `pipe:[...]`, `/dev/null`, ...). */
  stdout?: string;
  /** The systemd unit from /proc/PID/cgroup, when it runs in one. */
  unit?: string;
}

/** One running nginx (or the installed, stopped one) and what its config proxies. */
export interface NginxFacts {
  /** Main config file. */
  config: string;
  /** True when read by `nginx -T`; false when the files were read directly. */
  viaDashT: boolean;
  dump: NginxDump;
}

export interface Pm2Process {
  name: string;
  pid: number;
  status: string;
  outLog?: string;
  cwd?: string;
}

export interface DockerContainer {
  name: string;
  image: string;
  /** As docker ps prints them: `0.0.0.0:8080->80/tcp, :::8080->80/tcp`. */
  ports: string;
  /** Host ports published. */
  hostPorts: number[];
}

/** Everything the look found; `undefined` means that probe was skipped. */
export interface HostFacts {
  listening?: ListeningSocket[];
  processes: Map<number, ProcessInfo>;
  nginx?: NginxFacts[];
  /** Running service units. */
  systemd?: string[];
  pm2?: Pm2Process[];
  docker?: DockerContainer[];
  /** One line per probe: what it found or why it was skipped. */
  notes: string[];
}

/** Exit code our probe commands use for "this tool is not there / not running": skip quietly. */
const SKIP = 127;
const MAX_NGINX = 8;
const MAX_PIDS = 64;
const BIG = 1024 * 1024;

const SS = `command -v ss >/dev/null 2>&1 || exit ${SKIP}
ss -ltnp`;

const NGINX_MASTERS = `if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ] && [ ! -d /etc/nginx ]; then exit ${SKIP}; fi
command -v ps >/dev/null 2>&1 && ps -eo pid=,args= | grep 'nginx: master' || true`;

const SYSTEMD = `[ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 || exit ${SKIP}
systemctl list-units --type=service --state=running --no-legend --no-pager --plain`;

const PM2 = `command -v pm2 >/dev/null 2>&1 || exit ${SKIP}
h=\${PM2_HOME:-$HOME/.pm2}
p=$(cat "$h/pm2.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null || { echo 'daemon not running'; exit ${SKIP}; }
pm2 jlist 2>/dev/null | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    let list = []; try { list = JSON.parse(s.slice(s.indexOf("["))); } catch {}
    for (const p of list) { const e = p.pm2_env || {}; console.log(JSON.stringify({ name: p.name, pid: p.pid || 0, status: e.status, outLog: e.pm_out_log_path, cwd: e.pm_cwd })); }
  });'`;

const DOCKER = `command -v docker >/dev/null 2>&1 || exit ${SKIP}
[ -S /var/run/docker.sock ] || [ -n "\${DOCKER_HOST:-}" ] || { echo 'daemon not running'; exit ${SKIP}; }
docker ps --format '{{.Names}}\t{{.Image}}\t{{.Ports}}'`;

/** Reads argv, cwd, stdout and cgroup of each pid (integers only go into the command). */
function procCommand(pids: number[]): string {
  return `for p in ${pids.join(' ')}; do
  [ -r /proc/$p/cmdline ] || continue
  printf '@@pid %s\\n' "$p"
  printf '@@args '; tr '\\0' '\\037' < /proc/$p/cmdline; printf '\\n'
  printf '@@cwd %s\\n' "$(readlink /proc/$p/cwd 2>/dev/null)"
  printf '@@out %s\\n' "$(readlink /proc/$p/fd/1 2>/dev/null)"
  printf '@@cgroup %s\\n' "$(grep -o '[^/]*\\.service' /proc/$p/cgroup 2>/dev/null | tail -n 1)"
done`;
}

/** `nginx -T` for a running master, with the same -p/-c/-e it was started with. */
function dashTCommand(m: NginxMaster): string {
  const q = shellQuote;
  const flags = [m.prefix ? `-p ${q(m.prefix)}` : '', `-c ${q(m.config)}`, m.errorLog ? `-e ${q(m.errorLog)}` : ''].filter(Boolean).join(' ');
  return `${m.binary ? q(m.binary) : 'nginx'} -T ${flags} 2>/dev/null`;
}

/** Reads the main config and the usual site folders next to it and under /etc/nginx. */
function readConfCommand(config: string): string {
  return `c=${shellQuote(config)}; d=$(dirname "$c")
for f in "$c" "$d"/sites-enabled/* "$d"/conf.d/*.conf /etc/nginx/sites-enabled/* /etc/nginx/conf.d/*.conf; do
  [ -f "$f" ] && [ -r "$f" ] || continue
  printf '# configuration file %s:\\n' "$f"; cat "$f"; printf '\\n'
done`;
}

/** Looks at the host. Never throws for a missing tool; rejects only when the host itself fails (SSH). */
export async function lookAtHost(run: HostRunner): Promise<HostFacts> {
  const facts: HostFacts = { processes: new Map(), notes: [] };

  const ss = await run(SS);
  if (ss.exitCode === 0) {
    facts.listening = parseSs(ss.stdout);
    facts.notes.push(`listening TCP ports: ${facts.listening.length} (ss -ltnp)`);
  } else facts.notes.push('listening TCP ports: skipped (no ss)');

  const nginx = await lookAtNginx(run);
  if (nginx) {
    facts.nginx = nginx;
    const n = nginx.reduce((s, x) => s + x.dump.proxies.length, 0);
    facts.notes.push(`nginx: ${count(n, 'proxied location')} in ${nginx.map((x) => `${x.config}${x.viaDashT ? ' (nginx -T)' : ' (read directly)'}`).join(', ') || 'no config found'}`);
  } else facts.notes.push('nginx: not installed');

  const systemd = await run(SYSTEMD);
  if (systemd.exitCode === 0) {
    facts.systemd = parseSystemdUnits(systemd.stdout);
    facts.notes.push(`systemd: ${count(facts.systemd.length, 'running service')}`);
  } else facts.notes.push('systemd: not there');

  const pm2 = await run(PM2);
  if (pm2.exitCode === 0) {
    facts.pm2 = parsePm2(pm2.stdout);
    facts.notes.push(`pm2: ${count(facts.pm2.length, 'process', 'processes')}`);
  } else facts.notes.push(`pm2: ${/daemon not running/.test(pm2.stdout) ? 'daemon not running (not started by us)' : 'not installed'}`);

  const docker = await run(DOCKER);
  if (docker.exitCode === 0) {
    facts.docker = parseDockerPs(docker.stdout);
    facts.notes.push(`docker: ${count(facts.docker.length, 'running container')}`);
  } else facts.notes.push(`docker: ${/daemon not running/.test(docker.stdout) ? 'daemon not running' : docker.exitCode === SKIP ? 'not installed' : 'not permitted'}`);

  const pids = [...new Set((facts.listening ?? []).flatMap((l) => l.processes.map((p) => p.pid)))].slice(0, MAX_PIDS);
  if (pids.length) {
    const proc = await run(procCommand(pids), { maxOutputBytes: BIG });
    for (const info of parseProcInfo(proc.stdout)) facts.processes.set(info.pid, info);
  }
  return facts;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

async function lookAtNginx(run: HostRunner): Promise<NginxFacts[] | undefined> {
  const masters = await run(NGINX_MASTERS);
  if (masters.exitCode === SKIP) return undefined;
  const running = parseNginxMasters(masters.stdout).slice(0, MAX_NGINX);
  const out: NginxFacts[] = [];
  for (const m of running) {
    const t = await run(dashTCommand(m), { maxOutputBytes: BIG });
    const viaDashT = t.exitCode === 0 && t.stdout.includes('# configuration file ');
    const text = viaDashT ? t.stdout : (await run(readConfCommand(m.config), { maxOutputBytes: BIG })).stdout;
    out.push({ config: m.config, viaDashT, dump: parseNginxDump(text) });
  }
  if (running.length === 0) {
    const text = (await run(readConfCommand('/etc/nginx/nginx.conf'), { maxOutputBytes: BIG })).stdout;
    if (text.trim()) out.push({ config: '/etc/nginx/nginx.conf', viaDashT: false, dump: parseNginxDump(text) });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Parsers (exported for tests)

/** `ss -ltnp` lines: `LISTEN 0 511 127.0.0.1:8000 0.0.0.0:* users:(("node",pid=12,fd=20))`. */
export function parseSs(text: string): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== 'LISTEN' || !f[3]) continue;
    const local = f[3];
    const cut = local.lastIndexOf(':');
    const port = Number(local.slice(cut + 1));
    if (cut < 0 || !Number.isInteger(port)) continue;
    const address = local.slice(0, cut).replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    const processes = [...line.matchAll(/\("([^"]*)",pid=(\d+)/g)].map((m) => ({ name: m[1]!, pid: Number(m[2]) }));
    const same = out.find((s) => s.port === port && s.address === address);
    if (same) same.processes.push(...processes.filter((p) => !same.processes.some((q) => q.pid === p.pid)));
    else out.push({ address, port, processes });
  }
  return out;
}

interface NginxMaster {
  pid: number;
  binary?: string;
  prefix?: string;
  config: string;
  errorLog?: string;
}

/** `ps -eo pid=,args=` lines of nginx masters: `123 nginx: master process /usr/sbin/nginx -c /etc/nginx/nginx.conf`. */
export function parseNginxMasters(text: string): NginxMaster[] {
  const out: NginxMaster[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+nginx: master process\s*(.*)$/.exec(line);
    if (!m) continue;
    const words = m[2]!.trim().split(/\s+/);
    const binary = words[0]?.startsWith('/') ? words[0] : undefined;
    const flag = (f: string) => {
      const i = words.indexOf(f);
      return i >= 0 ? words[i + 1] : undefined;
    };
    const prefix = flag('-p');
    let config = flag('-c') ?? '/etc/nginx/nginx.conf';
    if (!config.startsWith('/') && prefix) config = `${prefix.replace(/\/?$/, '/')}${config}`;
    if (!config.startsWith('/')) continue;
    if (out.some((o) => o.config === config)) continue;
    out.push({ pid: Number(m[1]), binary, prefix, config, errorLog: flag('-e') });
  }
  return out;
}

/** `systemctl list-units --plain --no-legend` lines → unit names. */
export function parseSystemdUnits(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((u) => u.endsWith('.service'));
}

/** One JSON object a line, as the PM2 probe prints them. */
export function parsePm2(text: string): Pm2Process[] {
  const out: Pm2Process[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const p = JSON.parse(line) as Partial<Pm2Process>;
      if (typeof p.name === 'string') out.push({ name: p.name, pid: Number(p.pid) || 0, status: String(p.status ?? 'unknown'), outLog: p.outLog, cwd: p.cwd });
    } catch {
      // a line we do not understand is not a process
    }
  }
  return out;
}

/** `docker ps --format '{{.Names}}\t{{.Image}}\t{{.Ports}}'` lines. */
export function parseDockerPs(text: string): DockerContainer[] {
  const out: DockerContainer[] = [];
  for (const line of text.split('\n')) {
    const [name, image, ports = ''] = line.split('\t');
    if (!name || image === undefined) continue;
    const hostPorts = [...new Set([...ports.matchAll(/:(\d+)->/g)].map((m) => Number(m[1])))];
    out.push({ name, image, ports, hostPorts });
  }
  return out;
}

/** The `@@pid/@@args/@@cwd/@@out/@@cgroup` blocks of the /proc probe. */
export function parseProcInfo(text: string): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  let cur: ProcessInfo | undefined;
  for (const line of text.split('\n')) {
    const m = /^@@(\w+) ?(.*)$/.exec(line);
    if (!m) continue;
    const [, key, value = ''] = m;
    if (key === 'pid') {
      cur = { pid: Number(value), args: [] };
      out.push(cur);
    } else if (cur && key === 'args') cur.args = value.split('\x1f').filter((a, i, all) => a !== '' || i < all.length - 1);
    else if (cur && key === 'cwd' && value) cur.cwd = value;
    else if (cur && key === 'out' && value) cur.stdout = value;
    else if (cur && key === 'cgroup' && value) cur.unit = value;
  }
  return out;
}

/** Asks the app for `/health` or `/healthz` (a GET on the host, from the host); the URL that answered 2xx. */
export async function findHealthUrl(run: HostRunner, address: string, port: number): Promise<string | undefined> {
  const host = address === '0.0.0.0' || address === '*' || address === '' ? '127.0.0.1' : address === '::' ? '[::1]' : address.includes(':') ? `[${address}]` : address;
  if (!/^[\w.:[\]-]+$/.test(host) || !Number.isInteger(port)) return undefined;
  for (const path of ['/health', '/healthz']) {
    const url = `http://${host}:${port}${path}`;
    const r = await run(`command -v curl >/dev/null 2>&1 || exit ${SKIP}
curl -s -o /dev/null -w '%{http_code}' --max-time 2 ${shellQuote(url)}`);
    if (r.exitCode === SKIP) return undefined;
    if (/^2\d\d$/.test(r.stdout.trim())) return url;
  }
  return undefined;
}
