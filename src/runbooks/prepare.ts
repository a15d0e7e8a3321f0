/**
 * Turns a request (runbook word, target word, optional host, raw params) into
 * a checked plan: the runbook, the target's facts, the resolved hosts and the
 * typed params. Every check that can refuse bad input happens here, before
 * anything is queued or run — the CLI, the queue and chat all go through it.
 */
import { randomBytes } from 'node:crypto';
import { type LoadedConfig, resolveHost, targetHosts } from '../config.ts';
import { clip } from '../text.ts';
import { TriageError } from '../errors.ts';
import type { HostSpec } from '../executors/executor.ts';
import type { TargetFacts } from './engine.ts';
import type { RunbookLibrary } from './loader.ts';
import { type ParamValue, validateParams } from './params.ts';
import type { Runbook } from './schema.ts';
import { describeStepCommand } from './probes.ts';
import { MissingValueError } from './template.ts';
import { hostContext } from './engine.ts';

/** What someone asked for, as words. */
export interface RunRequest {
  runbook: string;
  target: string;
  host?: string;
  params?: Record<string, string>;
}

/** A request that passed every check. */
export interface RunPlan {
  runbook: Runbook;
  target: TargetFacts;
  hosts: HostSpec[];
  params: Record<string, ParamValue>;
}

const WORD = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** Options for {@link prepareRun}. */
export interface PrepareOptions {
  /**
   * Read SSH keys and passphrases now (default true). Submitters that never
   * connect themselves (the chat bot, `run --no-worker`) pass false; the
   * worker that runs the steps reads them.
   */
  credentials?: boolean;
}

/** Checks a request against config and runbooks; throws an `input` TriageError on anything wrong. */
export function prepareRun(loaded: LoadedConfig, library: RunbookLibrary, req: RunRequest, env: NodeJS.ProcessEnv = process.env, opts: PrepareOptions = {}): RunPlan {
  for (const [what, v] of [['runbook', req.runbook], ['target', req.target], ['host', req.host]] as const) {
    if (v !== undefined && !WORD.test(v)) {
      throw new TriageError(what === 'runbook' ? 'RUNBOOK_UNKNOWN' : what === 'target' ? 'TARGET_UNKNOWN' : 'HOST_UNKNOWN', `"${clip(v)}" is not a valid ${what} name`, {
        fix: `${what} names are letters, digits, . _ - (see /${what === 'runbook' ? 'runbooks' : 'targets'})`,
      });
    }
  }
  const runbook = library.get(req.runbook);
  const hostNames = targetHosts(loaded.config, req.target, req.host);
  const params = validateParams(runbook, req.params ?? {});
  const hosts = hostNames.map((h) => resolveHost(loaded, h, env, { credentials: opts.credentials }));
  return { runbook, target: targetFacts(loaded, req.target), hosts, params };
}

/** The target's config as runbooks see it: `target.name`, `target.port`, ... */
export function targetFacts(loaded: LoadedConfig, name: string): TargetFacts {
  const t = loaded.config.targets[name];
  if (!t) throw new TriageError('TARGET_UNKNOWN', `no target "${clip(name)}"`);
  return { ...(structuredClone(t) as Record<string, unknown>), name };
}

/** The commands a plan would run on each host, in order, without running anything (`--dry-run`). */
export function planCommands(plan: RunPlan): { host: string; steps: { id: string; title: string; command?: string; note?: string }[] }[] {
  // Secret params show as a placeholder naming their source; their values are read only by the worker.
  const params = Object.fromEntries(
    Object.entries(plan.params).map(([k, v]) => [k, plan.runbook.params.find((p) => p.name === k)?.secret ? `«secret from ${v}»` : v]),
  );
  return plan.hosts.map((h) => {
    const ctx = hostContext(plan.target, h, params, []);
    return {
      host: h.name,
      steps: plan.runbook.steps.map((s) => {
        try {
          const note = [s.when ? `only if ${s.when}${s.skip ? ` (else skipped: ${s.skip})` : ''}` : '', s.changes ? 'changes the host: needs approval' : ''].filter(Boolean).join('; ');
          return { id: s.id, title: s.title, command: describeStepCommand(s, ctx), ...(note ? { note } : {}) };
        } catch (e) {
          if (e instanceof MissingValueError) return { id: s.id, title: s.title, note: `skipped: ${s.skip ?? e.message}` };
          throw e;
        }
      }),
    };
  });
}

/** A new run id: `r_` + time + randomness, sortable by start. */
export function newRunId(): string {
  return `r_${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

