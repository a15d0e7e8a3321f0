/**
 * `triage reload [--config FILE] [--wait 10s] [--json]`: asks every running
 * bot and worker of this deployment (same Redis, same `TRIAGE_PREFIX`) to
 * re-read its config and runbooks, over Redis (see src/ops/reload.ts), and
 * prints each process's answer. The config named here is checked first: one
 * that does not load is reported (exit 2) and nothing is sent, since the
 * processes would refuse it too.
 */
import { loadConfig } from '../config.ts';
import { TriageError } from '../errors.ts';
import { type ReloadReply, requestReload } from '../ops/reload.ts';
import { connectRedis, keyPrefix, safeUrl } from '../queue/redis.ts';
import { usageOf } from './help.ts';
import { type CliIO, parse } from './io.ts';

const USAGE = usageOf('reload');

export async function reloadCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, 'reload');
  if (positionals.length) throw new TriageError('USAGE', `unexpected "${positionals[0]}"`, { fix: USAGE });
  const wait = /^(\d+)(ms|s)?$/.exec((values.wait as string | undefined) ?? '10s');
  if (!wait) throw new TriageError('USAGE', `--wait "${String(values.wait).slice(0, 20)}" is not a duration`, { fix: 'e.g. --wait 5s' });
  const waitMs = Number(wait[1]) * (wait[2] === 'ms' ? 1 : 1000);
  const loaded = await loadConfig({ file: values.config as string | undefined, cwd: io.cwd, env: io.env, requireFile: true });
  const redis = await connectRedis({ url: loaded.redisUrl, redis: loaded.config.redis, env: io.env });
  const prefix = keyPrefix(redis, io.env.TRIAGE_PREFIX || 'triage');
  const subscriber = redis.client();
  const publisher = redis.client();
  subscriber.on('error', () => {});
  publisher.on('error', () => {});
  try {
    const { listening, replies } = await requestReload({ prefix, subscriber, publisher, waitMs });
    const silent = Math.max(0, listening - replies.length);
    if (values.json) io.out(JSON.stringify({ listening, replies }, null, 2));
    else {
      if (!listening) io.out(`triage reload: no bot or worker is listening under prefix "${prefix}" at ${safeUrl(redis.url)}`);
      for (const r of replies) io.out(replyLine(r));
      if (silent) io.out(`triage reload: ${silent} process${silent > 1 ? 'es' : ''} did not answer within ${waitMs} ms`);
    }
    return listening > 0 && !silent && replies.every((r) => r.applied) ? 0 : 1;
  } finally {
    subscriber.disconnect();
    publisher.disconnect();
    await redis.stop();
  }
}

function replyLine(r: ReloadReply): string {
  const who = `${r.role} ${r.pid}@${r.hostname}`;
  if (!r.applied) return `  ${who}: refused, kept the config in force — ${r.reason ?? 'no reason given'}`;
  const changes = [r.added.length ? `added ${r.added.join(', ')}` : '', r.removed.length ? `removed ${r.removed.join(', ')}` : ''].filter(Boolean).join('; ');
  const lines = [`  ${who}: reloaded (generation ${r.generation}: ${r.targets} target${r.targets === 1 ? '' : 's'}, ${r.runbooks} runbooks${changes ? `; ${changes}` : ''})`];
  for (const w of r.warnings) lines.push(`    warning: ${w}`);
  return lines.join('\n');
}
