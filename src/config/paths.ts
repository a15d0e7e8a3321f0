/** Paths on the worker's machine as written in `triage.yaml` or a `file:` secret. */
import { homedir } from 'node:os';
import { isAbsolute, resolve as resolvePath } from 'node:path';

/** `~` and `~/x` from `$HOME` (else the OS home), relative paths from `baseDir`; absolute paths as they are. */
export function expandPath(p: string, baseDir: string, env: NodeJS.ProcessEnv): string {
  if (p === '~' || p.startsWith('~/')) return resolvePath(env.HOME || homedir(), p.slice(2));
  return isAbsolute(p) ? p : resolvePath(baseDir, p);
}
