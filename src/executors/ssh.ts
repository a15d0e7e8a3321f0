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
 *   group), not just its channel.
 *
 * Deliberately left out: jump hosts, password auth, SFTP.
 */
import { createHash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { Client, type ClientChannel } from 'ssh2';
import { TriageError } from '../errors.ts';
import {
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
  pool: SessionPool;
  ready: Promise<void>;
  closed: boolean;
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
    return conn.pool.use((s) => s.run(command, opts));
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
      ready: Promise.resolve(),
      pool: new SessionPool(() => this.openSession(conn, host), this.maxSessions),
    };
    conn.ready = this.connect(client, host);
    conn.ready.catch(() => {
      this.drop(conn);
      if (this.conns.get(k) === conn) this.conns.delete(k);
    });
    client.on('close', () => {
      conn.closed = true;
      if (this.conns.get(k) === conn) this.conns.delete(k);
    });
    this.conns.set(k, conn);
    return conn;
  }

  private drop(c: Conn): void {
    c.closed = true;
    c.pool.close();
    c.client.end();
  }

  private async connect(client: Client, host: HostSpec): Promise<void> {
    const port = host.port ?? 22;
    const where = `${host.name} (${host.address}:${port})`;
    const timeoutMs = host.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const sock = await tcpConnect(host.address, port, timeoutMs, where);

    let verdict: HostKeyVerdict | undefined;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error & { level?: string }) => {
        sock.destroy();
        if (verdict && !verdict.ok) return reject(hostKeyError(where, verdict, host));
        if (err.level === 'client-authentication') {
          return reject(
            new TriageError('SSH_AUTH', `${where} refused the key for user ${host.user}`, {
              fix: `add the public key of hosts.${host.name}.privateKey to ~${host.user}/.ssh/authorized_keys on the host`,
              cause: err,
            }),
          );
        }
        if (err.level === 'client-timeout') {
          return reject(
            new TriageError('SSH_CONNECT', `${where} did not finish the SSH handshake within ${timeoutMs} ms`, {
              fix: 'check that sshd answers on that port and is not overloaded',
              cause: err,
            }),
          );
        }
        reject(new TriageError('SSH_CONNECT', `${where}: ${err.message}`, { fix: 'check the address, port and sshd on the host', cause: err }));
      };
      client.once('ready', () => {
        client.off('error', onError);
        client.on('error', () => {}); // later errors surface as 'close' and a broken session
        resolve();
      });
      client.once('error', onError);
      client.connect({
        sock,
        host: host.address,
        port,
        username: host.user,
        privateKey: host.privateKey,
        passphrase: host.passphrase,
        agent: host.agent ? process.env.SSH_AUTH_SOCK : undefined,
        readyTimeout: timeoutMs,
        keepaliveInterval: this.keepaliveMs,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          verdict = verifyHostKey(key, host, port);
          return verdict.ok;
        },
      });
    });
  }

  private async openSession(conn: Conn, host: HostSpec): Promise<ShellSession> {
    const channel = await new Promise<ClientChannel>((resolve, reject) => {
      // `exec sh` instead of a pty shell: no prompts, no echo; the login shell runs once per session.
      conn.client.exec('exec sh', (err, ch) => (err ? reject(wrapExec(err, host)) : resolve(ch)));
    });
    channel.stderr.resume();
    const session = new ShellSession(channel, channel, (pgid) => this.killGroup(conn, pgid), host.name);
    await session.ready();
    return session;
  }

  /** Kills a process group on the host through a separate channel (the session's own shell is busy waiting). */
  private killGroup(conn: Conn, pgid: number): Promise<void> {
    return new Promise((resolve) => {
      if (!Number.isInteger(pgid) || pgid <= 1) return resolve();
      conn.client.exec(`kill -KILL -- -${pgid} 2>/dev/null || kill -KILL ${pgid} 2>/dev/null; true`, (err, ch) => {
        if (err) return resolve();
        ch.on('close', () => resolve());
        ch.resume();
        ch.stderr.resume();
      });
    });
  }
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

function tcpConnect(address: string, port: number, timeoutMs: number, where: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: address, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new TriageError('SSH_CONNECT', `${where}: no answer within ${timeoutMs} ms`, { fix: 'check the address, the port and firewalls' }));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.setNoDelay(true);
      sock.setKeepAlive(true, 30_000);
      resolve(sock);
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new TriageError('SSH_CONNECT', `${where}: ${e.code ?? e.message}`, { fix: 'check the address, the port and that sshd runs on the host', cause: e }));
    });
  });
}
