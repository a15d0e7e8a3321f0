/** The YAML a reader copies out of docs/config.md is a config Triage accepts. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';

const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');

/** The first ```yaml block after the heading `## title`. */
function yamlAfter(title: string): string {
  const at = doc.indexOf(`\n## ${title}\n`);
  const m = /```yaml\n([\s\S]*?)```/.exec(doc.slice(at));
  if (at < 0 || !m) throw new Error(`docs/config.md has no yaml block under "## ${title}"`);
  return m[1]!;
}

describe('docs/config.md', () => {
  it('its full example passes the schema, with every section filled in', () => {
    const { config } = parseConfig(yamlAfter('A full example'), '/tmp/docs-full-example.yaml', {});
    expect(Object.keys(config)).toEqual(expect.arrayContaining(['redis', 'hosts', 'targets', 'chat', 'access']));
    expect(config.targets.wushipay?.database?.kind).toBe('postgres');
  });

  it('its small example is the one in docs/examples/local.yaml', () => {
    const file = readFileSync(new URL('../../docs/examples/local.yaml', import.meta.url), 'utf8');
    const strip = (s: string) => s.split('\n').filter((l) => l.trim() && !l.trimStart().startsWith('#')).join('\n');
    expect(strip(yamlAfter('A small config that works on this machine'))).toBe(strip(file));
  });
});
