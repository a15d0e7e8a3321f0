/**
 * Finds, parses and checks runbooks: the built-ins shipped in `builtin/` and
 * any directories the user adds. A runbook that does not pass the schema and
 * the name checks (`lint.ts`) is refused with every problem listed (file,
 * path, line, fix) — nothing half-valid is ever run.
 */
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isScalar, LineCounter, parseDocument } from 'yaml';
import { clip } from '../text.ts';
import { TriageError, TriageErrors } from '../errors.ts';
import { schemaErrors } from '../schema-errors.ts';
import { readTextFile, yamlToJS } from '../text-file.ts';
import { lintRunbook } from './lint.ts';
import { type Runbook, RunbookSchema } from './schema.ts';
import { SIGNATURES_FILE, SignatureTable } from './signatures.ts';
import { fromSnapshot } from './snapshot.ts';

export { lintRunbook } from './lint.ts';

/** Where the built-in runbooks live. */
export const BUILTIN_DIR = fileURLToPath(new URL('./builtin/', import.meta.url));

/** A runbook and the file it came from. */
export interface LoadedRunbook {
  runbook: Runbook;
  file: string;
  builtin: boolean;
}

/**
 * Parsed runbooks by file, reused while the file is unchanged (same size and
 * mtime): every `triage` call, bot reload and test loads the built-ins, and
 * parsing + linting them is the bulk of start-up. Only successes are kept.
 */
const parsedCache = new Map<string, { size: number; mtimeMs: number; loaded: LoadedRunbook }>();

/** Parses and checks one runbook file; throws `TriageErrors` listing every problem. */
export function loadRunbookFile(file: string, builtin = false): LoadedRunbook {
  const key = `${builtin ? 'b' : 'u'}:${file}`;
  let st: { size: number; mtimeMs: number; isFile(): boolean } | undefined;
  try {
    st = statSync(file);
  } catch {
    st = undefined;
  }
  const hit = st?.isFile() ? parsedCache.get(key) : undefined;
  if (hit && st && hit.size === st.size && hit.mtimeMs === st.mtimeMs) return hit.loaded;
  const snap = builtin && file.startsWith(BUILTIN_DIR) ? fromSnapshot<Runbook>(BUILTIN_DIR, file.slice(BUILTIN_DIR.length), 'runbooks') : undefined;
  const loaded = snap ? { runbook: snap, file, builtin } : loadRunbookFileUncached(file, builtin);
  if (st?.isFile()) parsedCache.set(key, { size: st.size, mtimeMs: st.mtimeMs, loaded });
  return loaded;
}

function loadRunbookFileUncached(file: string, builtin: boolean): LoadedRunbook {
  let text: string;
  try {
    // The same caps as the config: size before reading, UTF-8 required (text-file.ts).
    text = readTextFile(file, { code: 'RUNBOOK_INVALID', what: 'runbook' });
  } catch (e) {
    if (e instanceof TriageError) throw e;
    throw new TriageError('RUNBOOK_INVALID', `cannot read runbook: ${(e as Error).message}`, { file });
  }
  return parseRunbook(text, file, builtin);
}

/** Parses and checks runbook YAML text. */
export function parseRunbook(text: string, file: string, builtin = false): LoadedRunbook {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new TriageErrors(
      doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return new TriageError('RUNBOOK_YAML', `line ${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`, {
          file,
          fix: 'fix the YAML syntax (indentation, quotes, a missing colon)',
        });
      }),
    );
  }
  const line = (path: (string | number)[]) => {
    const node = doc.getIn(path, true) as { range?: [number, number] } | undefined;
    return node?.range ? lc.linePos(node.range[0]).line : undefined;
  };
  if (doc.contents === null || (isScalar(doc.contents) && (doc.contents.value === null || doc.contents.value === ''))) {
    throw new TriageErrors([new TriageError('RUNBOOK_INVALID', 'the file is empty', { file, fix: 'a runbook needs at least name:, description: and steps: (see `triage schema`)' })]);
  }
  const input = yamlToJS(doc, file, 'RUNBOOK_YAML');
  const parsed = RunbookSchema.safeParse(input);
  if (!parsed.success) {
    throw new TriageErrors(
      schemaErrors(parsed.error.issues, {
        schema: RunbookSchema,
        code: 'RUNBOOK_INVALID',
        file,
        input,
        doc,
        lineCounter: lc,
        lineAt: 'prefix',
        example: exampleFor,
        fallbackFix: 'see `triage schema` or docs/runbooks.md for the format',
      }),
    );
  }
  const problems = lintRunbook(parsed.data, file, line, { builtin });
  if (problems.length) throw new TriageErrors(problems);
  return { runbook: parsed.data, file, builtin };
}

