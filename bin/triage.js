#!/usr/bin/env node
// Runs the compiled dist/ when it was built from the sources as they are now (`npm ci` builds
// it through `prepare`; `npm run build` rebuilds it) — the one-file bundle dist/triage.cjs with a
// V8 code cache when there is one, else dist/cli.js — else the TypeScript sources through tsx,
// so an edited checkout never runs stale code. TRIAGE_FROM_SRC=1 forces the sources;
// TRIAGE_FROM_DIST=1 takes dist/ without comparing (the bench builds it first, then edits by
// others in a shared checkout do not send its runs back to tsx).
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
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
/**
 * dist/triage.cjs (one bundle, see bin/bundle.js) compiled through a V8 code cache per command in
 * dist/cache/: the first run of a command writes its cache, later runs skip parsing and compiling.
 * Returns undefined when there is no bundle. A cache V8 refuses (another Node version) is rewritten.
 */
function loadBundle(command) {
  const file = fileURLToPath(new URL('dist/triage.cjs', root));
  let source;
  try {
    source = readFileSync(file, 'latin1'); // pure ASCII (bin/bundle.js checks)
  } catch {
    return undefined;
  }
  const cacheFile = fileURLToPath(new URL(`dist/cache/${/^[a-z]+$/.test(command ?? '') ? command : 'other'}.v8`, root));
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // first run of this command
  }
  const script = new Script(Module.wrap(source), { filename: file, cachedData });
  // Only whether there was one is kept: the megabytes of cache are garbage once compiled.
  const hadCache = cachedData !== undefined;
  cachedData = undefined;
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, createRequire(file), mod, file, dirname(file));
  const saveCache = () => {
    if (hadCache && !script.cachedDataRejected) return;
    try {
      mkdirSync(dirname(cacheFile), { recursive: true });
      const tmp = `${cacheFile}.${process.pid}`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      // a read-only install runs without a cache
    }
  };
  return { main: mod.exports.main, saveCache };
}

let main;
let saveCache = () => {};
// Help is a few small modules: importing them beats reading the whole bundle.
const light = process.argv.length <= 2 || process.argv.slice(2).some((a) => a === '--help' || a === '-h' || a === 'help');
const bundled = distIsCurrent() && !light ? loadBundle(process.argv[2]) : undefined;
if (bundled) ({ main, saveCache } = bundled);
else if (distIsCurrent()) {
  ({ main } = await import('../dist/cli.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli.ts'));
}
const code = await main(process.argv.slice(2));
saveCache();
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
