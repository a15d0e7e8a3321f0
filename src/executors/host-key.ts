/**
 * Host key checks: a pinned `SHA256:` fingerprint or an OpenSSH known_hosts
 * file. An unknown or changed key is refused, never accepted silently.
 *
 * Deliberately left out: `@cert-authority` lines (host certificates) and
 * writing new keys to known_hosts (trust on first use) — an operator pins
 * keys on purpose.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** `SHA256:<base64 without padding>` of a raw SSH public key blob, as `ssh-keygen -l` prints it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The outcome of checking a presented host key. */
export type HostKeyVerdict =
  | { ok: true }
  | { ok: false; reason: 'mismatch' | 'unknown' | 'revoked'; presented: string; expected?: string };

/** Checks a presented key against a pinned fingerprint. */
export function checkPinned(keyBlob: Buffer, pinned: string): HostKeyVerdict {
  const presented = fingerprint(keyBlob);
  const want = pinned.replace(/=+$/, '');
  return presented === want ? { ok: true } : { ok: false, reason: 'mismatch', presented, expected: want };
}

/** Checks a presented key against a known_hosts file for `host` on `port`. */
export function checkKnownHosts(keyBlob: Buffer, file: string, host: string, port: number): HostKeyVerdict {
  const presented = fingerprint(keyBlob);
  const blob64 = keyBlob.toString('base64');
  let sawHost = false;
  let expected: string | undefined;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const parts = line.split(/\s+/);
    let marker: string | undefined;
    if (parts[0]?.startsWith('@')) marker = parts.shift();
    if (marker === '@cert-authority') continue;
    const [patterns, , key] = parts;
    if (!patterns || !key) continue;
    if (!knownHostsLineMatches(patterns, host, port)) continue;
    if (marker === '@revoked') {
      if (key === blob64) return { ok: false, reason: 'revoked', presented };
      continue;
    }
    if (key === blob64) return { ok: true };
    sawHost = true;
    try {
      expected = fingerprint(Buffer.from(key, 'base64'));
    } catch {
      /* a malformed line is not a match */
    }
  }
  return sawHost ? { ok: false, reason: 'mismatch', presented, expected } : { ok: false, reason: 'unknown', presented };
}

/** True when a known_hosts line's host field lists `host` on `port` (as OpenSSH looks it up). */
export function knownHostsLineMatches(field: string, host: string, port: number): boolean {
  const names = port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`];
  return names.some((n) => hostFieldMatches(field, n));
}

/** One known_hosts host field (comma list, wildcards, negation, hashed `|1|salt|hash`) against a name. */
function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
  }
  let matched = false;
  for (const pat of field.split(',')) {
    const negated = pat.startsWith('!');
    const p = negated ? pat.slice(1) : pat;
    const re = new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
    if (re.test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}
