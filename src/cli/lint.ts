/** `triage lint [FILES...]`: checks config and runbooks; every problem names file, path and fix. */
import { peekTextFile } from '../text-file.ts';
import { lintConfig, loadConfig } from '../config.ts';
import { isTriageError, type TriageError, TriageErrors } from '../errors.ts';
import { redactErrorLines } from '../redact.ts';
import { loadRunbookFile, RunbookLibrary } from '../runbooks/loader.ts';
import { type CliIO, parse, runbookDirs } from './io.ts';

export async function lintCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, 'lint');
  const problems: TriageError[] = [];
  const collect = (e: unknown) => {
    if (e instanceof TriageErrors) problems.push(...e.errors);
    else if (isTriageError(e)) problems.push(e);
    else throw e;
  };
  let checked = 0;
  if (values['builtin-only']) {
    try {
      checked += RunbookLibrary.load().names().length;
    } catch (e) {
      collect(e);
    }
  } else if (positionals.length) {
    for (const f of positionals) {
      checked++;
      try {
        if (await looksLikeConfig(f)) {
          const loaded = await loadConfig({ file: f, cwd: io.cwd, env: io.env });
          // --schema-only: the file is valid; its key files and known_hosts need not exist on this machine.
          if (!values['schema-only']) problems.push(...lintConfig(loaded));
        }
        else loadRunbookFile(f);
      } catch (e) {
        collect(e);
      }
    }
  } else {
    try {
      checked += RunbookLibrary.load({ dirs: runbookDirs(undefined, io.env) }).names().length;
    } catch (e) {
      collect(e);
    }
    try {
      checked++;
      problems.push(...lintConfig(await loadConfig({ file: values.config as string | undefined, cwd: io.cwd, env: io.env })));
    } catch (e) {
      collect(e);
    }
  }
  for (const p of problems) for (const line of redactErrorLines(p)) io.err(line);
  io.out(problems.length ? `${problems.length} problem${problems.length > 1 ? 's' : ''}` : `ok: ${checked} file${checked === 1 ? '' : 's'} checked`);
  return problems.length ? 2 : 0;
}

async function looksLikeConfig(file: string): Promise<boolean> {
  // A peek at the start, never the whole file: `triage lint /dev/urandom` must not read forever.
  const text = peekTextFile(file);
  return /^(hosts|targets):/m.test(text);
}
