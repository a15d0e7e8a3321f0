#!/usr/bin/env node
// Runs the TypeScript sources directly (no build step for a fresh checkout).
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli.ts');
const code = await main(process.argv.slice(2));
// Long-lived clients (Redis, SSH) are closed by the commands; exit promptly anyway.
process.exit(code);
