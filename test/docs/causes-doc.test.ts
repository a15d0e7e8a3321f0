/**
 * Every cause code Triage can report has its own section in docs/causes.md:
 * each code any built-in runbook can yield (read from the runbooks, so a new
 * runbook is covered the moment it lands), the engine's own codes, and
 * `inconclusive`. Each section says what the code means, its evidence and the
 * usual fix.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { documentedCauses, INCONCLUSIVE_CODE, yieldedCauses } from '../../src/docs/cause-index.ts';
import { RunbookLibrary } from '../../src/runbooks/loader.ts';
import { ENGINE_CAUSES } from '../../src/runbooks/result.ts';
import { BUILTIN_SIGNATURES, loadSignatureFile } from '../../src/runbooks/signatures.ts';

const DOC = 'docs/causes.md';
const doc = readFileSync(new URL(`../../${DOC}`, import.meta.url), 'utf8');
const documented = documentedCauses(doc);

/** The text of the `## code` section. */
function sectionOf(code: string): string {
  const start = doc.indexOf(`\n## ${code}\n`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

describe(DOC, () => {
  it('has a section for every code a built-in runbook can yield', () => {
    const codes = new Set<string>();
    for (const { runbook } of RunbookLibrary.load().list()) {
      for (const f of runbook.findings) codes.add(f.code);
      for (const s of runbook.steps) if (s.finding) codes.add(s.finding.code);
    }
    expect(codes.size).toBeGreaterThan(0);
    const missing = [...codes].filter((c) => !documented.includes(c));
    expect(missing, `add a "## <code>" section (means / evidence / usual fix) to ${DOC} for each of these codes`).toEqual([]);
  });

  it('has a section for every code the built-in log signatures point at', () => {
    const codes = [...new Set(loadSignatureFile(BUILTIN_SIGNATURES).map((sig) => sig.code))];
    const missing = codes.filter((c) => !documented.includes(c));
    expect(missing, `add a "## <code>" section to ${DOC} for each of these codes (src/runbooks/builtin/signatures.yaml)`).toEqual([]);
  });

  it("has a section for the engine's own codes and for inconclusive", () => {
    const missing = [...Object.values(ENGINE_CAUSES), INCONCLUSIVE_CODE].filter((c) => !documented.includes(c));
    expect(missing, `add a "## <code>" section to ${DOC} for each of these codes (src/runbooks/result.ts)`).toEqual([]);
  });

  it('every documented code says what it means, its evidence and the usual fix', () => {
    const thin = documented.filter((c) => {
      const s = sectionOf(c);
      return !s.includes('**Means:**') || !s.includes('**Evidence:**') || !s.includes('**Usual fix:**');
    });
    expect(thin, `give these sections of ${DOC} a **Means:**, **Evidence:** and **Usual fix:** paragraph`).toEqual([]);
  });

  it('the index knows every yielded code', () => {
    expect([...yieldedCauses().keys()]).toEqual(expect.arrayContaining(['service-down', 'host-key-mismatch', 'inconclusive']));
  });
});
