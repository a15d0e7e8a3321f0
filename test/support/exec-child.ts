/**
 * A stand-in worker process for tests that kill the worker mid-step:
 * `node --import tsx exec-child.ts '<json>'` with `{ host, keyFile, command, timeoutMs }`
 * runs one command over SSH (or `address: local`) and prints the result as
 * JSON. The test SIGKILLs it while the command runs on the host.
 */
import { readFileSync } from 'node:fs';
import { createExecutor } from '../../src/executors/index.ts';

const arg = JSON.parse(process.argv[2] ?? '{}') as {
  host: { name: string; address: string; port?: number; user?: string; hostKey?: string };
  keyFile?: string;
  command: string;
  timeoutMs?: number;
};
const executor = createExecutor();
const host = { ...arg.host, privateKey: arg.keyFile ? readFileSync(arg.keyFile) : undefined };
console.log('exec-child: running');
const r = await executor.exec(host, arg.command, { timeoutMs: arg.timeoutMs ?? 60_000 });
console.log(JSON.stringify(r));
await executor.close();
