/**
 * Human output for the terminal: one line per step with ✓/✗/! and duration,
 * then the cause, evidence and fix. Short on purpose — it is read at 3 a.m.
 *
 * Every field that came from a host or from input (titles, output, reasons,
 * evidence, fixes) is one line here: {@link escapeLine} shows its newlines
 * and control characters as escapes, so host output cannot add lines of its
 * own or drive the terminal.
 */
import { escapeLine } from '../escape.ts';
import type { RunResult, StepResult, StepStatus } from '../runbooks/result.ts';

const MARK: Record<StepStatus, string> = { pass: '✓', fail: '✗', warn: '!', skipped: '-', error: '✗', timeout: '⏱' };

/** One line for a finished step. */
export function stepLine(host: string, s: StepResult, hostWidth = 0): string {
  const why = s.status === 'skipped' ? `skipped: ${s.reason ?? 'not needed'}` : s.status === 'error' || s.status === 'timeout' ? s.reason : (s.summary ?? firstLine(s.output, s.status));
  const dur = s.status === 'skipped' ? '' : `${s.durationMs}ms`;
  return `  ${escapeLine(host).padEnd(hostWidth)}  ${MARK[s.status]} ${escapeLine(s.title).padEnd(34)} ${dur.padStart(7)}${why ? `  ${escapeLine(why)}` : ''}`;
}

function firstLine(output: string, status: StepStatus): string {
  if (status === 'pass') return '';
  const line = output.split(/\r?\n/).find((l) => l.trim()) ?? '';
  return line.length > 90 ? `${line.slice(0, 90)}…` : line;
}

/** The verdict block after the steps. */
export function verdict(r: RunResult): string {
  const out: string[] = [];
  if (r.status === 'healthy') {
    out.push(`✓ healthy — ${escapeLine(r.summary)}`);
  } else {
    out.push(`${r.status === 'error' ? '✗ could not run' : '✗'} ${escapeLine(r.cause ?? 'unknown')} — ${escapeLine(r.summary)}`);
    const top = r.findings.find((f) => f.code === r.cause);
    if (top?.evidence.length) {
      out.push('  evidence:');
      for (const e of top.evidence) out.push(`    - ${escapeLine(e)}`);
    }
    if (top?.fix) out.push(`  fix: ${escapeLine(top.fix)}`);
    const others = [...new Set(r.findings.filter((f) => f.code !== r.cause && f.severity !== 'info').map((f) => escapeLine(`${f.code} (${f.host})`)))];
    if (others.length) out.push(`  also: ${others.join(', ')}`);
  }
  out.push(`  run ${r.runId} · ${r.durationMs}ms`);
  return out.join('\n');
}

/** Exit code of `triage run` for a result: 0 healthy, 1 problems found, 3 could not run. */
export function exitCodeForResult(r: RunResult): 0 | 1 | 3 {
  return r.status === 'healthy' ? 0 : r.status === 'unhealthy' ? 1 : 3;
}
