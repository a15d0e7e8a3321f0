/** Runs the real `triage` CLI in-process and captures what a user would see. */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { main } from '../../src/cli.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs); undefined when it is not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read the parsed result freely
  json: any;
}

/** Deletes every Redis key under `prefix` (queue and run state of one test). */
export async function purgePrefix(prefix: string, url = 'redis://127.0.0.1:6379'): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

/**
 * Each call gets its own queue prefix (so parallel test files never take each
 * other's jobs) and removes its keys afterwards.
 */
export async function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; signal?: AbortSignal } = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  const code = await main(args, {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    env: { ...process.env, TRIAGE_CONFIG: '', TRIAGE_PREFIX: prefix, ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
    stopSignal: opts.signal,
  });
  // Only the prefix made here; a caller that chose its own keeps its keys across calls.
  if (!opts.env?.TRIAGE_PREFIX) await purgePrefix(prefix).catch(() => {});
  const stdout = out.join('\n');
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr: err.join('\n'), json };
}
