#!/usr/bin/env node
// Runs the TypeScript sources directly (no build step for a fresh checkout).
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli.ts');
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
