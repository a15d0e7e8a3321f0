/**
 * The log-signature table: lines that point at a cause, shared by every
 * runbook. `builtin/signatures.yaml` holds Python tracebacks, missing
 * modules, `EADDRINUSE`, Go panics, Java exceptions, nginx's upstream
 * errors and the like, each mapped to a cause code; a user runbook
 * directory may add its own `signatures.yaml` (same format).
 *
 * How runbooks use it: a step with `signatures: true` (typically the `logs`
 * or `nginx-errors` probe) has every line of its stdout matched here by the
 * engine, which adds these captures to the step ({@link SIGNATURE_CAPTURES}):
 *
 *     cause         cause code of the first table entry that matched, or null
 *     causes        every matched cause code, in table order (a list)
 *     cause_id      that entry's id, e.g. python-module-missing
 *     cause_title   its plain words, e.g. "a Python module is not installed"
 *     cause_line    the latest line that matched it (clipped)
 *     cause_detail  its first capture group that matched (e.g. the module name), or null
 *     cause_lines   per cause code, with dashes as underscores: the latest line,
 *                   e.g. logs.cause_lines.port_conflict
 *
 * so a rule reads `when: logs.cause == 'dependency-missing'` or
 * `'port-conflict' in logs.causes`, and evidence quotes
 * `${{ logs.cause_line }}`. (Not `signature_*`: the redactor reads
 * "signature" as a credential word and would hide the values.)
 *
 * Deliberately left out: deciding whether a line is current. Probes drop
 * lines from before the process started (`logs`, `APP_PIDS`) or outside a
 * time window (`nginx-errors`) before the engine sees them; the table only
 * says what a line means.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { TriageError, TriageErrors } from '../errors.ts';
import { readTextFile, yamlToJS } from '../text-file.ts';
import { CauseCodeSchema } from './schema.ts';
import { fromSnapshot } from './snapshot.ts';

/** The file name a signature table has, in `builtin/` and in a user runbook directory. */
export const SIGNATURES_FILE = 'signatures.yaml';

/** The built-in table. */
export const BUILTIN_SIGNATURES = fileURLToPath(new URL(`./builtin/${SIGNATURES_FILE}`, import.meta.url));

/** Captures a `signatures: true` step gets (lint knows these names). */
export const SIGNATURE_CAPTURES = ['cause', 'causes', 'cause_id', 'cause_title', 'cause_line', 'cause_detail', 'cause_lines'] as const;

/** Longest quoted line, in characters. */
const MAX_LINE = 300;

/** One line pattern and the cause it points at. */
export const SignatureSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9-]*$/, 'signature ids are kebab-case, e.g. python-module-missing'),
    code: CauseCodeSchema,
    regex: z.string().refine((r) => {
      try {
        new RegExp(r);
        return true;
      } catch {
        return false;
      }
    }, 'not a valid regular expression'),
    /** `i` to ignore case. Default none. */
    flags: z.string().regex(/^i?$/, 'the only flag is i').default(''),
    /** What the line means, in plain words. */
    title: z.string().min(1),
  })
  .strict();
export type Signature = z.infer<typeof SignatureSchema>;

const SignatureFileSchema = z.object({ signatures: z.array(SignatureSchema) }).strict();

/** What a step with `signatures: true` gets, see the module comment. */
export interface SignatureCaptures {
  cause: string | null;
  causes: string[];
  cause_id: string | null;
  cause_title: string | null;
  cause_line: string | null;
  cause_detail: string | null;
  cause_lines: Record<string, string>;
}

interface Compiled {
  sig: Signature;
  re: RegExp;
}

/** An ordered set of signatures; the first entry that matches a line names it. */
export class SignatureTable {
  private readonly compiled: Compiled[];

  constructor(readonly entries: readonly Signature[]) {
    this.compiled = entries.map((sig) => ({ sig, re: new RegExp(sig.regex, `m${sig.flags}`) }));
  }

  /** The built-in table alone. */
  static builtin(): SignatureTable {
    builtinCache ??= new SignatureTable(fromSnapshot<Signature[]>(dirname(BUILTIN_SIGNATURES), SIGNATURES_FILE, 'signatures') ?? loadSignatureFile(BUILTIN_SIGNATURES));
    return builtinCache;
  }

