/**
 * The docs work for someone who has only this repository: the README keeps
 * its two commands and points into docs/, nothing points outside the repo,
 * and every relative link (and #anchor) lands on a file and heading that
 * exist.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const text = (page: string) => readFileSync(join(ROOT, page), 'utf8');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(page: string): Set<string> {
  const body = text(page).replace(/```[\s\S]*?```/g, '');
  return new Set([...body.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
}

function links(page: string): string[] {
  const body = text(page).replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...body.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
}

describe('the README', () => {
  const readme = text('README.md');

  it('keeps its two commands', () => {
    expect(readme).toContain('```sh\nnpm ci && npx triage demo\n```');
    expect(readme).toContain('```sh\nnpm test\n```');
  });

  it('links every page of docs/ and nothing outside the repository', () => {
    for (const page of PAGES.filter((p) => p.startsWith('docs/') && p !== 'docs/README.md')) expect(readme, page).toContain(`](${page})`);
    expect(readme).not.toMatch(/\.\.\/shared|SPEC\.md/);
  });
});

describe('links in the docs', () => {
  for (const page of PAGES) {
    it(`${page}: every relative link and anchor resolves inside the repository`, () => {
      const broken: string[] = [];
      for (const link of links(page)) {
        const [path, anchor] = link.split('#') as [string, string | undefined];
        const target = path ? join(dirname(join(ROOT, page)), path) : join(ROOT, page);
        if (relative(ROOT, target).startsWith('..') || !existsSync(target)) broken.push(`${link} (no such file in the repository)`);
        else if (anchor && target.endsWith('.md') && !anchors(relative(ROOT, target)).has(anchor)) broken.push(`${link} (no such heading)`);
      }
      expect(broken, `fix these links in ${page}`).toEqual([]);
    });
  }
});
