/**
 * A fleet of "hosts" for tests: real OpenSSH sshd listening on loopback
 * addresses 127.0.0.2, 127.0.0.3, ... (one shared port), all backed by this
 * machine. Keys and known_hosts are generated fresh in a private temp dir.
 *
 * Deliberately left out: anything but public-key auth, and non-loopback
 * addresses.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  canBind,
  descendantsOf,
  ensureBinaries,
  execFileP,
  freePort,
  makeTempDir,
  readIfExists,
  removeTempDir,
  spawnTracked,
  type TrackedChild,
  tcpProbe,
  waitUntil,
} from './processes.ts';

const SSHD = '/usr/sbin/sshd';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
/** sshd listens on at most 16 addresses per process (MAX_LISTEN_SOCKS). */
const ADDRESSES_PER_SSHD = 16;
const MAX_HOSTS = 200;
const READY_TIMEOUT_MS = 10_000;

export interface FleetHost {
  /** Config name: web1, web2, ... */
  name: string;
  /** Loopback address, 127.0.0.N. */
  address: string;
  port: number;
  user: string;
}

export interface Fleet {
  hosts: FleetHost[];
  /** Client private key (ed25519, no passphrase); its public half is authorized on every host. */
  keyFile: string;
  /** known_hosts with a `[addr]:port` line per host. */
  knownHostsFile: string;
  /** `SHA256:...` of the host key (the same key on every host). */
  hostKeyFingerprint: string;
  /** The host public key as an `ssh-ed25519 AAAA...` line. */
  hostPublicKey: string;
  /** The port every host listens on. */
  port: number;
  /** Private temp dir holding keys, configs and `sshd-N.log`. Removed by `stop()`. */
  dir: string;
  /** Pids of the sshd listener processes (one per 16 hosts). */
  pids: number[];
  /** Stops every sshd (and their sessions) and removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

export interface FleetOptions {
  /** Number of hosts. Default 3; addresses 127.0.0.2 upwards; more than 16 starts more sshd processes. */
  hosts?: number;
  /** Login user. Default the current user. */
  user?: string;
  /** Environment sshd sets in every session (`SetEnv`), e.g. a private TMPDIR to count a test's temp files exactly. */
  sessionEnv?: Record<string, string>;
  /** sshd `MaxSessions` (channels per connection). Default 50. */
  maxSessions?: number;
}

/** Makes sure sshd and ssh-keygen exist (installs them as root, else throws saying what to install). */
export async function ensureSshd(): Promise<string> {
  await ensureBinaries([SSHD, SSH_KEYGEN]);
  return SSHD;
}

