/**
 * The built-in runbooks and signature table as `npm run build` parsed them
 * (`dist/runbooks/builtin-snapshot.json`, written by bin/build.js): parsing
 * and linting their YAML was most of every `triage` call's start-up. A file's
 * entry is used only while that file has the size and mtime it had at build
 * time; anything else (running from src/, an edited file) parses as usual.
 *
 * Deliberately left out: user runbook directories (parsed every time, and
 * cached per process by the loader).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Where the snapshot sits, next to the compiled loader (absent when running from src/). */
export const SNAPSHOT_FILE = 'builtin-snapshot.json';

/** One parsed file in the snapshot. */
export interface SnapshotEntry<T> {
  /** Path relative to the builtin directory. */
  name: string;
  size: number;
  mtimeMs: number;
  data: T;
}

/** The snapshot file's content. */
export interface BuiltinSnapshot {
  runbooks: SnapshotEntry<unknown>[];
  signatures?: SnapshotEntry<unknown>;
}

let cached: BuiltinSnapshot | null | undefined;

function snapshot(): BuiltinSnapshot | null {
  if (cached !== undefined) return cached;
  try {
    cached = JSON.parse(readFileSync(new URL(`./${SNAPSHOT_FILE}`, import.meta.url), 'utf8')) as BuiltinSnapshot;
  } catch {
    cached = null;
  }
  return cached;
}

/** The parsed content of `builtinDir/name` from the snapshot, when the file is unchanged since the build. */
export function fromSnapshot<T>(builtinDir: string, name: string, kind: 'runbooks' | 'signatures'): T | undefined {
  const s = snapshot();
  if (!s) return undefined;
  const entry = kind === 'signatures' ? (s.signatures?.name === name ? s.signatures : undefined) : s.runbooks.find((e) => e.name === name);
  if (!entry) return undefined;
  const st = statSync(join(builtinDir, name), { throwIfNoEntry: false });
  // Whole milliseconds: restoring a file's time (cp -p, utimes) keeps no more than that.
  return st && st.size === entry.size && Math.floor(st.mtimeMs) === Math.floor(entry.mtimeMs) ? (entry.data as T) : undefined;
}
