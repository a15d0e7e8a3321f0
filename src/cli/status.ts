/** `triage status [runId] [--json]`: one run's state and verdict, or the recent runs. */
import { loadConfig } from '../config.ts';
import { TriageError } from '../errors.ts';
import { RunQueue } from '../queue/producer.ts';
import { connectRedis } from '../queue/redis.ts';
import { type CliIO, parse } from './io.ts';
import { usageOf } from './help.ts';
import { verdict } from './print.ts';

const USAGE = usageOf('status');

export async function statusCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, 'status');
  if (positionals.length > 1) throw new TriageError('USAGE', `unexpected "${positionals[1]}"`, { fix: USAGE });
  const [runId] = positionals;
  if (runId !== undefined && !/^r_[a-z0-9]{4,40}$/.test(runId)) throw new TriageError('USAGE', `"${runId.slice(0, 40)}" is not a run id`, { fix: 'run ids look like r_mwt1a8nx65f70a95' });
  const loaded = await loadConfig({ file: values.config as string | undefined, cwd: io.cwd, env: io.env, requireFile: false });
  const redis = await connectRedis({ url: loaded.redisUrl, redis: loaded.config.redis, env: io.env });
  const queue = new RunQueue({ redis, prefix: io.env.TRIAGE_PREFIX || 'triage' });
  try {
    if (!runId) {
      const runs = await queue.recent(10);
      if (values.json) io.out(JSON.stringify(runs, null, 2));
      else if (!runs.length) io.out('no runs yet');
      else for (const r of runs) io.out(`${r.runId}  ${r.createdAt}  ${r.state.padEnd(9)} ${r.runbook} ${r.target}${r.result?.cause ? `  ${r.result.cause}` : ''}`);
      return 0;
    }
    const r = await queue.status(runId);
    if (values.json) {
      io.out(JSON.stringify(r, null, 2));
      return 0;
    }
    io.out(`${r.runId}: ${r.state}${r.reason ? ` (${r.reason})` : ''} · ${r.runbook} ${r.target} · asked by ${r.requestedBy} at ${r.createdAt}`);
    if (r.result) io.out(verdict(r.result));
    return 0;
  } finally {
    await queue.close();
    await redis.stop();
  }
}
