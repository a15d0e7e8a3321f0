/**
 * `npx tsx bench/soak.ts`: does Triage's footprint stay flat over many runs?
 *
 * 2,000 runs (SOAK_RUNS) of a fast two-step runbook on two `address: local`
 * hosts go through the real queue. By default (SOAK_PATH=chat) they go the
 * bot's way: each is a `/diagnose quick app` typed into the chat core
 * (access check, audit entry, run card followed live to its final edit) with
 * a console transport that keeps nothing; SOAK_PATH=queue submits and
 * follows them directly (RunQueue.submit + wait, as the CLI does). A separate
 * `triage worker` process runs them. Redis is a private redis-server started here, so its figures are
 * ours alone. Every 200 runs it samples Redis `INFO memory` used_memory, the
 * key count, the worker's RSS (/proc/PID/status) and this process's RSS,
 * then prints the slope after warm-up (least squares over the samples past
 * SOAK_WARMUP runs), and writes bench/soak.md.
 *
 * Retention is set small (`runs.maxCount` 300, completed jobs 100, audit
 * 500, swept every 2 s) so the plateau comes within the soak; with the
 * defaults (5,000 runs, 30 days) it comes later and higher, the same way.
 *
 * Bounded: a fixed number of runs, each with a timeout; the worker and
 * redis-server are stopped by PID and the temp dirs removed, whatever happens.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { randomUUID } from 'node:crypto';
import type { ChatMessage, ChatTransport, MessageRef } from '../src/bot/adapter.ts';
import { AuditLog } from '../src/bot/audit.ts';
import { ChatCore } from '../src/bot/core.ts';
import { readCard } from '../src/bot/run-card.ts';
import { parseConfig } from '../src/config.ts';
import { freePort } from '../src/net.ts';
import { RunQueue } from '../src/queue/producer.ts';
import { connectRedis } from '../src/queue/redis.ts';
import { RunbookLibrary } from '../src/runbooks/loader.ts';
import { prepareRun } from '../src/runbooks/prepare.ts';

const RUNS = Number(process.env.SOAK_RUNS ?? 2000);
const EVERY = Number(process.env.SOAK_EVERY ?? 200);
const WARMUP = Number(process.env.SOAK_WARMUP ?? 600);
const IN_FLIGHT = 8;
const PATH = process.env.SOAK_PATH === 'queue' ? 'queue' : 'chat';
const BIN = join(import.meta.dirname, '../bin/triage.js');
const OUT = join(import.meta.dirname, 'soak.md');

interface Sample {
  runs: number;
  seconds: number;
  usedMemory: number;
  keys: number;
  /** Chat dedupe keys (`P:seen:*` kept 24 h, `P:idem:*` kept 1 h): bounded by time, not count. */
  dedupeKeys: number;
  runsKept: number;
  workerRss: number;
  /** This process: the chat core (bot) or the producer, with the RunQueue. */
  producerRss: number;
}

