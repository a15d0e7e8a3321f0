/**
 * Fetches a host's SSH host key without logging in: ssh2 connects, the host
 * verifier records the key the server presents and refuses it, so the
 * handshake stops before any authentication. The key is the one ssh2's
 * algorithm preference picks, i.e. the same key the SSH executor will see
 * later when it checks the pinned fingerprint.
 *
 * Deliberately left out: trusting the key. The caller shows the fingerprint
 * and a person (or `--host-key`) decides.
 */
import { Client } from 'ssh2';
import { TriageError } from '../errors.ts';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../executors/executor.ts';
import { fingerprint } from '../executors/host-key.ts';
import { type TcpConnectErrors, tcpConnect } from '../executors/ssh.ts';

/** What the host presented. */
export interface ScannedHostKey {
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** Key type as `ssh-keygen -l` shows it: `ED25519`, `RSA`, `ECDSA`, ... */
  type: string;
}

/** Options for {@link scanHostKey}. */
export interface ScanOptions {
  /** TCP connect plus key exchange. Default 10 000 ms. */
  timeoutMs?: number;
}

const TYPE_NAMES: Record<string, string> = {
  'ssh-ed25519': 'ED25519',
  'ssh-rsa': 'RSA',
  'ssh-dss': 'DSA',
  'ecdsa-sha2-nistp256': 'ECDSA',
  'ecdsa-sha2-nistp384': 'ECDSA',
  'ecdsa-sha2-nistp521': 'ECDSA',
  'sk-ssh-ed25519@openssh.com': 'ED25519-SK',
  'sk-ecdsa-sha2-nistp256@openssh.com': 'ECDSA-SK',
};

/** The key type named at the start of an SSH public key blob. */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  const name = blob.subarray(4, 4 + Math.min(len, 64)).toString('latin1');
  return TYPE_NAMES[name] ?? name;
}

/**
 * Connects to `address:port`, records the host key and hangs up.
 * @throws TriageError SSH_CONNECT when nothing answers or no SSH server speaks there.
 */
export async function scanHostKey(address: string, port: number, opts: ScanOptions = {}): Promise<ScannedHostKey> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const where = `${address}:${port}`;
  const sock = await tcpConnect(address, port, timeoutMs, initTcpErrors(where));
  const client = new Client();
  try {
    return await new Promise<ScannedHostKey>((resolve, reject) => {
      let seen: Buffer | undefined;
      client.once('error', (err: Error & { level?: string }) => {
        if (seen) return resolve({ fingerprint: fingerprint(seen), type: keyTypeOf(seen) });
        const why = err.level === 'client-timeout' ? `no SSH handshake within ${timeoutMs} ms` : err.message;
        reject(new TriageError('SSH_CONNECT', `${where}: ${why}`, { fix: 'check that sshd answers on that address and port', cause: err }));
      });
      // A server that accepted an unverified key would be a bug in ssh2: never treat it as success.
      client.once('ready', () => reject(new TriageError('INTERNAL', `${where}: the handshake went on past the host key check`)));
      client.connect({
        sock,
        host: address,
        port,
        username: 'triage-init',
        readyTimeout: timeoutMs,
        hostVerifier: (key: Buffer) => {
          seen = Buffer.from(key);
          return false;
        },
      });
    });
  } finally {
    client.end();
    sock.destroy();
  }
}

/** `triage init`'s wording of a failed connect: it names the flag to check. */
function initTcpErrors(where: string): TcpConnectErrors {
  return {
    timeout: (ms) => new TriageError('SSH_CONNECT', `${where}: no answer within ${ms} ms`, { fix: 'check the address, the port and firewalls' }),
    error: (e) => {
      const why = e.code === 'ECONNREFUSED' ? 'connection refused' : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? 'no such host' : (e.code ?? e.message);
      return new TriageError('SSH_CONNECT', `cannot reach ${where}: ${why}`, { fix: 'check the address and --ssh-port, and that sshd runs on the host', cause: e });
    },
  };
}