  /** The built-ins extended by the `signatures.yaml` of each directory that has one. Throws `TriageErrors` listing every problem. */
  static load(dirs: readonly string[] = []): SignatureTable {
    let table = SignatureTable.builtin();
    const errors: TriageError[] = [];
    for (const dir of dirs) {
      let has = false;
      try {
        has = readdirSync(dir).includes(SIGNATURES_FILE);
      } catch {
        continue; // the runbook loader reports unreadable directories
      }
      if (!has) continue;
      try {
        table = table.extend(loadSignatureFile(join(dir, SIGNATURES_FILE)));
      } catch (e) {
        if (e instanceof TriageErrors) errors.push(...e.errors);
        else throw e;
      }
    }
    if (errors.length) throw new TriageErrors(errors);
    return table;
  }

  /** A new table: an entry whose id exists replaces it in place; new entries come first (a user's own are more specific). */
  extend(more: readonly Signature[]): SignatureTable {
    const byId = new Map(more.map((s) => [s.id, s]));
    const replaced = this.entries.map((s) => byId.get(s.id) ?? s);
    const known = new Set(this.entries.map((s) => s.id));
    return new SignatureTable([...more.filter((s) => !known.has(s.id)), ...replaced]);
  }

  /** Matches each line of `text` against the table (first entry wins per line). */
  match(text: string): SignatureCaptures {
    const latest = new Map<number, { line: string; detail: string | null }>();
    for (const raw of text.split(/\r?\n/)) {
      const line = raw.length > 4 * MAX_LINE ? raw.slice(0, 4 * MAX_LINE) : raw;
      if (!line.trim()) continue;
      for (let i = 0; i < this.compiled.length; i++) {
        const m = this.compiled[i]!.re.exec(line);
        if (!m) continue;
        latest.set(i, { line: clipLine(line.trim()), detail: m.slice(1).find((g) => g !== undefined && g !== '') ?? null });
        break;
      }
    }
    const hit = [...latest.keys()].sort((a, b) => a - b);
    const codes = [...new Set(hit.map((i) => this.compiled[i]!.sig.code))];
    const lines: Record<string, string> = {};
    for (const i of hit) lines[snake(this.compiled[i]!.sig.code)] ??= latest.get(i)!.line;
    const best = hit.length ? this.compiled[hit[0]!]!.sig : undefined;
    const bestHit = hit.length ? latest.get(hit[0]!)! : undefined;
    return {
      cause: best?.code ?? null,
      causes: codes,
      cause_id: best?.id ?? null,
      cause_title: best?.title ?? null,
      cause_line: bestHit?.line ?? null,
      cause_detail: bestHit?.detail ?? null,
      cause_lines: lines,
    };
  }
}

let builtinCache: SignatureTable | undefined;

/** Reads and checks one `signatures.yaml`; throws `TriageErrors` naming file, entry and fix. */
export function loadSignatureFile(file: string): Signature[] {
  const text = readTextFile(file, { code: 'RUNBOOK_INVALID', what: 'signature table' });
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new TriageErrors(
      doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return new TriageError('RUNBOOK_YAML', `line ${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`, { file, fix: 'fix the YAML syntax (indentation, quotes, a missing colon)' });
      }),
    );
  }
  const parsed = SignatureFileSchema.safeParse(yamlToJS(doc, file, 'RUNBOOK_YAML'));
  if (!parsed.success) {
    throw new TriageErrors(
      parsed.error.issues.map((i) => {
        const node = doc.getIn(i.path as (string | number)[], true) as { range?: [number, number] } | undefined;
        const at = node?.range ? `line ${lc.linePos(node.range[0]).line}: ` : '';
        const message = i.code === 'unrecognized_keys' ? `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')}` : i.message;
        return new TriageError('RUNBOOK_INVALID', `${at}${message}`, {
          file,
          path: i.path.map(String).join('.') || undefined,
          fix: 'each entry has id, code, regex and title (and optionally flags: i); see builtin/signatures.yaml',
        });
      }),
    );
  }
  const ids = parsed.data.signatures.map((s) => s.id);
  const dup = parsed.data.signatures.find((s, i) => ids.indexOf(s.id) !== i);
  if (dup) throw new TriageErrors([new TriageError('RUNBOOK_INVALID', `signature id "${dup.id}" appears twice`, { file, fix: 'give each signature its own id' })]);
  return parsed.data.signatures;
}

/** `port-conflict` → `port_conflict`: the key under `cause_lines`. */
export function snake(code: string): string {
  return code.replace(/-/g, '_');
}

function clipLine(s: string): string {
  return s.length > MAX_LINE ? `${s.slice(0, MAX_LINE)}…` : s;
}
