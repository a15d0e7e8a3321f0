/**
 * Reading the YAML files Triage trusts least: `triage.yaml` and runbooks,
 * which may be named on the command line (`--config /dev/urandom`) or sit in
 * a directory anyone can drop a file into. Limits apply before the work:
 *
 * - size: at most {@link MAX_YAML_BYTES}. A regular file's size is checked
 *   with fstat before anything is read; a device, FIFO or `/dev/stdin` is
 *   read at most one byte past the limit, so an endless source is refused
 *   after 1 MB instead of filling memory (1.19 GB for `/dev/urandom` before);
 * - encoding: the bytes must be UTF-8 (`TextDecoder` with `fatal`); the error
 *   names the byte, its offset and its line, instead of a U+FFFD silently
 *   ending up in a value that is then run;
 * - aliases: YAML documents are turned into data with at most
 *   {@link MAX_YAML_ALIASES} alias expansions ({@link yamlToJS}), so a
 *   small "billion laughs" file cannot expand into gigabytes.
 *
 * Deliberately left out: where the file came from (the callers say what a
 * missing file means) and YAML syntax errors (each loader words its own).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Document } from 'yaml';
import { type ErrorCode, TriageError } from './errors.ts';

/** Largest config or runbook file accepted: 1 MB (a real triage.yaml is a few KB). */
export const MAX_YAML_BYTES = 1024 * 1024;
/** Most alias expansions (`*name`) a YAML document may make when it is turned into data. */
export const MAX_YAML_ALIASES = 100;

/** Options for {@link readTextFile}. */
export interface ReadTextFileOptions {
  /** The error code for a file that is too large or not UTF-8 (`CONFIG_INVALID`, `RUNBOOK_INVALID`). */
  code: ErrorCode;
  /** What the file is, in errors: `config file`, `runbook`. */
  what: string;
  /** Default {@link MAX_YAML_BYTES}. */
  maxBytes?: number;
}

/**
 * Reads a UTF-8 text file of at most `maxBytes` (a leading BOM is dropped).
 * @throws TriageError `code` when the file is larger or not UTF-8; the
 *   Node.js error (ENOENT, EACCES, EISDIR, ...) when it cannot be read.
 */
export function readTextFile(file: string, o: ReadTextFileOptions): string {
  const max = o.maxBytes ?? MAX_YAML_BYTES;
  const tooLarge = (size: string) =>
    new TriageError(o.code, `${size}; a ${o.what} may be at most ${mb(max)}`, {
      file,
      fix: `check that this is the ${o.what} you meant: one is a few KB of YAML`,
    });
  const fd = openSync(file, 'r');
  let bytes: Buffer;
  try {
    const st = fstatSync(fd);
    if (st.isFile() && st.size > max) throw tooLarge(`the file is ${mb(st.size)}`);
    // One byte past what is allowed tells "too large" from "exactly the limit"; a regular file may also grow while read.
    const buf = Buffer.alloc(st.isFile() ? Math.min(st.size, max) + 1 : max + 1);
    let n = 0;
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
    }
    if (n > max) throw tooLarge(st.isFile() ? `the file is larger than ${mb(max)}` : `more than ${mb(max)} came from it (it is not a regular file)`);
    bytes = buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const { line, col } = position(bytes, at);
    throw new TriageError(o.code, `not UTF-8 text: byte 0x${(bytes[at] ?? 0).toString(16).padStart(2, '0')} at offset ${at} (line ${line}:${col}) is not valid UTF-8`, {
      file,
      fix: `save the file as UTF-8 (e.g. \`iconv -f latin1 -t utf-8\`), or remove the stray bytes on line ${line}`,
    });
  }
}

/** The first `maxBytes` of a file as Latin-1 text, or `''` when it cannot be read; for guessing what a file is. */
export function peekTextFile(file: string, maxBytes = 64 * 1024): string {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const buf = Buffer.alloc(maxBytes);
    return buf.subarray(0, readSync(fd, buf, 0, maxBytes, null)).toString('latin1');
  } catch {
    return '';
  } finally {
    closeSync(fd);
  }
}

/**
 * A parsed YAML document as plain data, with at most {@link MAX_YAML_ALIASES}
 * alias expansions.
 * @throws TriageError `code` naming `file` when the document expands too much.
 */
export function yamlToJS(doc: Document, file: string, code: ErrorCode): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    throw new TriageError(code, `YAML could not be read: ${(err as Error).message}`, {
      file,
      fix: `use fewer aliases (*name): at most ${MAX_YAML_ALIASES} expansions, and none that nest aliases inside aliases`,
      cause: err,
    });
  }
}

function mb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629), or `b.length`. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (n === 0 || i + n > b.length - 1) return i;
    for (let j = 1; j <= n; j++) if ((b[i + j]! & 0xc0) !== 0x80) return i;
    const c1 = b[i + 1]!;
    // Overlong forms, UTF-16 surrogates and code points above U+10FFFF.
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f) || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return i;
    i += n + 1;
  }
  return b.length;
}

/** 1-based line and column of byte `offset`. */
function position(b: Uint8Array, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < b.length; i++) {
    if (b[i] === 0x0a) {
      line++;
      start = i + 1;
    }
  }
  return { line, col: offset - start + 1 };
}
