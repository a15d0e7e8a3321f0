/**
 * A step leaves nothing behind on the host, however it ends: finished, timed
 * out, cancelled, its session or executor closed, the connection cut
 * mid-step, or the worker SIGKILLed mid-step. Each case counts the processes
 * Triage's SSH user has on the host (from /proc, by the fleet's
 * SSH_CONNECTION, so orphans reparented to init count too) and Triage's temp
 * files (anything in the sessions' private TMPDIR, where the old driver's
 * `mktemp -d` went) before and after, and prints both lines so they can be
 * quoted.
 *
 * The same cases run for the local executor (same driver over a local `sh`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Executor, HostSpec } from '../../src/executors/executor.ts';
import { LocalExecutor } from '../../src/executors/local.ts';
import { SshExecutor } from '../../src/executors/ssh.ts';
import { type Fleet, startFleet } from '../support/fleet.ts';
import { makeTempDir, removeTempDir } from '../support/processes.ts';
import { type Census, type CensusScope, census, settledCensus, summary, untilGone, untilRunning } from '../support/host-census.ts';
import { type CuttableProxy, cuttableProxy } from '../support/tcp-faults.ts';
import { rejection } from '../support/wait.ts';

const CHILD = join(import.meta.dirname, '../support/exec-child.ts');
let fleet: Fleet;
let proxy: CuttableProxy;
/** The SSH sessions' TMPDIR (sshd SetEnv): a driver that wrote temp files would leave them here. */
let sessionTmp: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  sessionTmp = await makeTempDir('triage-leftovers-tmp-');
  fleet = await startFleet({ hosts: 1, sessionEnv: { TMPDIR: sessionTmp } });
  proxy = await cuttableProxy(fleet.hosts[0]!);
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await proxy?.stop();
  await fleet?.stop();
  if (sessionTmp) await removeTempDir(sessionTmp);
});

function spec(over: Partial<HostSpec> = {}): HostSpec {
  const h = fleet.hosts[0]!;
  return {
    name: h.name,
    address: h.address,
    port: h.port,
    user: h.user,
    privateKey: readFileSync(fleet.keyFile),
    hostKey: fleet.hostKeyFingerprint,
    ...over,
  };
}
const viaProxy = (): HostSpec => spec({ address: proxy.address, port: proxy.port });

/** Runs `body` between two censuses of `scope`, logs both and expects the host to be as it was. */
async function leavesNothing(scope: CensusScope, label: string, body: () => Promise<void>): Promise<void> {
  const before = census(scope);
  await body();
  const after = await settledCensus(scope, before);
  console.log(`[leftovers] ${label}: before ${summary(before)}; after ${summary(after)}`);
  expect(describeCensus(after)).toEqual(describeCensus(before));
}
const describeCensus = (c: Census) => ({ processes: c.processes.map((p) => p.args).sort(), tempFiles: c.tempFiles });

/** A stand-in worker process running one command; resolves once it has started. */
function workerChild(host: Partial<HostSpec>, command: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const arg = JSON.stringify({ host, keyFile: host.address === 'local' ? undefined : fleet.keyFile, command, timeoutMs: 600_000 });
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, arg], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return child;
}
const exited = (c: ChildProcess) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

