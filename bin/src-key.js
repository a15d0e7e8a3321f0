// The key of the sources dist/ was built from: every file under src/ by path, size and mtime.
// Cheap enough to check on every `triage` call: one recursive readdir and a stat per file (~1 ms).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** `path size mtime` of every file under `dir`, one per line, sorted; `''` when `dir` cannot be read. */
export function srcKey(dir) {
  let names;
  try {
    names = readdirSync(dir, { recursive: true }).sort();
  } catch {
    return '';
  }
  let key = '';
  for (const name of names) {
    const st = statSync(join(dir, name), { throwIfNoEntry: false });
    if (st?.isFile()) key += `${name} ${st.size} ${st.mtimeMs}\n`;
  }
  return key;
}