const started: { kill(): Promise<void> }[] = [];
const dirs: string[] = [];

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'triage-soak-'));
  dirs.push(dir);
  const port = await freePort();
  const redisProc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], { stdio: 'ignore' });
  started.push(stopper(redisProc));
  const url = `redis://127.0.0.1:${port}`;
  await until(async () => (await ping(url)) === 'PONG', 10_000, 'redis-server did not start');

  const runbookDir = join(dir, 'runbooks');
  mkdirSync(runbookDir);
  writeFileSync(
    join(runbookDir, 'quick.yaml'),
    stringify({
      name: 'quick',
      description: 'two fast read-only steps',
      steps: [
        { id: 'uptime', title: 'uptime', run: 'cat /proc/uptime' },
        { id: 'listen', title: 'listening sockets', run: 'echo "LISTEN 0 128 127.0.0.1:8000"' },
      ],
    }),
  );
  const config = {
    redis: url,
    hosts: { h1: { address: 'local' }, h2: { address: 'local' } },
    targets: { app: { hosts: ['h1', 'h2'] } },
    retention: { runs: { maxCount: 300 }, jobs: { completed: { maxCount: 100 }, failed: { maxCount: 100 } }, audit: { maxCount: 500 }, every: '2s' },
  };
  const configPath = join(dir, 'triage.yaml');
  writeFileSync(configPath, stringify(config));
  const loaded = parseConfig(readFileSync(configPath, 'utf8'), configPath);
  const library = RunbookLibrary.load({ dirs: [runbookDir] });
  const prefix = 'soak';

  const worker = spawn(process.execPath, [BIN, 'worker', '--config', configPath, '--runbooks', runbookDir, '--concurrency', '8', '--per-host', '8', '--grace', '2s'], {
    env: { ...process.env, TRIAGE_PREFIX: prefix, TRIAGE_CONFIG: '', REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.unshift(stopper(worker));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    worker.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('serving')) resolve();
    });
    worker.once('exit', (code) => reject(new Error(`worker exited (${code})`)));
  });

  const redis = await connectRedis({ url });
  const queue = new RunQueue({ redis, prefix, retention: loaded.config.retention });
  const conn = new Redis(url);
  const audit = new AuditLog(conn, prefix);
  const plan = prepareRun(loaded, library, { runbook: 'quick', target: 'app' });

  const samples: Sample[] = [];
  const t0 = Date.now();
  let done = 0;
  let failed = 0;
  const sample = async () => {
    const info = String(await conn.info('memory'));
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1]);
    const s: Sample = {
      runs: done,
      seconds: (Date.now() - t0) / 1000,
      usedMemory: used,
      keys: await conn.dbsize(),
      dedupeKeys: (await countKeys(conn, `${prefix}:seen:*`)) + (await countKeys(conn, `${prefix}:idem:*`)),
      runsKept: await conn.zcard(`${prefix}:runs`),
      workerRss: rssOf(worker.pid!),
      producerRss: process.memoryUsage().rss,
    };
    samples.push(s);
    console.log(
      `${String(s.runs).padStart(5)} runs  ${s.seconds.toFixed(0).padStart(4)} s  redis used_memory ${mb(s.usedMemory)}  keys ${String(s.keys).padStart(5)} (dedupe ${String(s.dedupeKeys).padStart(5)})  runs kept ${String(s.runsKept).padStart(4)}  worker RSS ${mb(s.workerRss)}  bot RSS ${mb(s.producerRss)}`,
    );
  };
  await sample();
  let next = 0;
  const viaQueue = async () => {
    while (next < RUNS) {
      next++;
      const { runId } = await queue.submit(plan, { requestedBy: 'console:soak' });
      const final = await queue.wait(runId, { timeoutMs: 60_000 });
      if (final.state !== 'done') failed++;
      await audit.record({ platform: 'console', user: 'console:soak', room: 'console:local', text: '/diagnose quick app', outcome: 'ok', runId });
      done++;
      if (done % EVERY === 0) await sample();
    }
  };
  // The bot's way: the chat core behind a console transport that keeps nothing but the cards not final yet.
  const transport = new DiscardTransport();
  const core = new ChatCore({
    queue,
    loaded,
    library,
    audit,
    redis: conn,
    prefix,
    pacing: { console: { minIntervalMs: 0 } },
    liveCard: { endGraceMs: 5000, reconnectDelayMs: 100 },
    log: (line) => process.env.SOAK_DEBUG && console.error(`core: ${line}`),
  });
  core.attach(transport);
  const viaChat = async () => {
    while (next < RUNS) {
      next++;
      const final = transport.nextFinal(60_000);
      await core.handle({ platform: 'console', user: 'console:soak', room: 'console:local', text: '/diagnose quick app', via: 'text', deliveryId: randomUUID() });
      const card = await final;
      if (!/done|healthy/i.test(card)) failed++;
      done++;
      if (done % EVERY === 0) await sample();
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, PATH === 'chat' ? viaChat : viaQueue));
  const seconds = (Date.now() - t0) / 1000;

  if (process.env.SOAK_DEBUG) {
    const kinds = new Map<string, number>();
    let cursor = '0';
    do {
      const [nextCursor, keys] = await conn.scan(cursor, 'COUNT', 1000);
      cursor = nextCursor;
      for (const k of keys) {
        const kind = k.replace(/r_[a-z0-9]+/g, 'RUN').replace(/[0-9a-f-]{36}/g, 'UUID').replace(/:\d+/g, ':N');
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
      }
    } while (cursor !== '0');
    console.error([...kinds].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, n]) => `${n} ${k}`).join('\n'));
  }
  await core.close(5000);
  await queue.close();
  conn.disconnect();
  await redis.stop();

  const after = samples.filter((s) => s.runs >= WARMUP);
  const slope = (pick: (s: Sample) => number) => leastSquares(after.map((s) => [s.runs, pick(s)]));
  const slopes = {
    usedMemory: slope((s) => s.usedMemory),
    workerRss: slope((s) => s.workerRss),
    producerRss: slope((s) => s.producerRss),
    keys: slope((s) => s.keys - s.dedupeKeys),
  };
  const perK = (b: number) => `${b >= 0 ? '+' : ''}${(b * 1000 / 1024).toFixed(1)} KiB per 1,000 runs`;
  console.log(`\n${done} runs in ${seconds.toFixed(0)} s (${(done / seconds).toFixed(1)} runs/s), ${failed} not done`);
  console.log(`slope after ${WARMUP} runs: redis used_memory ${perK(slopes.usedMemory)}, worker RSS ${perK(slopes.workerRss)}, bot RSS ${perK(slopes.producerRss)}, keys other than chat dedupe ${(slopes.keys * 1000).toFixed(1)} per 1,000 runs`);

  const rows = samples.map((s) => `| ${s.runs} | ${s.seconds.toFixed(0)} | ${mb(s.usedMemory)} | ${s.keys} | ${s.dedupeKeys} | ${s.runsKept} | ${mb(s.workerRss)} | ${mb(s.producerRss)} |`);
  const md = [
    '# Soak: 2,000 runs, memory after warm-up',
    '',
    `Written by \`npx tsx bench/soak.ts\` on ${new Date().toISOString().slice(0, 10)} (${cpus().length} cores, Node ${process.version}). ${done} runs of a two-step runbook on two \`address: local\` hosts through the real queue, ${
      PATH === 'chat'
        ? 'the bot\'s way: each one is `/diagnose quick app` typed into the chat core (access check, audit entry, run card followed live to its final edit) over a console transport that keeps nothing, so "bot RSS" is this process: chat core, RunQueue and live cards'
        : 'submitted and followed the way the CLI does (RunQueue.submit + wait, plus an audit entry per run), so "bot RSS" is this producer process'
    }; a separate \`triage worker\` process (concurrency 8) runs them; ${IN_FLIGHT} runs in flight at a time. Redis is a private redis-server started for the soak, so its figures are the soak's alone. Retention: \`runs.maxCount 300\`, completed/failed jobs 100, audit 500, swept every 2 s (the defaults keep 5,000 runs for 30 days: the same plateau, later and higher).`,
    '',
    `${done} runs in ${seconds.toFixed(0)} s (${(done / seconds).toFixed(1)} runs/s); ${failed} did not end \`done\`.`,
    '',
    '| runs | s | Redis used_memory | keys | of which chat dedupe | runs kept | worker RSS | bot RSS |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    `Slope after warm-up (least squares over the samples from ${WARMUP} runs on): Redis used_memory ${perK(slopes.usedMemory)}; worker RSS ${perK(slopes.workerRss)}; bot RSS ${perK(slopes.producerRss)}; keys other than chat dedupe ${(slopes.keys * 1000).toFixed(1)} per 1,000 runs.`,
    '',
    'Before warm-up Redis grows while the run store fills up to `retention.runs.maxCount`; after it, each sweep removes as many finished runs (record, steps, events) as were added, BullMQ drops finished jobs past `retention.jobs`, and the audit stream and BullMQ\'s event streams are trimmed to their caps. The one thing still growing in a soak this fast is the chat\'s delivery dedupe: two small keys per command (`P:seen:*`, kept 24 h against platform redeliveries, and `P:idem:*`, kept 1 h), bounded by time rather than count — at a real chat\'s rate that is a few hundred keys; at this soak\'s rate it is the slow climb of used_memory.',
    '',
    'RSS of Node processes moves in a sawtooth (the heap grows until a major GC), so read the slope, not two neighbouring samples.',
    '',
  ].join('\n');
  writeFileSync(OUT, md);
  console.log(`\nwrote ${OUT}`);
}

