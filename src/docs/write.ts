/** `npm run docs`: rewrites the generated parts of docs/ (see generate.ts). */
import { writeFileSync } from 'node:fs';
import { TriageError, TriageErrors } from '../errors.ts';
import { REPO_ROOT, renderDocs } from './generate.ts';

try {
  for (const { file, current, expected } of renderDocs()) {
    if (current === expected) {
      process.stdout.write(`${file}: up to date\n`);
    } else {
      writeFileSync(`${REPO_ROOT}/${file}`, expected);
      process.stdout.write(`${file}: regenerated\n`);
    }
  }
} catch (e) {
  const errors = e instanceof TriageErrors ? e.errors : e instanceof TriageError ? [e] : undefined;
  if (!errors) throw e;
  for (const err of errors) process.stderr.write(`docs: ${err.toLine()}\n`);
  process.exitCode = 2;
}
