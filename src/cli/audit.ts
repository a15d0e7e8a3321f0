/** `triage audit [--count N] [--since ISO] [--json]`: who ran what from chat, newest last. */
import { AuditLog, formatAuditLine } from '../bot/audit.ts';
import { loadConfig } from '../config.ts';
import { TriageError } from '../errors.ts';
import { connectRedis, keyPrefix } from '../queue/redis.ts';
import { type CliIO, parse } from './io.ts';
import { usageOf } from './help.ts';

const USAGE = usageOf('audit');

export async function auditCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, 'audit');
  if (positionals.length) throw new TriageError('USAGE', `unexpected "${positionals[0]}"`, { fix: USAGE });
  const count = Number(values.count ?? '50');
  if (!Number.isInteger(count) || count < 1 || count > 10_000) throw new TriageError('USAGE', '--count must be a whole number from 1 to 10000', { fix: USAGE });
  const since = values.since as string | undefined;
  if (since !== undefined && Number.isNaN(Date.parse(since))) throw new TriageError('USAGE', `--since "${since.slice(0, 40)}" is not a date`, { fix: 'e.g. --since 2026-01-01T00:00:00Z' });
  const loaded = await loadConfig({ file: values.config as string | undefined, cwd: io.cwd, env: io.env, requireFile: false });
  const redis = await connectRedis({ url: loaded.redisUrl, redis: loaded.config.redis, env: io.env });
  const conn = redis.client();
  try {
    const entries = await new AuditLog(conn, keyPrefix(redis, io.env.TRIAGE_PREFIX || 'triage')).list({ count, since });
    if (values.json) io.out(JSON.stringify(entries, null, 2));
    else if (!entries.length) io.out('no audit entries');
    else for (const e of entries) io.out(formatAuditLine(e));
    return 0;
  } finally {
    conn.disconnect();
    await redis.stop();
  }
}
