/**
 * Turns what `triage init` saw on a host into proposed target settings, each
 * with the reason a person can check ("nginx proxies /api to :8000 in
 * shop.conf"). Nothing is proposed without evidence on the host.
 *
 * How the port is chosen: a `location` whose site file or server_name
 * contains the target's name and that proxy_passes to this host; else a
 * listening process, pm2 process or container named like the target; else
 * any location proxying to this host (one with a listener first); else the
 * only application runtime (node, python, java, ...) listening.
 *
 * How the service is chosen for that port: a container publishing it, else
 * the pm2 process, the systemd unit or (last) a `pgrep -f` pattern for the
 * process that listens there.
 *
 * Deliberately left out: databases, env files and deploy settings (they need
 * a person's knowledge, not a guess).
 */
import { basename } from 'node:path';
import type { HostFacts, ListeningSocket, ProcessInfo } from './host-facts.ts';
import type { ProxiedLocation } from './nginx-conf.ts';

/** A value with the evidence behind it. */
export interface Proposed<T> {
  value: T;
  why: string;
}

export type ServiceProposal = { manager: 'systemd' | 'pm2' | 'docker' | 'process'; name: string };
export type LogsProposal = { file: string } | { journal: string } | { pm2: string } | { docker: string };
export type NginxProposal = { config: string; site?: string; location?: string };

/** What `triage init` proposes for the target (each field optional). */
export interface Proposal {
  port?: Proposed<number>;
  service?: Proposed<ServiceProposal>;
  nginx?: Proposed<NginxProposal>;
  logs?: Proposed<LogsProposal>;
  workdir?: Proposed<string>;
  /** Where the app listens (for the health URL). */
  listenAddress?: string;
}

const LOCAL_HOSTS = /^(127\.\d+\.\d+\.\d+|localhost|::1|0\.0\.0\.0)$/;
/** Daemons that are not "the app". */
const INFRA =
  /^(sshd|nginx|apache2|httpd|caddy|haproxy|traefik|envoy|systemd.*|dockerd|containerd.*|docker-proxy|redis-server|postgres|postmaster|mysqld|mariadbd|mongod|memcached|epmd|beam\.smp|nats-server|master|exim4|sendmail|postfix|cupsd|chronyd|ntpd|rpcbind|dnsmasq|named|unbound|avahi-daemon|rsyslogd|sshd-session)$/;
const RUNTIME = /^(node|nodejs|python[\d.]*|gunicorn|uvicorn|hypercorn|java|ruby|puma|unicorn|php-fpm.*|php|bun|deno|dotnet|beam|next-server.*)$/;
const INTERPRETER = /^(node|nodejs|python[\d.]*|ruby|perl|php|java|bun|deno|dotnet)$/;

/**
 * Proposes settings for `target`. With `port`, the rest is proposed for that
 * port (after the user has confirmed or changed it); `null` means the target
 * has no port, so only a service named like the target can be proposed.
 */
export function propose(facts: HostFacts, target: string, hostAddress: string, port?: number | null): Proposal {
  const out: Proposal = {};
  let proxy = port === null ? undefined : bestProxy(facts, target, hostAddress, port);
  if (port === undefined) {
    // A process named like the target beats a proxy that is not: the proxy may serve another app.
    const named = namedListener(facts, target);
    if (named && !proxy?.named) {
      out.port = { value: named.port, why: `${who(named)} listens on ${named.address}:${named.port}` };
      proxy = bestProxy(facts, target, hostAddress, named.port);
    } else if (proxy?.p.upstream) {
      const listening = listenersOn(facts, proxy.p.upstream.port);
      out.port = {
        value: proxy.p.upstream.port,
        why: `nginx ${proxy.p.location ?? 'location'} proxies to ${proxy.p.upstream.host}:${proxy.p.upstream.port} (${basename(proxy.p.file)})${listening.length ? '' : '; nothing listens there now'}`,
      };
    } else {
      const sock = onlyRuntimeListener(facts);
      if (sock) out.port = { value: sock.port, why: `${who(sock)} listens on ${sock.address}:${sock.port}` };
    }
  } else if (port !== null) {
    out.port = { value: port, why: 'given' };
  }
  const appPort = out.port?.value;

  if (proxy) {
    const value: NginxProposal = { config: proxy.config };
    if (proxy.p.file !== proxy.config) value.site = proxy.p.file;
    if (proxy.p.location) value.location = proxy.p.location;
    out.nginx = { value, why: `${proxy.p.location ?? 'a location'} in ${proxy.p.file} has proxy_pass ${proxy.p.proxyPass}` };
  }

  const sockets = appPort === undefined ? [] : listenersOn(facts, appPort);
  out.listenAddress = sockets[0]?.address;
  const found = appPort === undefined ? undefined : serviceOnPort(facts, appPort, sockets);
  const svc = found ?? serviceByName(facts, target);
  if (svc) {
    out.service = { value: svc.service, why: svc.why };
    const logs = logsFor(svc.service, svc.proc, svc.outLog);
    if (logs) out.logs = logs;
    const cwd = svc.cwd ?? svc.proc?.cwd;
    if (cwd && cwd !== '/' && cwd.startsWith('/')) out.workdir = { value: cwd, why: `the ${svc.service.manager === 'pm2' ? 'pm2 process' : 'process'}'s working directory` };
  }
  return out;
}

