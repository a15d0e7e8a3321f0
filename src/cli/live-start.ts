/**
 * What `triage bot` and `triage worker` both start from: the config and the
 * runbooks (read again the same way on every reload: SIGHUP, `triage
 * reload`; see src/ops/reload.ts), the Redis they name, and the key prefix.
 */
import { type LoadedConfig, loadConfig } from '../config.ts';
import { LiveConfig } from '../ops/reload.ts';
import { connectRedis, type RedisHandle } from '../queue/redis.ts';
import { RunbookLibrary } from '../runbooks/loader.ts';
import { type CliIO, runbookDirs } from './io.ts';

/** The config and runbooks as first read, Redis, the prefix, and the live (reloadable) view of both. */
export interface LiveStart {
  loaded: LoadedConfig;
  library: RunbookLibrary;
  redis: RedisHandle;
  prefix: string;
  live: LiveConfig;
}

/** Reads `--config` and `--runbooks`, connects to the config's Redis. */
export async function startLive(values: Record<string, unknown>, io: CliIO): Promise<LiveStart> {
  const read = async () => ({
    loaded: await loadConfig({ file: values.config as string | undefined, cwd: io.cwd, env: io.env, requireFile: true }),
    library: RunbookLibrary.load({ dirs: runbookDirs(values.runbooks as string[] | undefined, io.env) }),
  });
  const { loaded, library } = await read();
  const redis = await connectRedis({ url: loaded.redisUrl, redis: loaded.config.redis, env: io.env });
  return { loaded, library, redis, prefix: io.env.TRIAGE_PREFIX || 'triage', live: new LiveConfig({ loaded, library }, read) };
}
