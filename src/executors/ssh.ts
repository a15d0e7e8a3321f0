/**
 * The `ssh` executor (ssh2): one pooled connection per host, reused by every
 * step of every run on that worker, with a few persistent shell sessions on
 * it (see {@link ShellSession}).
 *
 * - TCP_NODELAY is set on the socket: ssh2 leaves Nagle on, which made each
 *   exec on an open connection wait ~44 ms instead of ~2 ms.
 * - The host key is checked against the pinned fingerprint or known_hosts;
 *   an unknown or changed key is refused with `SSH_HOSTKEY`.
 * - A timed-out or cancelled command is killed on the host (its whole process
 *   group), not just its channel; a dropped connection kills it too (see
 *   {@link ShellSession}).
 * - A bad host is a rejected `TriageError` for that host, never a crash or a
 *   hang: TCP connect and the SSH handshake are each bounded by
 *   `connectTimeoutMs`, and so is starting a shell on the connection; every
 *   ssh2 'error' has a listener for the client's whole life (ssh2 emits more
 *   than one, e.g. "Connection lost before handshake" after a handshake
 *   timeout). A connection lost mid-step is `SSH_CONNECT` (host unreachable).
 *
 * Deliberately left out: jump hosts, password auth, SFTP.
 */
import { createHash, createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import ssh2, { Client, type ClientChannel, type ParsedKey } from 'ssh2';
import { TriageError } from '../errors.ts';
import { publishSshConnectFailure } from '../ops/events.ts';
import {
  type BatchCommand,
  DEFAULT_CONNECT_TIMEOUT_MS,
  type ExecOptions,
  type ExecResult,
  type Executor,
  type HostSpec,
} from './executor.ts';
import { checkKnownHosts, checkPinned, type HostKeyVerdict } from './host-key.ts';
import { SessionPool } from './session-pool.ts';
import { ShellSession } from './shell-session.ts';

/** Options for {@link SshExecutor}. */
export interface SshExecutorOptions {
  /** Commands running at once per host (= shell sessions). Default 4; OpenSSH allows 10 by default. */
  maxSessionsPerHost?: number;
  /** SSH keepalive interval. Default 15 000 ms. */
  keepaliveMs?: number;
}

interface Conn {
  client: Client;
  sock?: Socket;
  pool: SessionPool;
  ready: Promise<void>;
  closed: boolean;
  /** Set by `drop()`: errors after it are ours, not the host's. */
  closedByUs: boolean;
  /** The first error or close seen on the connection. */
  lost?: Error;
  /** Where the client's errors go while connecting (afterwards they only mark the connection lost). */
  onError?: (err: Error) => void;
  onClose?: () => void;
}

export class SshExecutor implements Executor {
  private readonly conns = new Map<string, Conn>();
  private readonly maxSessions: number;
  private readonly keepaliveMs: number;

  constructor(opts: SshExecutorOptions = {}) {
    this.maxSessions = opts.maxSessionsPerHost ?? 4;
    this.keepaliveMs = opts.keepaliveMs ?? 15_000;
  }

  async exec(host: HostSpec, command: string, opts?: ExecOptions): Promise<ExecResult> {
    const conn = this.connection(host);
    await conn.ready;
    try {
      return await conn.pool.use((s) => s.run(command, opts));
    } catch (e) {
      // The shell went away because the connection did: the host is unreachable, not the command broken.
      if (conn.lost && !conn.closedByUs) throw lostError(host, conn.lost, e);
      throw e;
    }
  }

  /** Several commands in one write on one of the host's sessions (see {@link ShellSession.runBatch}). */
  async execBatch(host: HostSpec, commands: BatchCommand[], opts: { signal?: AbortSignal; onResult: (index: number, r: ExecResult) => void }): Promise<void> {
    const conn = this.connection(host);
    await conn.ready;
    try {
      await conn.pool.use((s) => s.runBatch(commands, opts.signal, opts.onResult));
    } catch (e) {
      if (conn.lost && !conn.closedByUs) throw lostError(host, conn.lost, e);
      throw e;
    }
  }

  async close(): Promise<void> {
    for (const c of this.conns.values()) this.drop(c);
    this.conns.clear();
  }

  /** A pooled connection is only reused for the same address, user, credentials and trust settings. */
  private key(h: HostSpec): string {
    const trust = createHash('sha256')
      .update(JSON.stringify([h.hostKey ?? '', h.knownHosts ?? '', h.agent ?? false, h.passphrase ?? '']))
      .update(h.privateKey ?? '')
      .digest('hex')
      .slice(0, 16);
    return `${h.user}@${h.address}:${h.port ?? 22}/${h.name}/${trust}`;
  }

  private connection(host: HostSpec): Conn {
    const k = this.key(host);
    const existing = this.conns.get(k);
    if (existing && !existing.closed) return existing;
    const client = new Client();
    const conn: Conn = {
      client,
      closed: false,
      closedByUs: false,
      ready: Promise.resolve(),
      pool: new SessionPool(() => this.openSession(conn, host), this.maxSessions),
    };
    const forget = () => {
      conn.closed = true;
      if (this.conns.get(k) === conn) this.conns.delete(k);
    };
    // One listener for the client's whole life: ssh2 emits 'error' more than once (a handshake
    // timeout is followed by "Connection lost before handshake"), and an unheard one kills the process.
    client.on('error', (err: Error) => {
      conn.lost ??= err;
      conn.onError?.(err);
    });
    client.on('close', () => {
      conn.lost ??= new Error('connection closed');
      conn.onClose?.();
      forget();
    });
    conn.ready = this.connect(conn, host);
    conn.ready.catch((e: unknown) => {
      // Counted by reason (ECONNREFUSED, timeout, auth, host-key) when ops listens; "closed by us" is not a failure.
      if (!conn.closedByUs) publishSshConnectFailure(host.name, e);
      this.drop(conn);
      forget();
    });
    this.conns.set(k, conn);
    return conn;
  }

  private drop(c: Conn): void {
    c.closed = true;
    c.closedByUs = true;
    c.pool.close();
    c.client.end();
    c.sock?.destroy();
  }

  private async connect(conn: Conn, host: HostSpec): Promise<void> {
    const { client } = conn;
    const port = host.port ?? 22;
    const where = `${host.name} (${host.address}:${port})`;
    const timeoutMs = host.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const sock = await tcpConnect(host.address, port, timeoutMs, SSH_TCP_ERRORS(where));
    conn.sock = sock;
    if (conn.closedByUs) {
      sock.destroy();
      throw new TriageError('SSH_CONNECT', `${where}: the executor was closed while connecting`);
    }

    let verdict: HostKeyVerdict | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        // The handshake (banner, key exchange, auth) gets its own bound, whatever ssh2 does.
        const timer = setTimeout(() => {
          settle(
            new TriageError('SSH_CONNECT', `${where} did not finish the SSH handshake within ${timeoutMs} ms`, {
              fix: 'check that an SSH server (not some other service) answers on that port and is not overloaded',
            }),
          );
        }, timeoutMs);
        timer.unref();
        const settle = (err?: Error) => {
          clearTimeout(timer);
          conn.onError = undefined;
          conn.onClose = undefined;
          if (err) reject(err);
          else resolve();
        };
        conn.onError = (err: Error & { level?: string }) => settle(handshakeError(err, where, host, verdict, timeoutMs));
        conn.onClose = () =>
          settle(
            verdict && !verdict.ok
              ? hostKeyError(where, verdict, host)
              : new TriageError('SSH_CONNECT', `${where} closed the connection before the SSH handshake finished`, {
                  fix: 'check that sshd runs on that port (MaxStartups, LoginGraceTime, tcp wrappers)',
                }),
          );
        client.once('ready', () => settle());
        try {
          const key = host.privateKey ? parsedKey(host.privateKey, host.passphrase) : undefined;
          const agent = host.agent ? process.env.SSH_AUTH_SOCK : undefined;
          client.connect({
            sock,
            host: host.address,
            port,
            username: host.user,
            // The key parsed once per worker, not once per connection (see parsedKey); the agent after it, as ssh2 would.
            ...(key
              ? { authHandler: [{ type: 'publickey', username: host.user, key }, ...(agent ? [{ type: 'agent', username: host.user, agent }] : [])] as never }
              : { agent }),
            readyTimeout: timeoutMs,
            keepaliveInterval: this.keepaliveMs,
            keepaliveCountMax: 3,
            hostVerifier: (key: Buffer) => {
              verdict = verifyHostKey(key, host, port);
              return verdict.ok;
            },
          });
        } catch (e) {
          // e.g. an unreadable private key: ssh2 throws instead of emitting
          settle(new TriageError('SSH_AUTH', `${where}: cannot use the key of hosts.${host.name}: ${(e as Error).message}`, { cause: e }));
        }
      });
    } catch (e) {
      sock.destroy();
      throw e;
    }
  }

  private async openSession(conn: Conn, host: HostSpec): Promise<ShellSession> {
    const where = `${host.name} (${host.address}:${host.port ?? 22})`;
    // The login shell and its rc files run here (pyenv, nvm: seconds on a busy host), so a
    // short connect timeout tuned for dead hosts must not also cut a slow but healthy shell.
    const timeoutMs = Math.max(host.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS);
    let channel: ClientChannel | undefined;
    let timer: NodeJS.Timeout | undefined;
    let gaveUp = false;
    const bounded = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        gaveUp = true;
        channel?.close();
        reject(new TriageError('EXEC_FAILED', `${where} did not start a shell within ${timeoutMs} ms`, {
          fix: "check the login shell and rc files of the SSH user on the host (they run once per session)",
        }));
      }, timeoutMs);
      timer.unref();
    });
    try {
      channel = await Promise.race([
        bounded,
        new Promise<ClientChannel>((resolve, reject) => {
          try {
            // `exec sh` instead of a pty shell: no prompts, no echo; the login shell runs once per session.
            conn.client.exec('exec sh', (err, ch) => {
              if (err) return reject(wrapExec(err, host));
              if (gaveUp) ch.close(); // answered after we stopped waiting: do not leave a shell open
              resolve(ch);
            });
          } catch (e) {
            reject(wrapExec(e as Error, host)); // ssh2 throws when the connection is already gone
          }
        }),
      ]);
      channel.on('error', () => {}); // surfaces as the session closing
      channel.stderr.on('error', () => {});
      const session = new ShellSession(channel, channel, channel.stderr, host.name);
      try {
        await Promise.race([bounded, session.ready()]);
      } catch (e) {
        session.close();
        throw e;
      }
      return session;
    } catch (e) {
      if (conn.lost && !conn.closedByUs) throw lostError(host, conn.lost, e);
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Parsed private keys by content and passphrase: a fleet shares one key, and parsing it is the costly part of a connect. */
const KEYS = new Map<string, ParsedKey>();

/**
 * The private key, parsed once. An Ed25519 key also signs with a key object
 * made once: ssh2 signs from the PEM text, which Node parses again per
 * signature (~2 ms of CPU per connection). Throws ssh2's own error for a key
 * it cannot use (the caller turns it into SSH_AUTH).
 */
function parsedKey(privateKey: Buffer | string, passphrase?: string): ParsedKey {
  const id = createHash('sha256').update(privateKey).update('\0').update(passphrase ?? '').digest('hex');
  const known = KEYS.get(id);
  if (known) return known;
  // `utils` through the default export: Node's ESM view of ssh2 (CommonJS) does not name it.
  const parsed = ssh2.utils.parseKey(privateKey, passphrase);
  if (parsed instanceof Error) throw new Error(`Cannot parse privateKey: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0]! : parsed;
  if (!key.isPrivateKey()) throw new Error('privateKey value does not contain a (valid) private key');
  if (key.type === 'ssh-ed25519') {
    const keyObject = createPrivateKey(key.getPrivatePEM());
    (key as { sign: (data: Buffer) => Buffer | Error }).sign = (data: Buffer) => {
      try {
        return cryptoSign(null, data, keyObject);
      } catch (e) {
        return e as Error;
      }
    };
  }
  if (KEYS.size > 100) KEYS.clear();
  KEYS.set(id, key);
  return key;
}

function handshakeError(
  err: Error & { level?: string },
  where: string,
  host: HostSpec,
  verdict: HostKeyVerdict | undefined,
  timeoutMs: number,
): TriageError {
  if (verdict && !verdict.ok) return hostKeyError(where, verdict, host);
  if (err.level === 'client-authentication') {
    return new TriageError('SSH_AUTH', `${where} refused the key for user ${host.user}`, {
      fix: `add the public key of hosts.${host.name}.privateKey to ~${host.user}/.ssh/authorized_keys on the host`,
      cause: err,
    });
  }
  if (err.level === 'client-timeout') {
    return new TriageError('SSH_CONNECT', `${where} did not finish the SSH handshake within ${timeoutMs} ms`, {
      fix: 'check that an SSH server (not some other service) answers on that port and is not overloaded',
      cause: err,
    });
  }
  return new TriageError('SSH_CONNECT', `${where}: ${err.message}`, { fix: 'check the address, port and sshd on the host', cause: err });
}

/** A step or session that failed because the connection went away. */
function lostError(host: HostSpec, lost: Error, cause: unknown): TriageError {
  const where = `${host.name} (${host.address}:${host.port ?? 22})`;
  return new TriageError('SSH_CONNECT', `lost the connection to ${where}: ${lost.message}`, {
    fix: 'check the network and sshd on the host; the step was stopped there when the connection dropped',
    cause,
  });
}

function verifyHostKey(key: Buffer, host: HostSpec, port: number): HostKeyVerdict {
  if (host.hostKey) return checkPinned(key, host.hostKey);
  if (host.knownHosts) return checkKnownHosts(key, host.knownHosts, host.address, port);
  return { ok: false, reason: 'unknown', presented: '' };
}

function hostKeyError(where: string, v: Exclude<HostKeyVerdict, { ok: true }>, host: HostSpec): TriageError {
  if (!host.hostKey && !host.knownHosts) {
    return new TriageError('SSH_HOSTKEY', `${where}: no hostKey or knownHosts configured, refusing to trust an unknown key`, {
      fix: `pin it: ssh-keyscan -p ${host.port ?? 22} ${host.address} | ssh-keygen -lf - and set hosts.${host.name}.hostKey`,
    });
  }
  if (v.reason === 'unknown') {
    return new TriageError('SSH_HOSTKEY', `${where} presented ${v.presented}, which is not in ${host.knownHosts}`, {
      fix: `verify the key out of band, then add it to ${host.knownHosts} (ssh-keyscan -p ${host.port ?? 22} ${host.address})`,
    });
  }
  return new TriageError(
    'SSH_HOSTKEY',
    `${where} presented host key ${v.presented}${v.expected ? `, expected ${v.expected}` : ''} (${v.reason}) — possible man-in-the-middle, refused`,
    { fix: `if the host was rebuilt, verify the new key out of band and update hosts.${host.name}.${host.hostKey ? 'hostKey' : 'knownHosts'}` },
  );
}

function wrapExec(err: Error, host: HostSpec): TriageError {
  return new TriageError('EXEC_FAILED', `${host.name}: cannot open a session: ${err.message}`, {
    fix: 'check MaxSessions in sshd_config on the host',
    cause: err,
  });
}

/** How a failed TCP connect is told to the user: each caller words it for its own context. */
export interface TcpConnectErrors {
  timeout: (timeoutMs: number) => TriageError;
  error: (e: NodeJS.ErrnoException) => TriageError;
}

const SSH_TCP_ERRORS = (where: string): TcpConnectErrors => ({
  timeout: (ms) => new TriageError('SSH_CONNECT', `${where}: no answer within ${ms} ms`, { fix: 'check the address, the port and firewalls' }),
  error: (e) => new TriageError('SSH_CONNECT', `${where}: ${e.code ?? e.message}`, { fix: 'check the address, the port and that sshd runs on the host', cause: e }),
});

/**
 * Opens the TCP connection ssh2 then runs over: bounded by `timeoutMs`,
 * TCP_NODELAY (ssh2 leaves Nagle on) and keepalive set, and an 'error'
 * listener kept for the socket's life (ssh2 adds its own only once
 * connect() is called). Shared by the executor and `triage init`.
 */
export function tcpConnect(address: string, port: number, timeoutMs: number, errors: TcpConnectErrors): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: address, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(errors.timeout(timeoutMs));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.setNoDelay(true);
      sock.setKeepAlive(true, 30_000);
      resolve(sock);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(errors.error(e));
    });
  });
}
