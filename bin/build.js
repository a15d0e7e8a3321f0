#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci` runs it): compiles src/ to dist/ with tsc,
// copies the files the code reads at run time (runbook YAML, probe scripts, signatures),
// bundles the CLI into dist/triage.cjs (bin/bundle.js), then writes dist/build-stamp.json — the key bin/triage.js compares to decide whether
// dist/ is up to date with src/ (see srcKey in bin/src-key.js).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { srcKey } from './src-key.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const key = srcKey(join(root, 'src'));
rmSync(dist, { recursive: true, force: true });
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
// tsc emits even when types are wrong; `npm run lint` is where type errors fail. No output at all is a failure.
if (!existsSync(join(dist, 'cli.js'))) {
  console.error('triage build: tsc wrote no dist/cli.js');
  process.exit(1);
}
if (r.status !== 0) console.error('triage build: tsc reported type errors (see above); dist/ was written anyway, `npm run lint` fails on them');
cpSync(join(root, 'src/runbooks/builtin'), join(dist, 'runbooks/builtin'), { recursive: true });
// The built-in runbooks and signatures parsed once here (see src/runbooks/snapshot.ts), from the copies in dist/.
const snap = spawnSync(process.execPath, [join(root, 'bin/snapshot.js'), dist], { stdio: ['ignore', 'inherit', 'inherit'] });
if (snap.status !== 0) console.error('triage build: no runbook snapshot (a built-in runbook does not load); start-up parses the YAML instead');
// One bundled file for a fast start (see bin/bundle.js); without it bin/triage.js imports dist/cli.js.
const bundle = spawnSync(process.execPath, [join(root, 'bin/bundle.js'), root], { stdio: ['ignore', 'inherit', 'inherit'] });
if (bundle.status !== 0) console.error('triage build: no dist/triage.cjs (see above); the CLI runs the unbundled dist/ instead');
writeFileSync(join(dist, 'build-stamp.json'), `${JSON.stringify({ src: key, builtAt: new Date().toISOString() })}\n`);
console.error(`triage build: dist/ up to date with src/ (${key.split("\n").length - 1} files)`);