/**
 * A console chat that keeps nothing: it remembers a card only until its final
 * edit, and hands each final card to whoever waits next (runs end in any order).
 */
class DiscardTransport implements ChatTransport {
  readonly platform = 'console' as const;
  readonly maxTextLength = 8000;
  private seq = 0;
  private readonly waiting: { resolve: (text: string) => void; timer: NodeJS.Timeout }[] = [];
  private readonly finished: string[] = [];

  async post(room: string, msg: ChatMessage, opts: { thread?: string } = {}): Promise<MessageRef> {
    const ref: MessageRef = { room, id: String(++this.seq), ...(opts.thread ? { thread: opts.thread } : {}) };
    this.see(msg);
    return ref;
  }

  async edit(_ref: MessageRef, msg: ChatMessage): Promise<void> {
    this.see(msg);
  }

  async upload(): Promise<void> {}

  /** The next final card's last line (waits up to `ms`). */
  nextFinal(ms: number): Promise<string> {
    const ready = this.finished.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve) => {
      // Counted as not done (and the soak goes on) rather than ending it.
      const timer = setTimeout(() => {
        const i = this.waiting.findIndex((w) => w.timer === timer);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(`no final card within ${ms} ms`);
      }, ms);
      this.waiting.push({ resolve, timer });
    });
  }

  private see(msg: ChatMessage): void {
    const card = readCard(msg);
    if (!card && process.env.SOAK_DEBUG) console.error(`chat: ${msg.title ?? ''} ${msg.lines.join(' / ').slice(0, 300)}`);
    if (!card?.final) return;
    const line = msg.lines.at(-1) ?? '';
    const w = this.waiting.shift();
    if (!w) {
      this.finished.push(line);
      return;
    }
    clearTimeout(w.timer);
    w.resolve(line);
  }
}

async function countKeys(r: Redis, match: string): Promise<number> {
  let n = 0;
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    n += keys.length;
  } while (cursor !== '0');
  return n;
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Slope of y over x (least squares); 0 for fewer than two points. */
function leastSquares(points: [number, number][]): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den ? num / den : 0;
}

const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1).padStart(6)} MiB`;

async function ping(url: string): Promise<string> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return await r.ping();
  } catch {
    return '';
  } finally {
    r.disconnect();
  }
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops a child by its PID: SIGTERM, then SIGKILL after 5 s. */
function stopper(c: ChildProcess): { kill(): Promise<void> } {
  return {
    async kill() {
      if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
      const exited = new Promise((r) => c.once('exit', r));
      process.kill(c.pid, 'SIGTERM');
      const t = setTimeout(() => c.pid !== undefined && c.exitCode === null && process.kill(c.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

// Interrupted: still stop what was started (by PID) and remove the temp dirs.
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void Promise.all(started.map((s) => s.kill().catch(() => {}))).finally(() => {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

try {
  await main();
} finally {
  for (const s of started) await s.kill().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.exit(0);
