/**
 * Batching changes no result: the engine sends independent steps to the host
 * together (one round trip, results streamed back), and the diagnosis is
 * exactly what running them one by one gives — on every real 502 setup over
 * SSH, on built-in runbooks run with `address: local`, and on generated
 * runbooks whose steps read each other in random ways.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.ts';
import type { ExecOptions, ExecResult, Executor, HostSpec } from '../../src/executors/executor.ts';
import { createExecutor } from '../../src/executors/index.ts';
import { batchFrom, runRunbook } from '../../src/runbooks/engine.ts';
import { RunbookLibrary } from '../../src/runbooks/loader.ts';
import { prepareRun } from '../../src/runbooks/prepare.ts';
import type { RunResult, StepResult } from '../../src/runbooks/result.ts';
import { RunbookSchema, type Step } from '../../src/runbooks/schema.ts';
import { type Fleet, fleetConfigHosts, startFleet } from '../support/fleet.ts';
import { SCENARIOS_502, setup502 } from '../support/scenarios.ts';

let fleet: Fleet;
let executor: Executor;
const library = RunbookLibrary.load();

/**
 * Records what the host answered to every command of a batched run, so the
 * one-by-one run can be given exactly the same answers: a live app logs a
 * new line on each health request, and two live runs never see the same host.
 */
function recording(inner: Executor): Executor & { batches: number[]; answers: Map<string, ExecResult[]> } {
  const ex: Executor & { batches: number[]; answers: Map<string, ExecResult[]> } = {
    batches: [],
    answers: new Map(),
    exec: async (h, c, o) => {
      const r = await inner.exec(h, c, o);
      keep(h, c, r);
      return r;
    },
    execBatch: (h, cmds, o) => {
      ex.batches.push(cmds.length);
      return inner.execBatch!(h, cmds, {
        ...o,
        onResult: (i, r) => {
          keep(h, cmds[i]!.command, r);
          o.onResult(i, r);
        },
      });
    },
    close: () => inner.close(),
  };
  const keep = (h: HostSpec, c: string, r: ExecResult) => {
    const k = `${h.name}\u0000${c}`;
    ex.answers.set(k, [...(ex.answers.get(k) ?? []), r]);
  };
  return ex;
}

/** Answers each command, one at a time (no `execBatch`), with what the recorded run got; a command it never saw fails the test. */
function replaying(answers: Map<string, ExecResult[]>): Executor & { calls: number; unknown: string[] } {
  const left = new Map([...answers].map(([k, v]) => [k, [...v]]));
  const ex = {
    calls: 0,
    unknown: [] as string[],
    async exec(host: HostSpec, command: string, _opts?: ExecOptions): Promise<ExecResult> {
      ex.calls++;
      const r = left.get(`${host.name}\u0000${command}`)?.shift();
      if (!r) {
        ex.unknown.push(command.slice(0, 200));
        throw new Error('command not run by the batched run');
      }
      return r;
    },
    close: async () => {},
  };
  return ex;
}

/** A result without what differs between any two runs (ids, clocks, durations, process ids in output). */
function comparable(r: RunResult): unknown {
  const step = (s: StepResult) => ({ ...s, durationMs: 0 });
  return {
    status: r.status,
    cause: r.cause,
    summary: r.summary,
    findings: r.findings,
    hosts: r.hosts.map((h) => ({ ...h, steps: h.steps.map(step) })),
  };
}

beforeAll(async () => {
  fleet = await startFleet({ hosts: 1 });
  executor = createExecutor();
});
afterAll(async () => {
  await executor?.close();
  await fleet?.stop();
});

async function diagnoseBothWays(configPath: string, runbook: string, target: string) {
  const loaded = parseConfig(readFileSync(configPath, 'utf8'), configPath);
  const plan = prepareRun(loaded, library, { runbook, target });
  const run = (ex: Executor) => runRunbook({ runId: 'r_same', runbook: plan.runbook, target: plan.target, hosts: plan.hosts, params: plan.params, executor: ex });
  const rec = recording(executor);
  const batched = await run(rec);
  const replay = replaying(rec.answers);
  const sequential = await run(replay);
  expect(replay.unknown).toEqual([]);
  return { batched, sequential, batches: rec.batches, execs: replay.calls };
}

