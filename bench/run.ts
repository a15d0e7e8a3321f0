/**
 * `npm run bench`: the figures that decide the design, measured on this
 * machine against a real sshd fleet on loopback and the real Redis. Prints
 * medians; asserts nothing. Bounded: fixed iteration counts, everything it
 * starts is stopped at the end.
 *
 * 1. One command on an open SSH connection: a fresh exec channel per command
 *    (with and without TCP_NODELAY) vs Triage's persistent shell session.
 * 2. Queue overhead per step: the same runbook through BullMQ + worker vs the
 *    engine called directly on the same hosts.
 * 3. A full `502` diagnosis of every broken setup, over SSH through the queue.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { Client } from 'ssh2';
import { parseConfig } from '../src/config.ts';
import { SshExecutor } from '../src/executors/ssh.ts';
import { RunQueue } from '../src/queue/producer.ts';
import { connectRedis } from '../src/queue/redis.ts';
import { startWorker } from '../src/queue/worker.ts';
import { runRunbook } from '../src/runbooks/engine.ts';
import { RunbookLibrary } from '../src/runbooks/loader.ts';
import { newRunId, prepareRun } from '../src/runbooks/prepare.ts';
import { RunbookSchema } from '../src/runbooks/schema.ts';
import { purgePrefix } from '../test/support/cli.ts';
import { fleetConfigHosts, startFleet } from '../test/support/fleet.ts';
import { SCENARIOS_502, setup502 } from '../test/support/scenarios.ts';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (n: number) => `${n.toFixed(1)} ms`;

const fleet = await startFleet({ hosts: 3 });
const out: string[] = [];
try {
  // 1. exec cost
  const key = readFileSync(fleet.keyFile);
  const h = fleet.hosts[0]!;
  for (const noDelay of [false, true]) {
    const sock = await new Promise<import('node:net').Socket>((resolve) => {
      const s = connect(h.port, h.address, () => resolve(s));
    });
    sock.setNoDelay(noDelay);
    const c = new Client();
    await new Promise<void>((resolve, reject) => {
      c.once('ready', () => resolve());
      c.once('error', reject);
      c.connect({ sock, username: h.user, privateKey: key, hostVerifier: () => true });
    });
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t = performance.now();
      await new Promise<void>((resolve, reject) =>
        c.exec('true', (err, ch) => {
          if (err) return reject(err);
          ch.on('close', () => resolve());
          ch.resume();
          ch.stderr.resume();
        }),
      );
      times.push(performance.now() - t);
    }
    c.end();
    out.push(`exec channel per command, TCP_NODELAY ${noDelay ? 'on ' : 'off'}: ${ms(median(times))} median (30 runs)`);
  }
  const ssh = new SshExecutor();
  const spec = { name: h.name, address: h.address, port: h.port, user: h.user, privateKey: key, hostKey: fleet.hostKeyFingerprint };
  await ssh.exec(spec, 'true');
  const shellTimes: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t = performance.now();
    await ssh.exec(spec, 'true');
    shellTimes.push(performance.now() - t);
  }
  out.push(`Triage persistent shell session (TCP_NODELAY on):   ${ms(median(shellTimes))} median (30 runs)`);

  // 2. queue overhead per step
  const STEPS = 10;
  const text = JSON.stringify({ hosts: fleetConfigHosts(fleet), targets: { fleet: { hosts: ['web1', 'web2', 'web3'] } } });
  const loaded = parseConfig(text, '/bench/triage.yaml');
  const runbook = RunbookSchema.parse({ name: 'ten', description: 'ten cheap steps', steps: Array.from({ length: STEPS }, (_, i) => ({ id: `s${i}`, title: `step ${i}`, run: 'echo ok' })) });
  const library = RunbookLibrary.load();
  library.add({ runbook, file: 'bench', builtin: false });
  const plan = prepareRun(loaded, library, { runbook: 'ten', target: 'fleet' });
  await runRunbook({ runId: newRunId(), runbook, target: plan.target, hosts: plan.hosts, params: {}, executor: ssh });
  const direct: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await runRunbook({ runId: newRunId(), runbook, target: plan.target, hosts: plan.hosts, params: {}, executor: ssh });
    direct.push(performance.now() - t);
  }
  const redis = await connectRedis({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', allowPrivate: true });
  const prefix = `bench-${Date.now().toString(36)}`;
  const queue = new RunQueue({ redis, prefix });
  const worker = await startWorker({ redis, prefix, config: loaded, library, executor: ssh });
  await queue.wait((await queue.submit(plan, { requestedBy: 'bench' })).runId, { timeoutMs: 30_000 });
  const queued: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await queue.wait((await queue.submit(plan, { requestedBy: 'bench' })).runId, { timeoutMs: 30_000 });
    queued.push(performance.now() - t);
  }
  const overhead = queued.map((q, i) => (q - direct[i]!) / STEPS);
  out.push(`runbook of ${STEPS} steps on 3 SSH hosts: engine direct ${ms(median(direct))}, through the queue ${ms(median(queued))} (medians of 10)`);
  out.push(`queue overhead per step: ${ms(median(overhead))} median`);

  // 3. one real 502 diagnosis per cause, over SSH through the queue (median of 3 each)
  out.push('502 diagnosis over SSH through the queue (8 steps, 1 host), median of 3:');
  for (const kind of SCENARIOS_502) {
    const times: number[] = [];
    let cause: string | null = null;
    for (let i = 0; i < 3; i++) {
      const s = await setup502(kind, { hosts: fleetConfigHosts(fleet), hostNames: ['web1'] });
      const p2 = `${prefix}-${kind}-${i}`;
      const l = parseConfig(readFileSync(s.configPath, 'utf8'), s.configPath);
      const w = await startWorker({ redis, prefix: p2, config: l, library, executor: ssh });
      const q = new RunQueue({ redis, prefix: p2 });
      const p = prepareRun(l, library, { runbook: '502', target: 'shop' });
      const t = performance.now();
      const final = await q.wait((await q.submit(p, { requestedBy: 'bench' })).runId, { timeoutMs: 60_000 });
      times.push(performance.now() - t);
      cause = final.result.cause;
      await w.close(2000);
      await q.close();
      await purgePrefix(p2);
      await s.cleanup();
    }
    const want = kind === 'healthy' ? null : kind;
    out.push(`  ${kind.padEnd(22)} → ${String(cause).padEnd(22)} ${ms(median(times))}${cause === want ? '' : '   ! UNEXPECTED'}`);
  }

  await worker.close(2000);
  await queue.close();
  await purgePrefix(prefix);
  await redis.stop();
  await ssh.close();
} finally {
  await fleet.stop();
}
console.log(out.join('\n'));
process.exit(0);