function isLocalUpstream(host: string, hostAddress: string): boolean {
  return LOCAL_HOSTS.test(host) || host === hostAddress;
}

function nameMatches(target: string, ...texts: (string | undefined)[]): boolean {
  const t = target.toLowerCase();
  return texts.some((s) => s?.toLowerCase().includes(t));
}

function listenersOn(facts: HostFacts, port: number): ListeningSocket[] {
  return (facts.listening ?? []).filter((s) => s.port === port);
}

function bestProxy(facts: HostFacts, target: string, hostAddress: string, port?: number): { p: ProxiedLocation; config: string; named: boolean } | undefined {
  let best: { p: ProxiedLocation; config: string; named: boolean; score: number } | undefined;
  for (const n of facts.nginx ?? []) {
    for (const p of n.dump.proxies) {
      if (!p.upstream || !isLocalUpstream(p.upstream.host, hostAddress)) continue;
      if (port !== undefined && p.upstream.port !== port) continue;
      const named = nameMatches(target, basename(p.file), ...p.serverNames);
      const score = (named ? 4 : 0) + (listenersOn(facts, p.upstream.port).length ? 2 : 0);
      if (!best || score > best.score) best = { p, config: n.config, named, score };
    }
  }
  return best;
}

function who(sock: ListeningSocket): string {
  const p = sock.processes[0];
  return p ? `${p.name} (pid ${p.pid})` : 'a process';
}

/** Listening sockets of applications (not sshd, nginx, databases, ...); a port docker publishes counts. */
function appSockets(facts: HostFacts): ListeningSocket[] {
  const published = new Set((facts.docker ?? []).flatMap((c) => c.hostPorts));
  return (facts.listening ?? []).filter((s) => published.has(s.port) || (s.processes.length > 0 && !s.processes.some((p) => INFRA.test(p.name))));
}

/** A socket held by a process, pm2 process or container whose name or command line contains the target's name. */
function namedListener(facts: HostFacts, target: string): ListeningSocket | undefined {
  return appSockets(facts).find(
    (s) =>
      s.processes.some((p) => nameMatches(target, p.name, facts.processes.get(p.pid)?.args.join(' '), facts.pm2?.find((x) => x.pid === p.pid)?.name)) ||
      (facts.docker ?? []).some((c) => c.hostPorts.includes(s.port) && nameMatches(target, c.name)),
  );
}

/** The one port an application runtime (node, python, ...) listens on, if there is exactly one. */
function onlyRuntimeListener(facts: HostFacts): ListeningSocket | undefined {
  const runtimes = appSockets(facts).filter((s) => s.processes.some((p) => RUNTIME.test(p.name)));
  return new Set(runtimes.map((s) => s.port)).size === 1 ? runtimes[0] : undefined;
}

interface FoundService {
  service: ServiceProposal;
  why: string;
  proc?: ProcessInfo;
  outLog?: string;
  cwd?: string;
}

