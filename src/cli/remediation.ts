/**
 * `triage run --approve STEP`: which host-changing steps the user lets run,
 * checked against the runbook before anything is queued, and the line that
 * says what a fix did.
 *
 * Deliberately left out: deciding whether a fix is offered (the engine does,
 * from the host's cause; see runbooks/remediation.ts).
 */
import { TriageError } from '../errors.ts';
import { escapeLine } from '../escape.ts';
import type { Remediation } from '../runbooks/result.ts';
import type { Runbook } from '../runbooks/schema.ts';

/**
 * The `--approve` names, each checked to be a `changes: true` step of the
 * runbook; anything else is a `USAGE` error (exit 2, nothing run) that lists
 * the steps that may be approved.
 */
export function approvedSteps(runbook: Runbook, names: string[] | undefined): string[] {
  const changing = runbook.steps.filter((s) => s.changes).map((s) => s.id);
  const may = changing.length ? `steps of the ${runbook.name} runbook that change a host: ${changing.join(', ')}` : `the ${runbook.name} runbook has no step that changes a host`;
  for (const name of names ?? []) {
    const shown = JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name);
    const step = runbook.steps.find((s) => s.id === name);
    if (!step) throw new TriageError('USAGE', `--approve ${shown}: the ${runbook.name} runbook has no such step`, { fix: may });
    if (!step.changes) throw new TriageError('USAGE', `--approve ${shown}: that step only reads; there is nothing to approve`, { fix: may });
  }
  return [...new Set(names ?? [])];
}

/** One line under the verdict: what the fix did on a host and whether it worked. */
export function remediationLine(r: Remediation): string {
  const who = r.approvedBy ? ` (approved by ${r.approvedBy})` : '';
  const checks = r.recheck.map((c) => `${c.after === 'pass' || c.after === 'warn' || c.after === 'skipped' ? '✓' : '✗'} ${c.id}`).join(', ');
  const head = `  fix on ${r.host}: ${r.step} for ${r.finding}`;
  switch (r.outcome) {
    case 'worked':
      return escapeLine(`${head}${who} — it worked: re-check ${checks}`);
    case 'did-not-work':
      return [escapeLine(`${head}${who} — did not work: re-check ${checks}${r.reason ? `; ${r.reason}` : ''}`), ...r.evidence.map((e) => `    - ${escapeLine(e)}`)].join('\n');
    case 'needs-approval':
      return escapeLine(`${head} — not run, ${r.reason ?? 'needs approval'}`);
    default:
      return escapeLine(`${head}${who} — ${r.outcome}${r.reason ? `: ${r.reason}` : ''}`);
  }
}
