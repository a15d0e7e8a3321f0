/**
 * `triage lint`'s checks of a config that need the disk: key files are
 * readable private keys, and `knownHosts` files exist and list their host
 * (with the same matcher the SSH executor uses, `executors/host-key.ts`).
 */
import { readFileSync } from 'node:fs';
import { TriageError } from '../errors.ts';
import { knownHostsLineMatches } from '../executors/host-key.ts';
import { fmtKey } from '../schema-errors.ts';
import type { LoadedConfig } from './load.ts';
import { readPrivateKey } from './resolve.ts';

/**
 * Checks what the schema cannot: that key files are readable private keys and
 * that `knownHosts` files exist and list the host. Returns every problem,
 * throws nothing.
 */
export function lintConfig(loaded: LoadedConfig): TriageError[] {
  const problems: TriageError[] = [];
  const file = loaded.file;
  for (const [name, h] of Object.entries(loaded.config.hosts)) {
    if (h.address === 'local') continue;
    if (h.privateKey !== undefined) {
      const key = readPrivateKey(name, h.privateKey, file);
      if (key instanceof TriageError) problems.push(key);
    }
    if (h.knownHosts !== undefined) {
      const path = `hosts.${fmtKey(name)}.knownHosts`;
      const scan = `ssh-keyscan -p ${h.port} ${h.address}`;
      let text: string;
      try {
        text = readFileSync(h.knownHosts, 'utf8');
      } catch (err) {
        problems.push(
          new TriageError('CONFIG_INVALID', `cannot read known_hosts file ${h.knownHosts}: ${(err as Error).message}`, {
            file,
            path,
            fix: `run \`${scan} >> ${h.knownHosts}\` and check the fingerprint, or fix the path`,
            cause: err,
          }),
        );
        continue;
      }
      const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
      // Certificate authorities and revocations need the host's certificate to judge; leave those to the SSH client.
      if (lines.some((l) => l.startsWith('@'))) continue;
      if (!lines.some((l) => knownHostsLineMatches(l.split(/\s+/)[0], h.address, h.port))) {
        problems.push(
          new TriageError('CONFIG_INVALID', `${h.knownHosts} has no entry for ${h.address}${h.port === 22 ? '' : ` port ${h.port}`}`, {
            file,
            path,
            fix: `run \`${scan} >> ${h.knownHosts}\` and compare \`ssh-keygen -lf ${h.knownHosts}\` with the host's real fingerprint`,
          }),
        );
      }
    }
  }
  return problems;
}
