/**
 * A loaded config's entries as the executors and the runbook engine need
 * them: a host with its key read and passphrase resolved, a target's hosts.
 * Names typed in chat or on the command line are looked up here, so unknown
 * ones are answered with the names that exist.
 */
import { readFileSync } from 'node:fs';
import { TriageError } from '../errors.ts';
import type { HostSpec } from '../executors/executor.ts';
import { didYouMean, fmtKey } from '../schema-errors.ts';
import type { LoadedConfig } from './load.ts';
import type { Config } from './schema.ts';
import { resolveSecret } from './secrets.ts';

/** Untrusted text (chat, CLI) shown back in an error: quoted and cut short. */
function quoteInput(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);
}

function knownHostNames(loaded: LoadedConfig): string {
  return Object.keys(loaded.config.hosts).join(', ') || '(none)';
}

/** Reads and sanity-checks a private key file; returns the contents or the problem. */
export function readPrivateKey(name: string, keyPath: string, file: string): Buffer | TriageError {
  const path = `hosts.${fmtKey(name)}.privateKey`;
  let key: Buffer;
  try {
    key = readFileSync(keyPath);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const fix =
      e.code === 'ENOENT'
        ? `create a key with \`ssh-keygen -t ed25519 -f ${keyPath}\` and add the .pub to ~/.ssh/authorized_keys on the host, or fix the path`
        : e.code === 'EACCES'
          ? `make ${keyPath} readable by the user running Triage (chmod 600, owned by that user)`
          : `point privateKey at a private key file`;
    return new TriageError('CONFIG_INVALID', `cannot read private key ${keyPath}: ${e.message}`, { file, path, fix, cause: err });
  }
  const head = key.subarray(0, 64).toString('latin1');
  if (/^(ssh-|ecdsa-|sk-)/.test(head)) {
    return new TriageError('CONFIG_INVALID', `${keyPath} is a public key`, {
      file,
      path,
      fix: `point privateKey at the private half (usually the same name without .pub)`,
    });
  }
  if (!head.includes('PRIVATE KEY') && !head.startsWith('PuTTY-User-Key-File')) {
    return new TriageError('CONFIG_INVALID', `${keyPath} does not look like a private key`, {
      file,
      path,
      fix: 'point privateKey at an OpenSSH or PEM private key (it starts with -----BEGIN ... PRIVATE KEY-----)',
    });
  }
  return key;
}

/**
 * The executor's view of a host: key file read, passphrase resolved, defaults
 * filled. `address: local` gives `{ name, address: 'local', zone }`.
 * @throws TriageError HOST_UNKNOWN, CONFIG_INVALID (key file), SECRET_UNRESOLVED (passphrase).
 */
export function resolveHost(loaded: LoadedConfig, name: string, env: NodeJS.ProcessEnv = process.env, opts: { credentials?: boolean } = {}): HostSpec {
  const h = Object.hasOwn(loaded.config.hosts, name) ? loaded.config.hosts[name] : undefined;
  if (!h) {
    throw new TriageError('HOST_UNKNOWN', `unknown host ${quoteInput(name)}`, {
      file: loaded.file || undefined,
      fix: `known hosts: ${knownHostNames(loaded)}`,
    });
  }
  if (h.address === 'local') return { name, address: 'local', zone: h.zone };
  const spec: HostSpec = { name, address: h.address, port: h.port, user: h.user, zone: h.zone };
  // Submitting a run (chat bot, --no-worker) needs no keys: only the worker that connects reads them.
  if (opts.credentials === false) return spec;
  if (h.privateKey !== undefined) {
    const key = readPrivateKey(name, h.privateKey, loaded.file);
    if (key instanceof TriageError) throw key;
    spec.privateKey = key;
  }
  if (h.passphrase !== undefined) spec.passphrase = resolveSecret(h.passphrase, env, `hosts.${fmtKey(name)}.passphrase`, loaded.file);
  if (h.agent) spec.agent = true;
  if (h.hostKey !== undefined) spec.hostKey = h.hostKey;
  if (h.knownHosts !== undefined) spec.knownHosts = h.knownHosts;
  return spec;
}

/** Target names in the order they are written. */
export function targetNames(config: Config): string[] {
  return Object.keys(config.targets);
}

/**
 * The hosts to run on for a target: all of them, or just `host` (`--host`).
 * @throws TriageError TARGET_UNKNOWN (fix lists the targets), HOST_UNKNOWN (fix lists the target's hosts).
 */
export function targetHosts(config: Config, target: string, host?: string): string[] {
  const t = Object.hasOwn(config.targets, target) ? config.targets[target] : undefined;
  if (!t) {
    const names = targetNames(config);
    throw new TriageError('TARGET_UNKNOWN', `unknown target ${quoteInput(target)}${didYouMean(target, names)}`, {
      fix: names.length ? `known targets: ${names.join(', ')}` : 'no targets are configured; add one under targets: in triage.yaml',
    });
  }
  if (host === undefined) return [...t.hosts];
  if (!t.hosts.includes(host)) {
    throw new TriageError('HOST_UNKNOWN', `${quoteInput(host)} is not a host of target ${target}${didYouMean(host, t.hosts)}`, {
      fix: `hosts of ${target}: ${t.hosts.join(', ')}`,
    });
  }
  return [host];
}
