/** `npm run docs`: rewrites the generated blocks in docs/ (see generate.ts). */
import { writeFileSync } from 'node:fs';
import { REPO_ROOT, renderDocs } from './generate.ts';

for (const { file, current, expected } of renderDocs()) {
  if (current === expected) {
    process.stdout.write(`${file}: up to date\n`);
  } else {
    writeFileSync(`${REPO_ROOT}/${file}`, expected);
    process.stdout.write(`${file}: regenerated\n`);
  }
}
