/**
 * Runs a Lua script by its SHA-1 (`EVALSHA`), sending the script body only
 * when Redis does not know it yet (`NOSCRIPT`, e.g. after a restart or a
 * failover): a step record is one small command, not the script text again
 * each time.
 */
import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';

const shas = new Map<string, string>();

function sha1(script: string): string {
  let sha = shas.get(script);
  if (!sha) {
    sha = createHash('sha1').update(script).digest('hex');
    shas.set(script, sha);
  }
  return sha;
}

/** `EVAL script numKeys ...args`, sent as `EVALSHA` first. */
export async function evalScript(redis: Redis | Cluster, script: string, numKeys: number, ...args: (string | number)[]): Promise<unknown> {
  try {
    return await redis.evalsha(sha1(script), numKeys, ...args);
  } catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
    return redis.eval(script, numKeys, ...args);
  }
}
