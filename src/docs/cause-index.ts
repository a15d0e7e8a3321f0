/**
 * The index at the top of docs/causes.md: every cause code, and which
 * built-in runbook can yield it today — read from the runbooks themselves
 * (their step and runbook-level findings), plus the codes the engine yields
 * whatever the runbook. A runbook added to `src/runbooks/builtin/` shows up
 * by itself; a code documented in causes.md that nothing yields yet says so.
 *
 * Deliberately left out: user runbooks (the index is about what ships).
 */
import { readFileSync } from 'node:fs';
import { RunbookLibrary } from '../runbooks/loader.ts';
import { ENGINE_CAUSES } from '../runbooks/result.ts';

/** Checks failed but no rule explains them; the engine adds it to any runbook's result. */
export const INCONCLUSIVE_CODE = 'inconclusive';

/** Where the code comes from: runbook names, or the engine. */
export type CauseSources = Map<string, string[]>;

const ENGINE = 'engine (any runbook)';

/** Every code the built-in runbooks and the engine can yield, with where it comes from. */
export function yieldedCauses(): CauseSources {
  const out: CauseSources = new Map();
  const add = (code: string, from: string) => {
    const list = out.get(code) ?? [];
    if (!list.includes(from)) list.push(from);
    out.set(code, list);
  };
  for (const { runbook } of RunbookLibrary.load().list()) {
    for (const f of runbook.findings) add(f.code, runbook.name);
    for (const s of runbook.steps) if (s.finding) add(s.finding.code, runbook.name);
  }
  add(INCONCLUSIVE_CODE, ENGINE);
  for (const code of Object.values(ENGINE_CAUSES)) add(code, ENGINE);
  return out;
}

/** The codes a causes page documents: its `## code` headings, in order. */
export function documentedCauses(markdown: string): string[] {
  return [...markdown.matchAll(/^## ([a-z][a-z0-9-]*)\s*$/gm)].map((m) => m[1]!);
}

/** The index table, for the codes documented in `causesFile` plus any yielded code it lacks. */
export function causeIndexMarkdown(causesFile: URL = new URL('../../docs/causes.md', import.meta.url)): string {
  const yielded = yieldedCauses();
  const documented = documentedCauses(readFileSync(causesFile, 'utf8'));
  const codes = [...documented, ...[...yielded.keys()].filter((c) => !documented.includes(c))];
  const lines = ['| code | yielded by |', '| --- | --- |'];
  for (const code of codes) {
    const from = yielded.get(code);
    const where = from ? from.map((r) => (r === ENGINE ? r : `\`${r}\``)).join(', ') : 'no built-in runbook yet';
    lines.push(`| ${documented.includes(code) ? `[\`${code}\`](#${code})` : `\`${code}\` (not documented below)`} | ${where} |`);
  }
  lines.push('', 'The order in which each built-in runbook checks its rules (the first that holds is the cause; step findings come after):', '');
  for (const { runbook } of RunbookLibrary.load().list()) {
    const order = [...new Set(runbook.findings.map((f) => f.code))];
    if (order.length) lines.push(`- \`${runbook.name}\`: ${order.map((c) => `\`${c}\``).join(' → ')}`);
  }
  return lines.join('\n');
}

/** The built-in runbooks: name, aliases, description, file. */
export function builtinRunbooksMarkdown(): string {
  const lines = ['| runbook | aliases | what it checks |', '| --- | --- | --- |'];
  for (const { runbook, file } of RunbookLibrary.load().list()) {
    const name = file.split('/').pop();
    lines.push(`| [\`${runbook.name}\`](../src/runbooks/builtin/${name}) | ${runbook.aliases.map((a) => `\`${a}\``).join(', ')} | ${runbook.description.replace(/\|/g, '\\|')} |`);
  }
  return lines.join('\n');
}