describe('the 502 runbook over SSH, batched and one by one', () => {
  for (const kind of SCENARIOS_502) {
    it(`${kind}: the same diagnosis from the same answers, in fewer round trips`, async () => {
      const s = await setup502(kind, { hosts: fleetConfigHosts(fleet) });
      try {
        const { batched, sequential, batches, execs } = await diagnoseBothWays(s.configPath, '502', 'shop');
        expect(comparable(batched)).toEqual(comparable(sequential));
        expect(batched.cause).toBe(kind === 'healthy' ? null : kind);
        // The one-by-one run sent exactly the commands the batched run did, one write each; batched took fewer writes.
        expect(batches.reduce((a, b) => a + b, 0)).toBe(execs);
        expect(batches.length).toBeLessThan(execs);
      } finally {
        await s.cleanup();
      }
    });
  }
});

describe('generated runbooks: steps that read each other, skip, fail and capture', () => {
  /** A small deterministic PRNG, so a failing seed can be replayed. */
  function rng(seed: number) {
    let x = seed;
    return (n: number) => {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      return x % n;
    };
  }

  function generate(seed: number) {
    const r = rng(seed);
    const n = 3 + r(6);
    const steps: Record<string, unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const earlier = i ? `s${r(i)}` : undefined;
      const step: Record<string, unknown> = { id: `s${i}`, title: `step ${i}`, run: `echo v=${r(5)}; echo e${i} >&2; exit ${r(3)}`, capture: { v: { regex: '^v=(\\d+)', type: 'number' } } };
      const kind = r(6);
      if (earlier && kind === 0) step.when = `${earlier}.v > 1`;
      if (earlier && kind === 1) step.run = `echo v=\${{ ${earlier}.v }}; exit 0`;
      if (earlier && kind === 2) step.when = `${earlier}.status == 'fail'`;
      if (kind === 3) step.when = 'params.never == true';
      if (kind === 4) step.status = { warn: `${step.id}.v == 2` };
      if (earlier && kind === 5) step.summary = `after ${earlier}: \${{ ${earlier}.v }}`;
      steps.push(step);
    }
    return RunbookSchema.parse({ name: `gen${seed}`, description: 'generated', params: [{ name: 'never', type: 'bool', default: false }], steps, findings: [{ code: 'odd', when: 's0.v == 3', title: 's0 is three', fix: 'none' }] });
  }

  it('30 seeds over SSH and locally: batched results equal one-by-one results', async () => {
    const hosts: HostSpec[] = [
      { name: 'web1', ...fleetConfigHosts(fleet).web1, privateKey: readFileSync(fleet.keyFile) } as HostSpec,
      { name: 'local', address: 'local' },
    ];
    let batchedSteps = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const runbook = generate(seed);
      const run = (ex: Executor) => runRunbook({ runId: 'r_gen', runbook, target: { name: 't' }, hosts, params: { never: false }, executor: ex });
      const rec = recording(executor);
      const batched = await run(rec);
      const replay = replaying(rec.answers);
      const sequential = await run(replay);
      expect(replay.unknown, `seed ${seed}`).toEqual([]);
      expect(comparable(batched), `seed ${seed}`).toEqual(comparable(sequential));
      batchedSteps += Math.max(0, ...rec.batches);
    }
    // Some seeds put several independent steps in one batch.
    expect(batchedSteps).toBeGreaterThan(1);
  });
});

describe('what may go together', () => {
  const steps = (list: Partial<Step>[]): Step[] => RunbookSchema.parse({ name: 'x', description: 'x', steps: list.map((s, i) => ({ id: `s${i}`, title: 't', run: 'true', ...s })) }).steps;

  it('a batch ends before a step that reads a batch member in when, run, args or env', () => {
    expect(batchFrom(steps([{}, {}, { when: 's1.ok' }, {}]), 0).map((s) => s.id)).toEqual(['s0', 's1']);
    const tpl = (e: string) => `\${{ ${e} }}`;
    expect(batchFrom(steps([{}, { run: `echo ${tpl('s0.output')}` }]), 0).map((s) => s.id)).toEqual(['s0']);
    expect(batchFrom(steps([{}, { run: undefined, probe: 'listener', args: [tpl('s0.port')] }]), 0).map((s) => s.id)).toEqual(['s0']);
  });

  it('reading steps before the batch, the target or params is fine; a step that changes the host goes alone', () => {
    const list = steps([{}, { when: 'target.port != null' }, { when: 's0.ok' }, {}]);
    expect(batchFrom(list, 1).map((s) => s.id)).toEqual(['s1', 's2', 's3']);
    expect(batchFrom(steps([{}, { changes: true }, {}]), 0).map((s) => s.id)).toEqual(['s0']);
    expect(batchFrom(steps([{ changes: true }, {}]), 0)).toEqual([]);
  });
});
