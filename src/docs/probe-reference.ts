/**
 * The list of built-in probes in docs/runbooks.md, generated from the header
 * of each `src/runbooks/builtin/probes/*.sh`: the first line (`# name — what
 * it checks`), `# usage:` and `# env:`. A new probe shows up by itself.
 *
 * Deliberately left out: the `# prints:` part of a header and argument
 * details — the script itself is the reference for those, and it is linked.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the built-in probes live. */
export const PROBES_DIR = fileURLToPath(new URL('../runbooks/builtin/probes/', import.meta.url));

/** One probe as its header describes it. */
export interface ProbeDoc {
  name: string;
  summary: string;
  usage: string;
  env: string;
}

/** Every built-in probe, by name. */
export function probeDocs(dir: string = PROBES_DIR): ProbeDoc[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sh'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -3);
      const header = readFileSync(`${dir}/${f}`, 'utf8').split('\n').filter((l) => l.startsWith('#') && !l.startsWith('#!'));
      const summaryLines: string[] = [];
      for (const l of header) {
        if (/^#\s*(usage|env|prints):/.test(l) || /^#\s{2,}/.test(l)) break;
        summaryLines.push(l.replace(/^#\s?/, ''));
      }
      const summary = summaryLines.join(' ').replace(new RegExp(`^${name}\\s+—\\s+`), '').trim();
      const field = (k: string) => header.find((l) => l.startsWith(`# ${k}:`))?.slice(k.length + 3).trim() ?? '';
      return { name, summary, usage: field('usage'), env: field('env') };
    });
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** The probe table as Markdown. */
export function probeReferenceMarkdown(probes: ProbeDoc[] = probeDocs()): string {
  if (probes.length === 0) return 'There are no built-in probes yet: use `run:`.';
  const lines = ['| probe | what it checks | `args` | `env` |', '| --- | --- | --- | --- |'];
  for (const p of probes) {
    const env = p.env && p.env !== '(none)' ? `\`${cell(p.env)}\`` : '';
    lines.push(`| [\`${p.name}\`](../src/runbooks/builtin/probes/${p.name}.sh) | ${cell(p.summary)} | \`${cell(p.usage)}\` | ${env} |`);
  }
  return lines.join('\n');
}
