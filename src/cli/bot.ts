/**
 * `triage bot [--config FILE] [--no-worker]`: the long-running chat bot —
 * Telegram and/or Slack, whichever `chat:` configures. It embeds a worker by
 * default (one process is a whole deployment); `--no-worker` leaves the work
 * to `triage worker` processes. `--console` also serves this terminal: type
 * `/diagnose 502 shop` to try the chat commands without any chat tokens.
 * SIGTERM/SIGINT stop it cleanly.
 */
import { startBot } from '../bot/bot.ts';
import { loadConfig } from '../config.ts';
import { TriageError } from '../errors.ts';
import { connectRedis, safeUrl } from '../queue/redis.ts';
import { RunbookLibrary } from '../runbooks/loader.ts';
import { type CliIO, parse, runbookDirs } from './io.ts';
import { usageOf } from './help.ts';

const USAGE = usageOf('bot');

export async function botCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, 'bot');
  if (positionals.length) throw new TriageError('USAGE', `unexpected "${positionals[0]}"`, { fix: USAGE });
  const loaded = await loadConfig({ file: values.config as string | undefined, cwd: io.cwd, env: io.env, requireFile: true });
  const library = RunbookLibrary.load({ dirs: runbookDirs(values.runbooks as string[] | undefined, io.env) });
  const redis = await connectRedis({ url: loaded.redisUrl });
  const bot = await startBot({
    loaded,
    env: io.env,
    redis,
    prefix: io.env.TRIAGE_PREFIX || 'triage',
    library,
    withWorker: !values['no-worker'],
    console: values.console === true,
  });
  io.out(`triage bot: ${bot.adapters.map((a) => a.platform).join(' + ')} · Redis ${safeUrl(redis.url)}${values['no-worker'] ? '' : ' · embedded worker'}`);
  await new Promise<void>((resolve) => {
    if (io.stopSignal?.aborted) return resolve();
    io.stopSignal?.addEventListener('abort', () => resolve(), { once: true });
  });
  io.out('triage bot: stopping');
  await bot.stop();
  await redis.stop();
  return 0;
}
