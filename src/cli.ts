/**
 * The `triage` command. Each subcommand parses its own flags strictly: an
 * unknown flag or a missing argument is exit 2 with a one-line usage hint,
 * and nothing runs.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { loadConfig, lintConfig } from './config.ts';
import { exitCodeFor, isTriageError, TriageError, TriageErrors } from './errors.ts';
import { createExecutor } from './executors/index.ts';
import { exitCodeForResult, stepLine, verdict } from './cli/print.ts';
import { runRunbook } from './runbooks/engine.ts';
import { RunbookLibrary, loadRunbookFile } from './runbooks/loader.ts';
import { newRunId, planCommands, prepareRun } from './runbooks/prepare.ts';
import { runbookJsonSchema } from './runbooks/schema.ts';
import { redact } from './redact.ts';

/** Where output goes; tests pass their own. */
export interface CliIO {
  out: (s: string) => void;
  err: (s: string) => void;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

const defaultIO: CliIO = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  env: process.env,
  cwd: process.cwd(),
};

const USAGE = `usage: triage <command>
  run <runbook> <target> [--host NAME] [--config FILE] [--json] [--dry-run] [--param k=v ...]
  lint [FILES...]           check config and runbooks
  schema                    print the runbook JSON Schema
  demo                      diagnose a local broken service end to end (no config needed)
  worker | bot | status <runId> | audit`;

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run':
        return await runCommand(rest, io);
      case 'lint':
        return await lintCommand(rest, io);
      case 'schema':
        io.out(JSON.stringify(runbookJsonSchema(), null, 2));
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new TriageError('USAGE', `unknown command "${cmd}"`, { fix: 'run `triage help` for the list' });
    }
  } catch (e) {
    return fail(e, io);
  }
}

function fail(e: unknown, io: CliIO): number {
  if (isTriageError(e)) {
    io.err(redact(`triage: ${e.toLine()}`));
  } else {
    io.err(redact(`triage: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`));
  }
  return exitCodeFor(e);
}

type Flags = Record<string, string | boolean | string[] | undefined>;

function parse(args: string[], options: ParseArgsConfig['options'], usage: string): { values: Flags; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: r.values as Flags, positionals: r.positionals };
  } catch (e) {
    throw new TriageError('USAGE', (e as Error).message.split('\n')[0]!, { fix: usage });
  }
}

function runbookDirs(extra: string[] | undefined, env: NodeJS.ProcessEnv): string[] {
  return [...(env.TRIAGE_RUNBOOKS?.split(':').filter(Boolean) ?? []), ...(extra ?? [])];
}

async function runCommand(args: string[], io: CliIO): Promise<number> {
  const usage = 'triage run <runbook> <target> [--host NAME] [--config FILE] [--json] [--dry-run] [--param k=v]';
  const { values, positionals } = parse(
    args,
    {
      host: { type: 'string' },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      param: { type: 'string', multiple: true, short: 'p' },
      runbooks: { type: 'string', multiple: true },
    },
    usage,
  );
  const [rbName, targetName, ...extra] = positionals;
  if (!rbName || !targetName || extra.length) {
    throw new TriageError('USAGE', !rbName ? 'missing <runbook>' : !targetName ? 'missing <target>' : `unexpected "${extra[0]}"`, { fix: usage });
  }
  const params: Record<string, string> = {};
  for (const p of (values.param as string[] | undefined) ?? []) {
    const i = p.indexOf('=');
    if (i < 1) throw new TriageError('USAGE', `--param "${p}" is not k=v`, { fix: usage });
    params[p.slice(0, i)] = p.slice(i + 1);
  }
  const loaded = await loadConfig({ file: values.config as string | undefined, cwd: io.cwd, env: io.env, requireFile: true });
  const library = RunbookLibrary.load({ dirs: runbookDirs(values.runbooks as string[] | undefined, io.env) });
  const plan = prepareRun(loaded, library, { runbook: rbName, target: targetName, host: values.host as string | undefined, params }, io.env);

  if (values['dry-run']) {
    const planned = planCommands(plan);
    if (values.json) io.out(JSON.stringify({ runbook: plan.runbook.name, target: plan.target.name, hosts: planned }, null, 2));
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

  const executor = createExecutor();
  const width = Math.max(...plan.hosts.map((h) => h.name.length));
  try {
    if (!values.json) io.out(`triage run ${plan.runbook.name} ${plan.target.name} — ${plan.hosts.length} host${plan.hosts.length > 1 ? 's' : ''}`);
    const result = await runRunbook({
      runId: newRunId(),
      runbook: plan.runbook,
      target: plan.target,
      hosts: plan.hosts,
      params: plan.params,
      executor,
      onStep: values.json ? undefined : (host, s) => io.out(stepLine(host, s, width)),
    });
    io.out(values.json ? JSON.stringify(result, null, 2) : verdict(result));
    return exitCodeForResult(result);
  } finally {
    await executor.close();
  }
}

async function lintCommand(args: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string' }, 'builtin-only': { type: 'boolean', default: false } }, 'triage lint [FILES...]');
  const problems: TriageError[] = [];
  const collect = (e: unknown) => {
    if (e instanceof TriageErrors) problems.push(...e.errors);
    else if (isTriageError(e)) problems.push(e);
    else throw e;
  };
  let checked = 0;
  if (values['builtin-only']) {
    try {
      checked += RunbookLibrary.load().names().length;
    } catch (e) {
      collect(e);
    }
  } else if (positionals.length) {
    for (const f of positionals) {
      checked++;
      try {
        if (await looksLikeConfig(f)) problems.push(...lintConfig(await loadConfig({ file: f, cwd: io.cwd, env: io.env })));
        else loadRunbookFile(f);
      } catch (e) {
        collect(e);
      }
    }
  } else {
    try {
      checked += RunbookLibrary.load({ dirs: runbookDirs(undefined, io.env) }).names().length;
    } catch (e) {
      collect(e);
    }
    try {
      checked++;
      problems.push(...lintConfig(await loadConfig({ file: values.config as string | undefined, cwd: io.cwd, env: io.env })));
    } catch (e) {
      collect(e);
    }
  }
  for (const p of problems) io.err(p.toLine());
  io.out(problems.length ? `${problems.length} problem${problems.length > 1 ? 's' : ''}` : `ok: ${checked} file${checked === 1 ? '' : 's'} checked`);
  return problems.length ? 2 : 0;
}

async function looksLikeConfig(file: string): Promise<boolean> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(file, 'utf8').catch(() => '');
  return /^(hosts|targets):/m.test(text);
}
