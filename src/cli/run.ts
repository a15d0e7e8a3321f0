/**
 * `triage run <runbook> <target>`: checks the request, submits it to the
 * queue and follows it live. By default an embedded worker runs in the same
 * process, so one command works alone; `--no-worker` waits for external
 * workers instead. Ctrl-C cancels the run (its remote commands are killed).
 */
import { userInfo } from 'node:os';
import { loadConfig } from '../config.ts';
import { TriageError } from '../errors.ts';
import type { FinishedRun } from '../oncall/incidents.ts';
import type { RedisHandle } from '../queue/redis.ts';
import type { TriageWorker } from '../queue/worker.ts';
import { RunbookLibrary } from '../runbooks/loader.ts';
import { planCommands, prepareRun } from '../runbooks/prepare.ts';
import { approvedSteps, remediationLine } from './remediation.ts';
import { type CliIO, paramFlags, parse, runbookDirs } from './io.ts';
import { usageOf } from './help.ts';
import { exitCodeForResult, stepLine, verdict } from './print.ts';

const USAGE = usageOf('run');
/** Hosts the embedded worker diagnoses at once: every host of a normal target, a bound for a huge one. */
const DEFAULT_CONCURRENCY = 64;

export async function runCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, 'run');
  const [rbName, targetName, ...extra] = positionals;
  if (!rbName || !targetName || extra.length) {
    throw new TriageError('USAGE', !rbName ? 'missing <runbook>' : !targetName ? 'missing <target>' : `unexpected "${extra[0]}"`, { fix: USAGE });
  }
  const params = paramFlags(values.param as string[] | undefined, USAGE);
  const waitMs = values.wait === undefined ? undefined : parseWait(values.wait as string);
  const concurrency = values.concurrency === undefined ? DEFAULT_CONCURRENCY : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new TriageError('USAGE', '--concurrency must be a whole number from 1 to 256', { fix: USAGE });
  const loaded = await loadConfig({ file: values.config as string | undefined, cwd: io.cwd, env: io.env, requireFile: true });
  const library = RunbookLibrary.load({ dirs: runbookDirs(values.runbooks as string[] | undefined, io.env) });
  const host = values.host as string | undefined;
  // With an embedded worker, a missing key is a config error now (exit 2), not a failed run later.
  const plan = prepareRun(loaded, library, { runbook: rbName, target: targetName, host, params }, io.env, { credentials: !values['no-worker'] });
  const json = values.json === true;
  // Names that are not host-changing steps of this runbook are refused before anything runs (exit 2).
  const approved = approvedSteps(plan.runbook, values.approve as string[] | undefined);

  if (values['dry-run']) {
    const planned = planCommands(plan);
    if (json) io.out(JSON.stringify({ runbook: plan.runbook.name, target: plan.target.name, hosts: planned }, null, 2));
    else {
      for (const h of planned) {
        io.out(`# ${h.host}`);
        for (const s of h.steps) {
          io.out(`## ${s.id}: ${s.title}${s.note ? `  (${s.note})` : ''}`);
          if (s.command) io.out(s.command.trimEnd());
        }
      }
      io.out('# dry run: nothing was executed');
    }
    return 0;
  }

  // Loaded only now: `run --help`, bad input and `--dry-run` never load the queue, Redis or SSH libraries.
  const [{ RunQueue }, { connectRedis, redisLost }, { within }, { startWorker }] = await Promise.all([
    import('../queue/producer.ts'),
    import('../queue/redis.ts'),
    import('../queue/redis-watch.ts'),
    import('../queue/worker.ts'),
  ]);
  const redis = await connectRedis({ url: loaded.redisUrl, redis: loaded.config.redis, env: io.env, allowPrivate: loaded.redisFromDefault });
  const prefix = io.env.TRIAGE_PREFIX || 'triage';
  const queue = new RunQueue({ redis, prefix, retention: loaded.config.retention });
  let worker: TriageWorker | undefined;
  try {
    if (!values['no-worker']) {
      worker = await startWorker({ redis, prefix, config: loaded, library, env: io.env, concurrency, onError: (e) => io.err(`triage: worker: ${e.message}`) });
    }
    // Redis can go away between the check and the submit: a submit that cannot get through is exit 3, not a hang.
    const submitted = await within(queue.submit(plan, { requestedBy: `cli:${userInfo().username}`, params, host, approved, approvals: 'given' }), 5000, null);
    if (!submitted) throw redisLost(redis.url, 5000);
    const { runId } = submitted;
    const width = Math.max(...plan.hosts.map((h) => h.name.length));
    if (!json) io.out(`triage run ${plan.runbook.name} ${plan.target.name} — ${plan.hosts.length} host${plan.hosts.length > 1 ? 's' : ''} · ${runId}`);
    const onStop = () => void queue.cancel(runId, 'ctrl-c').catch(() => {});
    io.stopSignal?.addEventListener('abort', onStop, { once: true });
    // Sum of step timeouts (hosts run in parallel) plus room for queueing.
    const budget = waitMs ?? plan.runbook.steps.reduce((n, s) => n + s.timeout, 0) + 120_000;
    try {
      const final = await queue.wait(runId, {
        timeoutMs: budget,
        onEvent: (e) => {
          if (json) return;
          if (e.type === 'step') io.out(stepLine(e.host, e.step, width));
          else if (e.type === 'approval') io.out(`  ${e.host.padEnd(width)}  ? ${e.title}: changes the host — waiting for approval (triage approve is chat-only: /approve ${runId} ${e.host}:${e.stepId})`);
        },
      });
      io.out(json ? JSON.stringify(final.result, null, 2) : verdict(final.result));
      if (!json) for (const r of final.result.remediation ?? []) io.out(remediationLine(r));
      if (final.state === 'cancelled' || final.state === 'failed') {
        if (!json) io.err(`triage: run ${final.state}${final.result.summary ? `: ${final.result.summary}` : ''}`);
        return 3;
      }
      await recordIncident(redis, prefix, { runId, runbook: plan.runbook.name, target: plan.target.name, requestedBy: `cli:${userInfo().username}`, result: final.result }, io);
      return exitCodeForResult(final.result);
    } finally {
      io.stopSignal?.removeEventListener('abort', onStop);
    }
  } finally {
    await worker?.close(5000);
    await queue.close();
    await redis.stop();
  }
}

function parseWait(s: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(s);
  if (!m) throw new TriageError('USAGE', `--wait "${s}" is not a duration`, { fix: 'e.g. --wait 90s or --wait 10m' });
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm'];
}

/**
 * A CLI run counts into incidents like a chat run: an unhealthy one opens or
 * updates its target + cause's incident, a healthy one marks it "recovered?"
 * (recording is idempotent per run). Bounded, and never changes the exit code.
 */
async function recordIncident(redis: RedisHandle, prefix: string, run: FinishedRun, io: CliIO): Promise<void> {
  const [{ IncidentStore }, { keyPrefix }, { within }] = await Promise.all([
    import('../oncall/incidents.ts'),
    import('../queue/redis.ts'),
    import('../queue/redis-watch.ts'),
  ]);
  const client = redis.client();
  try {
    const outcome = await within(new IncidentStore(client, keyPrefix(redis, prefix)).recordRun(run), 3000, null);
    if (!outcome) io.err('triage: could not record the incident (Redis did not answer in 3 s)');
  } catch (e) {
    io.err(`triage: could not record the incident: ${(e as Error).message}`);
  } finally {
    client.disconnect();
  }
}