function serviceOnPort(facts: HostFacts, port: number, sockets: ListeningSocket[]): FoundService | undefined {
  const container = facts.docker?.find((c) => c.hostPorts.includes(port));
  if (container) return { service: { manager: 'docker', name: container.name }, why: `container ${container.name} (${container.image}) publishes :${port}` };
  const pids = sockets.flatMap((s) => s.processes.map((p) => p.pid));
  for (const pid of pids) {
    const pm2 = facts.pm2?.find((p) => p.pid === pid);
    if (pm2) return { service: { manager: 'pm2', name: pm2.name }, why: `pm2 process ${pm2.name} (pid ${pid}) listens on :${port}`, outLog: pm2.outLog, cwd: pm2.cwd };
  }
  for (const pid of pids) {
    const proc = facts.processes.get(pid);
    if (proc?.unit && facts.systemd?.includes(proc.unit)) {
      return { service: { manager: 'systemd', name: proc.unit }, why: `pid ${pid} listening on :${port} runs in ${proc.unit}`, proc };
    }
  }
  for (const pid of pids) {
    const proc = facts.processes.get(pid);
    const pattern = proc && processPattern(proc.args);
    if (proc && pattern) return { service: { manager: 'process', name: pattern }, why: `pid ${pid} listening on :${port} is \`${clip(proc.args.join(' '))}\``, proc };
  }
  return undefined;
}

/** The app is down: a pm2 process, unit or container named like the target. */
function serviceByName(facts: HostFacts, target: string): FoundService | undefined {
  const pm2 = facts.pm2?.find((p) => nameMatches(target, p.name));
  if (pm2) return { service: { manager: 'pm2', name: pm2.name }, why: `pm2 has a process named ${pm2.name} (${pm2.status})`, outLog: pm2.outLog, cwd: pm2.cwd };
  const unit = facts.systemd?.find((u) => nameMatches(target, u));
  if (unit) return { service: { manager: 'systemd', name: unit }, why: `systemd runs ${unit}` };
  const c = facts.docker?.find((d) => nameMatches(target, d.name));
  if (c) return { service: { manager: 'docker', name: c.name }, why: `container ${c.name} (${c.image}) is running` };
  return undefined;
}

function logsFor(service: ServiceProposal, proc: ProcessInfo | undefined, outLog: string | undefined): Proposed<LogsProposal> | undefined {
  switch (service.manager) {
    case 'docker':
      return { value: { docker: service.name }, why: 'docker logs of the container' };
    case 'pm2':
      return { value: { pm2: service.name }, why: `pm2 logs${outLog ? ` (${outLog})` : ''}` };
    case 'systemd':
      return { value: { journal: service.name }, why: 'the unit\'s journal' };
    case 'process': {
      const out = proc?.stdout;
      if (out?.startsWith('/') && !out.startsWith('/dev/') && !/ \(deleted\)$/.test(out)) return { value: { file: out }, why: `the process writes its output there (fd 1)` };
      return undefined;
    }
  }
}

const REGEX_SPECIAL = /[\\^$*+?()[\]{}|]/g;

/**
 * A `pgrep -f` pattern for a process: the script an interpreter runs
 * (`node /srv/app/server.js` → `/srv/app/server.js`, `python -m uvicorn
 * main:app` → `uvicorn main:app`), else the program's path. Regex characters
 * other than `.` are escaped.
 */
export function processPattern(args: string[]): string | undefined {
  const [argv0, ...rest] = args;
  if (!argv0) return undefined;
  let pattern = argv0;
  if (INTERPRETER.test(basename(argv0))) {
    const m = rest.indexOf('-m');
    if (m >= 0 && rest[m + 1]) {
      const words = [rest[m + 1]!];
      if (rest[m + 2] && !rest[m + 2]!.startsWith('-')) words.push(rest[m + 2]!);
      pattern = words.join(' ');
    } else {
      const script = rest.find((a) => !a.startsWith('-'));
      if (script) pattern = script;
    }
  }
  pattern = pattern.replace(REGEX_SPECIAL, '\\$&');
  return pattern.length <= 200 && !/[\x00-\x1f\x7f]/.test(pattern) ? pattern : undefined;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