/** Example lines for fixes, by the key that is missing or wrong. */
const EXAMPLES: Record<string, string> = {
  name: 'name: my-check',
  description: 'description: what this runbook finds out',
  steps: 'steps: [{ id: service, title: is the service running, probe: service }]',
  id: 'id: service',
  title: 'title: is the service running',
  timeout: 'timeout: 30s',
  probe: 'probe: service',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: runbook text, where ${{ }} is the template syntax
  args: 'args: ["${{ target.port }}"]',
  severity: 'severity: warning',
  cause: 'cause: service-down',
};

function exampleFor(path: readonly PropertyKey[]): string | undefined {
  return EXAMPLES[String(path[path.length - 1])];
}

/** All runbooks Triage knows: built-ins plus user directories (a user runbook may replace a built-in of the same name). */
export class RunbookLibrary {
  private readonly byName = new Map<string, LoadedRunbook>();
  private readonly byAlias = new Map<string, string>();
  /** The log-signature table: the built-ins plus each directory's `signatures.yaml`. */
  signatures: SignatureTable = SignatureTable.builtin();

  /** Loads the built-ins and every `*.yaml`/`*.yml` in `dirs`. Throws `TriageErrors` listing every bad file. */
  static load(opts: { dirs?: string[]; builtin?: boolean } = {}): RunbookLibrary {
    const lib = new RunbookLibrary();
    const errors: TriageError[] = [];
    const sources: [string, boolean][] = [];
    if (opts.builtin !== false) sources.push([BUILTIN_DIR, true]);
    for (const d of opts.dirs ?? []) sources.push([d, false]);
    for (const [dir, builtin] of sources) {
      let files: string[];
      try {
        files = readdirSync(dir).filter((f) => ['.yaml', '.yml'].includes(extname(f)) && f !== SIGNATURES_FILE).sort();
      } catch (e) {
        errors.push(new TriageError('RUNBOOK_INVALID', `cannot read runbook directory: ${(e as Error).message}`, { file: dir }));
        continue;
      }
      for (const f of files) {
        try {
          lib.add(loadRunbookFile(join(dir, f), builtin));
        } catch (e) {
          if (e instanceof TriageErrors) errors.push(...e.errors);
          else if (e instanceof TriageError) errors.push(e);
          else throw e;
        }
      }
    }
    try {
      lib.signatures = SignatureTable.load(opts.dirs ?? []);
    } catch (e) {
      if (e instanceof TriageErrors) errors.push(...e.errors);
      else throw e;
    }
    if (errors.length) throw new TriageErrors(errors);
    return lib;
  }

  add(lr: LoadedRunbook): void {
    this.byName.set(lr.runbook.name, lr);
    for (const a of lr.runbook.aliases) this.byAlias.set(a, lr.runbook.name);
  }

  /** By name or alias; unknown → `RUNBOOK_UNKNOWN` listing what exists. */
  get(nameOrAlias: string): Runbook {
    const lr = this.byName.get(nameOrAlias) ?? this.byName.get(this.byAlias.get(nameOrAlias) ?? '');
    if (!lr) {
      throw new TriageError('RUNBOOK_UNKNOWN', `no runbook "${clip(nameOrAlias)}"`, { fix: `known runbooks: ${this.names().join(', ')}` });
    }
    return lr.runbook;
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  list(): LoadedRunbook[] {
    return this.names().map((n) => this.byName.get(n)!);
  }
}
