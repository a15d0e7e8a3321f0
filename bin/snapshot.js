// Writes dist/runbooks/builtin-snapshot.json: the built-in runbooks and signature table as the
// compiled loader parses them, each with the size and mtime of its file (see src/runbooks/snapshot.ts).
//   node bin/snapshot.js <dist dir>
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.argv[2];
const out = join(dist, 'runbooks/builtin-snapshot.json');
rmSync(out, { force: true });
const { BUILTIN_DIR, RunbookLibrary } = await import(pathToFileURL(join(dist, 'runbooks/loader.js')).href);
const { SIGNATURES_FILE, loadSignatureFile } = await import(pathToFileURL(join(dist, 'runbooks/signatures.js')).href);
const lib = RunbookLibrary.load({});
const stat = (name) => {
  const st = statSync(join(BUILTIN_DIR, name));
  return { size: st.size, mtimeMs: st.mtimeMs };
};
const runbooks = lib.list().map((lr) => {
  const name = lr.file.slice(BUILTIN_DIR.length);
  return { name, ...stat(name), data: lr.runbook };
});
const signatures = readdirSync(BUILTIN_DIR).includes(SIGNATURES_FILE)
  ? { name: SIGNATURES_FILE, ...stat(SIGNATURES_FILE), data: loadSignatureFile(join(BUILTIN_DIR, SIGNATURES_FILE)) }
  : undefined;
writeFileSync(out, JSON.stringify({ runbooks, signatures }));
