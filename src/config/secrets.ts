/**
 * Resolving secret references (`env:NAME`, `file:PATH`) to their values, at
 * the moment a secret is used. The value is never put into an error.
 * Deliberately left out: checking the reference's form (the schema's
 * `SecretRefSchema`) and resolving `file:` paths against the config file's
 * folder (done when the config is loaded).
 */
import { readFileSync } from 'node:fs';
import { TriageError } from '../errors.ts';
import { expandPath } from './paths.ts';
import { SECRET_FIX } from './schema.ts';

/**
 * Reads a secret: `env:NAME` from `env`, `file:PATH` from disk (one trailing
 * newline dropped; `~` expanded, relative paths from the current directory).
 * `path` (and `file`, the config file) only go into the error.
 * @throws TriageError SECRET_UNRESOLVED when unset, empty or unreadable.
 */
export function resolveSecret(ref: string, env: NodeJS.ProcessEnv, path: string, file?: string): string {
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    const value = env[name];
    if (value === undefined || value === '') {
      throw new TriageError('SECRET_UNRESOLVED', `environment variable ${name} is ${value === undefined ? 'not set' : 'empty'}`, {
        file,
        path,
        fix: `set ${name} in the environment of the Triage process (e.g. export ${name}=... or an EnvironmentFile=), or use file:/path`,
      });
    }
    return value;
  }
  if (ref.startsWith('file:')) {
    const p = expandPath(ref.slice(5), process.cwd(), env);
    let value: string;
    try {
      value = readFileSync(p, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new TriageError('SECRET_UNRESOLVED', `cannot read secret file ${p}: ${(err as Error).message}`, {
        file,
        path,
        fix: `create ${p} containing only the secret, readable by the user running Triage (chmod 600)`,
        cause: err,
      });
    }
    if (value === '') {
      throw new TriageError('SECRET_UNRESOLVED', `secret file ${p} is empty`, { file, path, fix: `write the secret into ${p}` });
    }
    return value;
  }
  throw new TriageError('SECRET_UNRESOLVED', 'secrets may not be written inline', { file, path, fix: SECRET_FIX });
}