async function keygen(file: string, comment: string): Promise<void> {
  await execFileP(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

async function fingerprintOf(pubFile: string): Promise<string> {
  const { stdout } = await execFileP(SSH_KEYGEN, ['-l', '-E', 'sha256', '-f', pubFile]);
  const m = /SHA256:[A-Za-z0-9+/=]+/.exec(stdout);
  if (!m) throw new Error(`no fingerprint in ssh-keygen output: ${stdout}`);
  return m[0];
}

/** Options sshd may not know (older or newer OpenSSH); dropped when `sshd -t` rejects them. */
const OPTIONAL_DIRECTIVES = ['PerSourceMaxStartups', 'PerSourcePenalties', 'KbdInteractiveAuthentication'];
let unsupportedDirectives: Set<string> | undefined;

function sshdConfig(o: { addresses: string[]; port: number; hostKey: string; pidFile: string; authorizedKeys: string; setEnv?: string; maxSessions?: number }): string {
  const lines = [
    ...o.addresses.map((a) => `ListenAddress ${a}:${o.port}`),
    `HostKey ${o.hostKey}`,
    `PidFile ${o.pidFile}`,
    `AuthorizedKeysFile ${o.authorizedKeys}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    `MaxSessions ${o.maxSessions ?? 50}`,
    'MaxStartups 200',
    'PerSourceMaxStartups none',
    // OpenSSH >= 9.8 would otherwise lock out loopback after the auth-failure tests.
    'PerSourcePenalties no',
    'LoginGraceTime 30',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'X11Forwarding no',
    'LogLevel ERROR',
    ...(o.setEnv ? [`SetEnv ${o.setEnv}`] : []),
  ];
  return `${lines.filter((l) => !unsupportedDirectives?.has(l.split(' ')[0])).join('\n')}\n`;
}

/** Learns once which optional directives this sshd rejects (concurrent callers share the probe). */
let directivesProbed: Promise<void> | undefined;
function probeDirectives(dir: string, cfgArgs: Parameters<typeof sshdConfig>[0]): Promise<void> {
  directivesProbed ??= (async () => {
    const rejected = new Set<string>();
    unsupportedDirectives = rejected;
    const cfg = path.join(dir, 'sshd-probe.conf');
    for (let i = 0; i <= OPTIONAL_DIRECTIVES.length; i++) {
      await fsp.writeFile(cfg, sshdConfig(cfgArgs));
      try {
        await execFileP(SSHD, ['-t', '-f', cfg]);
        return;
      } catch (err) {
        const msg = String((err as { stderr?: string }).stderr ?? err);
        const bad = OPTIONAL_DIRECTIVES.find((d) => !rejected.has(d) && msg.includes(d));
        if (!bad) throw new Error(`sshd rejects the test config: ${msg.trim()}`);
        rejected.add(bad);
      }
    }
  })().catch((err: unknown) => {
    directivesProbed = undefined;
    throw err;
  });
  return directivesProbed;
}

interface SshdProcess {
  proc: TrackedChild;
  logFile: string;
}

/**
 * Starts one `sshd -D -e` listening on `addresses` at `port` and waits until
 * each address sends an SSH banner. Returns undefined when the port turned out
 * to be taken (caller retries with another).
 */
async function startSshd(o: {
  dir: string;
  name: string;
  addresses: string[];
  port: number;
  hostKey: string;
  authorizedKeys: string;
  setEnv?: string;
  maxSessions?: number;
}): Promise<SshdProcess | undefined> {
  const cfgArgs = {
    addresses: o.addresses,
    port: o.port,
    hostKey: o.hostKey,
    pidFile: path.join(o.dir, `${o.name}.pid`),
    authorizedKeys: o.authorizedKeys,
    setEnv: o.setEnv,
    maxSessions: o.maxSessions,
  };
  await probeDirectives(o.dir, cfgArgs);
  const cfg = path.join(o.dir, `${o.name}.conf`);
  const logFile = path.join(o.dir, `${o.name}.log`);
  await fsp.writeFile(cfg, sshdConfig(cfgArgs));
  await fsp.writeFile(logFile, '');
  const proc = await spawnTracked(SSHD, ['-D', '-e', '-f', cfg], { logFile });
  const bindFailed = () => /Bind to port .* failed|Cannot bind any address/.test(readIfExists(logFile));
  try {
    for (const address of o.addresses) {
      await waitUntil(
        `sshd ${address}:${o.port} banner`,
        async () => (await tcpProbe(address, o.port, { readLine: true, timeoutMs: 1000 })).startsWith('SSH-2.0-'),
        {
          timeoutMs: READY_TIMEOUT_MS,
          abort: () =>
            bindFailed()
              ? 'port taken'
              : proc.hasExited()
                ? `sshd exited: ${readIfExists(logFile).trim() || '(no output)'}`
                : undefined,
        },
      );
    }
  } catch (err) {
    await proc.stop();
    if (bindFailed()) return undefined;
    throw err;
  }
  // A bind error on one address does not stop sshd; an impostor may have answered there.
  if (bindFailed()) {
    await proc.stop();
    return undefined;
  }
  return { proc, logFile };
}

async function stopSshd(s: SshdProcess): Promise<void> {
  // Session processes call setsid(), so the group kill does not reach them.
  const sessions = s.proc.hasExited() ? [] : descendantsOf(s.proc.pid);
  await s.proc.stop();
  for (const pid of sessions) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // ended with the listener
    }
  }
}

/** A port free on every address: bind the first at :0, then check the rest. */
async function portFreeOnAll(addresses: string[]): Promise<number | undefined> {
  const port = await freePort(addresses[0]);
  for (const a of addresses.slice(1)) if (!(await canBind(a, port))) return undefined;
  return port;
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Starts the fleet; resolves once every host sends its SSH banner (at most ~10 s). */
export async function startFleet(opts: FleetOptions = {}): Promise<Fleet> {
  const count = opts.hosts ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) {
    throw new Error(`startFleet: hosts must be 1..${MAX_HOSTS}, got ${count}`);
  }
  const user = opts.user ?? os.userInfo().username;
  await ensureSshd();
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = await makeTempDir('triage-fleet-');
  const keyFile = path.join(dir, 'client_ed25519');
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  const authorizedKeys = path.join(dir, 'authorized_keys');
  const knownHostsFile = path.join(dir, 'known_hosts');
  await Promise.all([keygen(keyFile, 'triage-test-client'), keygen(hostKey, 'triage-test-host')]);
  await fsp.copyFile(`${keyFile}.pub`, authorizedKeys);
  const hostKeyFingerprint = await fingerprintOf(`${hostKey}.pub`);
  const hostPublicKey = (await fsp.readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ');

  const setEnv = opts.sessionEnv && Object.entries(opts.sessionEnv).map(([k, v]) => JSON.stringify(`${k}=${v}`)).join(' ');
  const addresses = Array.from({ length: count }, (_, i) => `127.0.0.${i + 2}`);
  const groups = chunk(addresses, ADDRESSES_PER_SSHD);
  let sshds: SshdProcess[] = [];
  let port = 0;
  try {
    for (let attempt = 0; attempt < 8 && sshds.length === 0; attempt++) {
      const candidate = await portFreeOnAll(addresses);
      if (candidate === undefined) continue;
      const started = await Promise.all(
        groups.map((g, i) => startSshd({ dir, name: `sshd-${i}`, addresses: g, port: candidate, hostKey, authorizedKeys, setEnv, maxSessions: opts.maxSessions })),
      );
      if (started.every((s) => s !== undefined)) {
        sshds = started as SshdProcess[];
        port = candidate;
      } else {
        await Promise.all(started.map((s) => (s ? stopSshd(s) : undefined)));
      }
    }
    if (sshds.length === 0) throw new Error('startFleet: could not find a port free on every fleet address after 8 attempts');
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }

  const hosts = addresses.map((address, i) => ({ name: `web${i + 1}`, address, port, user }));
  await fsp.writeFile(knownHostsFile, hosts.map((h) => `[${h.address}]:${port} ${hostPublicKey}\n`).join(''));

  let stopped: Promise<void> | undefined;
  return {
    hosts,
    keyFile,
    knownHostsFile,
    hostKeyFingerprint,
    hostPublicKey,
    port,
    dir,
    pids: sshds.map((s) => s.proc.pid),
    stop() {
      stopped ??= (async () => {
        await Promise.all(sshds.map(stopSshd));
        await removeTempDir(dir);
      })();
      return stopped;
    },
  };
}

export interface RogueSshd {
  /** Same address and user as the fleet's first host, another port, another host key. */
  host: FleetHost;
  /** `SHA256:...` of the rogue's own host key (differs from the fleet's). */
  fingerprint: string;
  /**
   * known_hosts that claims the FLEET's host key for the rogue's `[addr]:port`,
   * so a client checking against it sees a changed host key.
   */
  staleKnownHostsFile: string;
  stop(): Promise<void>;
}

/**
 * A second sshd with a different host key (same authorized client key), for
 * host-key-mismatch tests. Pin `fleet.hostKeyFingerprint` (or use
 * `staleKnownHostsFile`) against `host` to see the mismatch.
 */
export async function startRogueSshd(fleet: Fleet): Promise<RogueSshd> {
  const first = fleet.hosts[0];
  if (!first) throw new Error('startRogueSshd: the fleet has no hosts');
  const dir = await makeTempDir('triage-rogue-');
  try {
    const hostKey = path.join(dir, 'ssh_host_ed25519_key');
    const authorizedKeys = path.join(dir, 'authorized_keys');
    await keygen(hostKey, 'triage-test-rogue');
    await fsp.copyFile(`${fleet.keyFile}.pub`, authorizedKeys);
    const fingerprint = await fingerprintOf(`${hostKey}.pub`);
    let sshd: SshdProcess | undefined;
    let port = 0;
    for (let attempt = 0; attempt < 8 && !sshd; attempt++) {
      port = await freePort(first.address);
      sshd = await startSshd({ dir, name: 'sshd-rogue', addresses: [first.address], port, hostKey, authorizedKeys });
    }
    if (!sshd) throw new Error('startRogueSshd: no free port after 8 attempts');
    const staleKnownHostsFile = path.join(dir, 'known_hosts.stale');
    await fsp.writeFile(staleKnownHostsFile, `[${first.address}]:${port} ${fleet.hostPublicKey}\n`);
    const running = sshd;
    let stopped: Promise<void> | undefined;
    return {
      host: { name: 'rogue', address: first.address, port, user: first.user },
      fingerprint,
      staleKnownHostsFile,
      stop() {
        stopped ??= (async () => {
          await stopSshd(running);
          await removeTempDir(dir);
        })();
        return stopped;
      },
    };
  } catch (err) {
    await removeTempDir(dir);
    throw err;
  }
}

/** Listening sockets from /proc/net/tcp{,6} as `hexaddr:port` (hex as the kernel prints it). */
function listeningSockets(): Set<string> {
  const out = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && f[1]) out.add(f[1].toUpperCase()); // 0A = LISTEN
    }
  }
  return out;
}

/**
 * An address/port where nothing listens (connections are refused at once):
 * 127.0.0.250 with a port checked closed against /proc/net/tcp{,6}, including
 * wildcard listeners.
 */
export function unusedLoopbackHost(): FleetHost {
  const address = '127.0.0.250';
  const listening = listeningSockets();
  // Below the ephemeral range, so the OS does not hand it out to others by itself.
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const hex = port.toString(16).toUpperCase().padStart(4, '0');
    const taken = [
      `FA00007F:${hex}`, // 127.0.0.250 (little-endian)
      `00000000:${hex}`, // 0.0.0.0
      `00000000000000000000000000000000:${hex}`, // ::
      `0000000000000000FFFF0000FA00007F:${hex}`, // ::ffff:127.0.0.250
    ].some((s) => listening.has(s));
    if (!taken) return { name: 'unreachable', address, port, user: os.userInfo().username };
  }
  throw new Error('unusedLoopbackHost: no closed port found in 200 tries');
}

/**
 * The `hosts:` section of triage.yaml for the fleet: web1, web2, ... with
 * `privateKey: fleet.keyFile` and the host key pinned by fingerprint
 * (default) or by `knownHosts: fleet.knownHostsFile`.
 */
export function fleetConfigHosts(fleet: Fleet, opts: { pin?: 'fingerprint' | 'knownHosts' } = {}): Record<string, object> {
  const pin = opts.pin ?? 'fingerprint';
  const out: Record<string, object> = {};
  for (const h of fleet.hosts) {
    out[h.name] = {
      address: h.address,
      port: h.port,
      user: h.user,
      privateKey: fleet.keyFile,
      ...(pin === 'fingerprint' ? { hostKey: fleet.hostKeyFingerprint } : { knownHosts: fleet.knownHostsFile }),
    };
  }
  return out;
}
