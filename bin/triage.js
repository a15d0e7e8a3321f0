#!/usr/bin/env node
// Runs the compiled dist/ when it was built from the sources as they are now (`npm ci` builds
// it through `prepare`; `npm run build` rebuilds it), else the TypeScript sources through tsx,
// so an edited checkout never runs stale code. TRIAGE_FROM_SRC=1 forces the sources;
// TRIAGE_FROM_DIST=1 takes dist/ without comparing (the bench builds it first, then edits by
// others in a shared checkout do not send its runs back to tsx).
import { readFileSync } from 'node:fs';
import { srcKey } from './src-key.js';

const root = new URL('../', import.meta.url);
function distIsCurrent() {
  if (process.env.TRIAGE_FROM_SRC === '1') return false;
  if (process.env.TRIAGE_FROM_DIST === '1') return true;
  try {
    const stamp = JSON.parse(readFileSync(new URL('dist/build-stamp.json', root), 'utf8'));
    return typeof stamp.src === 'string' && stamp.src !== '' && stamp.src === srcKey(new URL('src/', root).pathname);
  } catch {
    return false;
  }
}
let main;
if (distIsCurrent()) {
  ({ main } = await import('../dist/cli.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli.ts'));
}
const code = await main(process.argv.slice(2));
// Everything written must reach a pipe or file, however slowly it drains,
// before the process ends: wait for both streams to flush, then exit
// (long-lived clients such as Redis or SSH must not keep the process up).
const flushed = (stream) =>
  new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    stream.once('error', resolve);
    stream.write('', resolve);
  });
process.exitCode = code;
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
