/**
 * The compiled CLI starts without parsing the built-in runbooks: `npm run
 * build` stores them parsed (dist/runbooks/builtin-snapshot.json), and the
 * loader takes a file from there only while it is unchanged. What it gets is
 * exactly what parsing the YAML gives.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RunbookLibrary } from '../../src/runbooks/loader.ts';
import { SignatureTable } from '../../src/runbooks/signatures.ts';

const ROOT = join(import.meta.dirname, '../..');
const DIST = join(ROOT, 'dist');

/** Runs a snippet against the compiled modules in dist/ and returns what it prints as JSON. */
function inDist(code: string): unknown {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out);
}

beforeAll(() => {
  if (!existsSync(join(DIST, 'runbooks/builtin-snapshot.json'))) execFileSync(process.execPath, [join(ROOT, 'bin/build.js')], { cwd: ROOT, stdio: 'ignore' });
}, 180_000);

describe('the built-in runbook snapshot', () => {
  it('gives every built-in runbook and signature exactly as parsing the YAML does', () => {
    const fromDist = inDist(`
      const { RunbookLibrary } = await import('./dist/runbooks/loader.js');
      const { SignatureTable } = await import('./dist/runbooks/signatures.js');
      console.log(JSON.stringify({ runbooks: RunbookLibrary.load().list().map((l) => l.runbook), signatures: SignatureTable.builtin().entries }));
    `) as { runbooks: unknown[]; signatures: unknown[] };
    const parsed = { runbooks: RunbookLibrary.load().list().map((l) => l.runbook), signatures: SignatureTable.builtin().entries };
    expect(fromDist.runbooks.length).toBeGreaterThan(5);
    expect(fromDist).toEqual(JSON.parse(JSON.stringify(parsed)));
  });

  it('is used for a file only while it is unchanged: the same file elsewhere, or rewritten, is parsed again', () => {
    const copy = mkdtempSync(join(tmpdir(), 'triage-snapshot-'));
    try {
      const text = readFileSync(join(DIST, 'runbooks/builtin/health.yaml'), 'utf8');
      // Same name, same size, another mtime (written now).
      writeFileSync(join(copy, 'health.yaml'), text);
      utimesSync(join(copy, 'health.yaml'), new Date(), new Date(Date.now() + 60_000));
      const probe = (dir: string) =>
        inDist(`
          const { fromSnapshot } = await import('./dist/runbooks/snapshot.js');
          console.log(JSON.stringify(fromSnapshot(${JSON.stringify(dir)}, 'health.yaml', 'runbooks') !== undefined));
        `);
      expect(probe(join(DIST, 'runbooks/builtin'))).toBe(true);
      expect(probe(copy)).toBe(false);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