describe('over SSH, nothing is left on the host', () => {
  const scope = (): CensusScope => ({ sshPort: fleet.port, privateTmp: sessionTmp });

  it('when a step finishes (its background children end with it, no watchdog lingers)', async () => {
    const ssh = new SshExecutor();
    await ssh.exec(spec(), 'true'); // the session is open before and after
    await leavesNothing(scope(), 'ssh: step finished', async () => {
      const r = await ssh.exec(spec(), 'sleep 5101 & echo done', { timeoutMs: 61_000 });
      expect(r).toMatchObject({ exitCode: 0, stdout: 'done\n', timedOut: false });
    });
    await ssh.close();
  });

  it('when a step times out (its whole process group is killed)', async () => {
    const ssh = new SshExecutor();
    await ssh.exec(spec(), 'true');
    await leavesNothing(scope(), 'ssh: step timed out', async () => {
      const r = await ssh.exec(spec(), 'sleep 5102 & sleep 5103', { timeoutMs: 1000 });
      expect(r).toMatchObject({ exitCode: null, timedOut: true });
    });
    await ssh.close();
  });

  it('when a step is cancelled', async () => {
    const ssh = new SshExecutor();
    await ssh.exec(spec(), 'true');
    await leavesNothing(scope(), 'ssh: step cancelled', async () => {
      const ac = new AbortController();
      const p = ssh.exec(spec(), 'sleep 5104 & sleep 5105', { signal: ac.signal, timeoutMs: 62_000 });
      await untilRunning(scope(), 'sleep 5105');
      ac.abort();
      expect(await p).toMatchObject({ aborted: true, exitCode: null });
    });
    await ssh.close();
  });

  it('when the executor is closed after its steps (sessions and their shells end)', async () => {
    await leavesNothing(scope(), 'ssh: executor closed after a step', async () => {
      const ssh = new SshExecutor();
      await Promise.all([ssh.exec(spec(), 'echo a'), ssh.exec(spec(), 'echo b')]);
      await ssh.close();
    });
  });

  it('when the executor is closed while a step runs', async () => {
    await leavesNothing(scope(), 'ssh: executor closed mid-step', async () => {
      const ssh = new SshExecutor();
      const p = rejection(ssh.exec(spec(), 'sleep 5106', { timeoutMs: 63_000 }));
      await untilRunning(scope(), 'sleep 5106');
      await ssh.close();
      expect(await p).toMatchObject({ name: 'TriageError' });
    });
  });

  it('when the connection drops mid-step (the socket is cut)', async () => {
    await leavesNothing(scope(), 'ssh: connection cut mid-step', async () => {
      const ssh = new SshExecutor();
      const p = rejection(ssh.exec(viaProxy(), 'sleep 5107 & sleep 5108', { timeoutMs: 64_000 }));
      await untilRunning(scope(), 'sleep 5108');
      proxy.cut();
      expect(await p).toMatchObject({ code: 'SSH_CONNECT' });
      await ssh.close();
    });
  });

  it('when the client vanishes without closing TCP (a partition): the host ends the step by its own deadline', async () => {
    await leavesNothing(scope(), 'ssh: partition mid-step (1 s step)', async () => {
      const ssh = new SshExecutor({ keepaliveMs: 300 });
      const p = rejection(ssh.exec(viaProxy(), 'sleep 5111 & sleep 5112', { timeoutMs: 1000 }));
      await untilRunning(scope(), 'sleep 5112');
      proxy.freeze(); // the client's kill request never arrives, and sshd never hears the client go
      expect(await p).toMatchObject({ code: 'SSH_CONNECT' });
      await untilGone(scope(), 'sleep 511'); // host-side timeout(1), 2 s after the step's deadline
      proxy.cut(); // now the session's own shells may go too
      await ssh.close();
    });
  });

  it('when the worker is SIGKILLed during a long step', async () => {
    await leavesNothing(scope(), 'ssh: worker SIGKILLed mid-step (10 min step)', async () => {
      const h = spec();
      const child = workerChild({ name: h.name, address: h.address, port: h.port, user: h.user, hostKey: h.hostKey }, 'sleep 5109 & sleep 5110');
      await untilRunning(scope(), 'sleep 5110', 20_000);
      child.kill('SIGKILL');
      await exited(child);
    });
  });
});

describe('on the local machine, nothing is left behind', () => {
  const marker = `TRIAGE_CENSUS=${randomBytes(6).toString('hex')}`;
  const scope: CensusScope = { envMarker: marker };
  const local = { name: 'local', address: 'local' };
  let ex: Executor;
  const saved = { census: process.env.TRIAGE_CENSUS, tmp: process.env.TMPDIR };
  const restore = (name: 'TRIAGE_CENSUS' | 'TMPDIR', v: string | undefined) => {
    if (v === undefined) delete process.env[name];
    else process.env[name] = v;
  };
  beforeAll(async () => {
    scope.privateTmp = await makeTempDir('triage-leftovers-local-tmp-');
    // the local shells (and the stand-in worker) inherit both
    process.env.TRIAGE_CENSUS = marker.split('=')[1];
    process.env.TMPDIR = scope.privateTmp;
    ex = new LocalExecutor();
  });
  afterAll(async () => {
    await ex?.close();
    restore('TRIAGE_CENSUS', saved.census);
    restore('TMPDIR', saved.tmp);
    if (scope.privateTmp) await removeTempDir(scope.privateTmp);
  });

  it('when a step finishes, times out or is cancelled', async () => {
    await ex.exec(local, 'true');
    await leavesNothing(scope, 'local: step finished', async () => {
      expect((await ex.exec(local, 'sleep 5201 & echo done', { timeoutMs: 61_000 })).stdout).toBe('done\n');
    });
    await leavesNothing(scope, 'local: step timed out', async () => {
      expect(await ex.exec(local, 'sleep 5202 & sleep 5203', { timeoutMs: 1000 })).toMatchObject({ timedOut: true });
    });
    await leavesNothing(scope, 'local: step cancelled', async () => {
      const ac = new AbortController();
      const p = ex.exec(local, 'sleep 5204 & sleep 5205', { signal: ac.signal, timeoutMs: 62_000 });
      await untilRunning(scope, 'sleep 5205');
      ac.abort();
      expect(await p).toMatchObject({ aborted: true });
    });
  });

  it('when the executor is closed while a step runs', async () => {
    await leavesNothing(scope, 'local: executor closed mid-step', async () => {
      const other = new LocalExecutor();
      const p = rejection(other.exec(local, 'sleep 5206 & sleep 5207', { timeoutMs: 63_000 }));
      await untilRunning(scope, 'sleep 5207');
      await other.close();
      expect(await p).toMatchObject({ name: 'TriageError' });
    });
  });

  it('when the worker is SIGKILLed during a long step', async () => {
    await leavesNothing(scope, 'local: worker SIGKILLed mid-step (10 min step)', async () => {
      const child = workerChild(local, 'sleep 5208 & sleep 5209', { ...process.env });
      await untilRunning(scope, 'sleep 5209', 20_000);
      child.kill('SIGKILL');
      await exited(child);
    });
  });
});
