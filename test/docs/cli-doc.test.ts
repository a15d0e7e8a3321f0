/** docs/cli.md lists every environment variable Triage reads. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [readFileSync(join(dir, e.name), 'utf8')] : [],
  );
}

describe('docs/cli.md', () => {
  it('documents every TRIAGE_* variable and REDIS_URL the code reads', () => {
    const names = new Set<string>();
    for (const text of sources(SRC)) for (const m of text.matchAll(/env\.(TRIAGE_[A-Z0-9_]+|REDIS_URL|SSH_AUTH_SOCK)\b/g)) names.add(m[1]!);
    expect(names.size).toBeGreaterThan(3);
    const table = doc.slice(doc.indexOf('## Environment variables'), doc.indexOf('\n## ', doc.indexOf('## Environment variables') + 1));
    expect([...names].filter((n) => !table.includes(`| \`${n}\``)), 'add these to the "Environment variables" table of docs/cli.md').toEqual([]);
  });
});
