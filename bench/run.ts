/**
 * `npm run bench`: how fast Triage diagnoses many hosts, side by side with
 * the tools people would otherwise use, in one run on this machine. Builds a
 * loopback fleet (real sshd's on 127.0.0.x, keys generated here), runs each
 * case several times, prints medians and min–max with every figure against
 * its target, and writes BENCHMARKS.md. Asserts nothing; bounded (fixed run
 * counts, every command has a timeout, everything started is stopped).
 *
 * The machine is shared and noisy, so read the ratios (same run, cases
 * interleaved) rather than the absolute times.
 *
 * Cases: fan-out of a 6-command read-only diagnosis to 20 and 100 hosts —
 * `triage run` end to end, the chat path (slash command into the Slack
 * stand-in → final card edit), a minimal raw-ssh2 script, `ansible -m raw`
 * and `-m shell`, `parallel-ssh`; the same on 20 hosts whose login shell's
 * rc file sleeps 0.1 s (a user created for it and removed after); queue
 * overhead per step, throughput with 1 and 2 workers, chat latency, RSS,
 * the `health` runbook, `triage --help` and `triage lint`.
 *
 * BENCH_RUNS=2 runs every case at most twice (a quick look).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config.ts';
import type { Executor } from '../src/executors/executor.ts';
import { createExecutor } from '../src/executors/index.ts';
import { RunQueue } from '../src/queue/producer.ts';
import { connectRedis } from '../src/queue/redis.ts';
import { RunStore } from '../src/queue/store.ts';
import { startWorker } from '../src/queue/worker.ts';
import { runRunbook } from '../src/runbooks/engine.ts';
import { RunbookLibrary } from '../src/runbooks/loader.ts';
import { newRunId, prepareRun } from '../src/runbooks/prepare.ts';
import { purgePrefix } from '../test/support/cli.ts';
import { FakeSlack } from '../test/support/fake-slack.ts';
import { type Fleet, startFleet } from '../test/support/fleet.ts';
import { freePort, tcpProbe } from '../test/support/processes.ts';
import { setup502 } from '../test/support/scenarios.ts';

const started = Date.now();
const ROOT = join(import.meta.dirname, '..');
// `npm run bench` builds dist/ first; every triage process below runs it even if someone edits src/ meanwhile.
const FROM_DIST = readStamp() !== undefined;
if (FROM_DIST) process.env.TRIAGE_FROM_DIST = '1';
function readStamp(): string | undefined {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'dist/build-stamp.json'), 'utf8')).builtAt;
  } catch {
    return undefined;
  }
}
const BIN = join(ROOT, 'bin/triage.js');
const MAX_RUNS = process.env.BENCH_RUNS ? Math.max(1, Number(process.env.BENCH_RUNS)) : Number.POSITIVE_INFINITY;
/** Past this many seconds, cases run once more at most (the bench must end within 10 minutes on a clean clone). */
const BUDGET_S = Number(process.env.BENCH_BUDGET_S ?? 480);
const runsOf = (n: number) => Math.min(n, MAX_RUNS);
/** Whether repetition `i` (0-based) of a case still fits the budget: the first always runs. */
const fits = (i: number) => i === 0 || (Date.now() - started) / 1000 < BUDGET_S;
const SLOW_USER = 'triagebench';
/** A login user whose rc file burns ~0.1 s of CPU, as `pyenv init` or `nvm` do (the issue's 7.6 s ssh2 figure). */
const BUSY_USER = 'triagebusy';
/**
 * The fan-out fleet's login user: a plain bash account (Debian's skeleton ~/.bashrc returns at
 * once for commands sshd runs). This machine's root sources pyenv in ~/.bashrc, which costs every
 * exec of the ssh2 reference ~90 ms of CPU and made one 100-host round take minutes.
 */
const FAST_USER = 'triagefast';
/** The diagnosis every tool runs: six read-only commands. */
const COMMANDS = ['uname -srm', 'cat /proc/loadavg', 'df -P /', 'head -n 3 /proc/meminfo', 'id -u', 'cat /proc/uptime'];
const JOINED = COMMANDS.join('; ');

// ------------------------------------------------------------------ figures

interface Stats {
  median: number;
  min: number;
  max: number;
  n: number;
}
const stats = (xs: number[]): Stats => {
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const fmtMs = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n.toFixed(n < 10 ? 2 : 0)} ms`);
const fmtStats = (s: Stats, f = fmtMs) => `${f(s.median)} (${f(s.min)}–${f(s.max)}, n=${s.n})`;

const rows: string[] = [];
const targets: { what: string; value: string; target: string; met: boolean }[] = [];
function row(line: string): void {
  rows.push(line);
  console.log(line);
}
function target(what: string, value: string, targetText: string, met: boolean): void {
  targets.push({ what, value, target: targetText, met });
  console.log(`  → ${what}: ${value} (target ${targetText}) ${met ? 'MET' : 'MISSED'}`);
}

// ------------------------------------------------------------------ processes

interface Timed {
  ms: number;
  rssKB: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end under /usr/bin/time (for its peak RSS), bounded by `timeoutMs`. */
function timed(cmd: string, args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Timed> {
  const rssFile = join(tmpdir(), `triage-bench-rss-${randomUUID()}`);
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, cmd, ...args], { env: { ...process.env, ...o.env }, cwd: o.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 180_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const ms = performance.now() - t0;
      let rssKB = 0;
      try {
        rssKB = Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1));
        rmSync(rssFile, { force: true });
      } catch {
        // killed before time wrote it
      }
      resolve({ ms, rssKB, code, stdout, stderr });
    });
  });
}

/** Peak and current RSS of a live process, from /proc. */
function rssOf(pid: number): { peakKB: number; nowKB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0);
  return { peakKB: kb('VmHWM'), nowKB: kb('VmRSS') };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 5): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function stopChild(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve();
    const t = setTimeout(() => c.kill('SIGKILL'), 8000);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    c.kill('SIGTERM');
  });
}

function version(cmd: string, args: string[]): string {
  // `ssh -V` answers on stderr.
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (r.stdout || r.stderr || 'not found').split('\n')[0]!.trim();
}

// ------------------------------------------------------------------ setup

const load0 = loadavg();
const dir = join(tmpdir(), `triage-bench-${process.pid}`);
mkdirSync(dir, { recursive: true });
const runbookDir = join(dir, 'runbooks');
mkdirSync(runbookDir);
writeFileSync(
  join(runbookDir, 'diag6.yaml'),
  stringify({
    name: 'diag6',
    description: 'six read-only commands (the fan-out benchmark)',
    steps: COMMANDS.map((run, i) => ({ id: `c${i + 1}`, title: run, run, timeout: '20s' })),
  }),
);
writeFileSync(
  join(runbookDir, 'ten.yaml'),
  stringify({ name: 'ten', description: 'ten cheap steps', steps: Array.from({ length: 10 }, (_, i) => ({ id: `s${i}`, title: `step ${i}`, run: 'echo ok' })) }),
);

const isRoot = userInfo().uid === 0;
const usersMade: string[] = [];
/** Creates a login user for the bench (removed at the end); `rc` becomes its ~/.bashrc and ~/.profile. */
function makeUser(name: string, rc?: string): boolean {
  try {
    execFileSync('id', [name], { stdio: 'ignore' });
    return true; // left by an interrupted run: reused
  } catch {
    try {
      execFileSync('useradd', ['-m', '-s', '/bin/bash', name]);
    } catch {
      return false;
    }
    usersMade.push(name);
    // useradd leaves the password locked ('!'), and sshd without PAM refuses locked accounts even for keys.
    execFileSync('usermod', ['-p', '*', name]);
    // bash sources ~/.bashrc for commands sshd runs; ~/.profile for login shells.
    if (rc !== undefined) for (const f of ['.bashrc', '.profile']) writeFileSync(`/home/${name}/${f}`, rc);
    return true;
  }
}
const fastUser = isRoot && makeUser(FAST_USER) ? FAST_USER : undefined;
const slowUser = isRoot && makeUser(SLOW_USER, 'sleep 0.1\n') ? SLOW_USER : undefined;
const busyUser = isRoot && makeUser(BUSY_USER, 'i=0; while [ $i -lt 25000 ]; do i=$((i+1)); done\n') ? BUSY_USER : undefined;
let chat: Awaited<ReturnType<typeof startChat>> | undefined;
const extraChildren: ChildProcess[] = [];
let fleet: Fleet | undefined;
let slowFleet: Fleet | undefined;
let busyFleet: Fleet | undefined;
let cleaned = false;
async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  if (chat) await chat.stop().catch(() => {});
  for (const c of extraChildren) await stopChild(c);
  for (const p of prefixes) await purgePrefix(p, redisUrl).catch(() => {});
  await fleet?.stop();
  await slowFleet?.stop();
  await busyFleet?.stop();
  for (const u of usersMade) {
    try {
      execFileSync('userdel', ['-r', u], { stdio: 'ignore' });
    } catch {
      // still has processes: the next run reuses the user
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`bench: ${sig}, cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

fleet = await startFleet({ hosts: 100, ...(fastUser ? { user: fastUser } : {}) });
slowFleet = slowUser ? await startFleet({ hosts: 20, user: slowUser }) : undefined;
busyFleet = busyUser ? await startFleet({ hosts: 20, user: busyUser }) : undefined;
// sshd reads AuthorizedKeysFile as the logging-in user: let other users through the (root, 0700) fleet dirs.
for (const f of [fleet, slowFleet, busyFleet]) if (f && (fastUser || slowUser || busyUser)) chmodSync(f.dir, 0o711);
const fleetHosts = (f: Fleet, prefix: string) =>
  Object.fromEntries(f.hosts.map((h, i) => [`${prefix}${i + 1}`, { address: h.address, port: h.port, user: h.user, privateKey: f.keyFile, hostKey: f.hostKeyFingerprint }]));
const hostsSection = {
  ...fleetHosts(fleet!, 'web'),
  ...(slowFleet ? fleetHosts(slowFleet, 'slow') : {}),
  ...(busyFleet ? fleetHosts(busyFleet, 'busy') : {}),
  here: { address: 'local' },
};
const names = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i + 1}`);
const configObj = {
  hosts: hostsSection,
  targets: {
    f20: { hosts: names('web', 20) },
    f100: { hosts: names('web', 100) },
    f3: { hosts: names('web', 3) },
    f12: { hosts: names('web', 12) },
    ...(slowFleet ? { slow20: { hosts: names('slow', 20) } } : {}),
    ...(busyFleet ? { busy20: { hosts: names('busy', 20) } } : {}),
  },
};
const configPath = join(dir, 'triage.yaml');
writeFileSync(configPath, stringify(configObj));
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefixes: string[] = [];
const newPrefix = () => {
  const p = `bench-${randomUUID().slice(0, 8)}`;
  prefixes.push(p);
  return p;
};

/** Inventory / host files for the other tools. */
function toolFiles(f: Fleet, n: number, tag: string) {
  const hosts = f.hosts.slice(0, n);
  const inv = join(dir, `inventory-${tag}.ini`);
  writeFileSync(
    inv,
    `[fleet]\n${hosts.map((h, i) => `h${i + 1} ansible_host=${h.address} ansible_port=${h.port}`).join('\n')}\n[fleet:vars]\nansible_user=${hosts[0]!.user}\nansible_ssh_private_key_file=${f.keyFile}\nansible_python_interpreter=/usr/bin/python3\n`,
  );
  const pssh = join(dir, `pssh-${tag}.txt`);
  writeFileSync(pssh, `${hosts.map((h) => `${h.user}@${h.address}:${h.port}`).join('\n')}\n`);
  const ref = join(dir, `ssh2-${tag}.json`);
  writeFileSync(ref, JSON.stringify({ key: f.keyFile, hosts: hosts.map((h) => ({ address: h.address, port: h.port, user: h.user })), commands: COMMANDS }));
  return { inv, pssh, ref, n };
}
const ansibleEnv = {
  ANSIBLE_HOST_KEY_CHECKING: 'False',
  // Cold like every other case: no ControlPersist master left over from the previous run.
  ANSIBLE_SSH_ARGS: '-o ControlMaster=no -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no',
  ANSIBLE_LOCAL_TEMP: join(dir, 'ansible-tmp'),
  ANSIBLE_CONFIG: join(dir, 'no-ansible.cfg'),
  ANSIBLE_DEPRECATION_WARNINGS: 'False',
};
writeFileSync(join(dir, 'no-ansible.cfg'), '[defaults]\n');

// ------------------------------------------------------------------ cases

type Case = { name: string; run: () => Promise<Timed & { durationMs?: number }> };

function triageCase(targetName: string): Case {
  return {
    name: 'triage run (CLI)',
    run: async () => {
      const prefix = newPrefix();
      const r = await timed(process.execPath, [BIN, 'run', 'diag6', targetName, '--config', configPath, '--runbooks', runbookDir, '--json'], { env: { TRIAGE_PREFIX: prefix, TRIAGE_CONFIG: '' } });
      await purgePrefix(prefix, redisUrl).catch(() => {});
      let durationMs: number | undefined;
      try {
        const j = JSON.parse(r.stdout);
        durationMs = j.durationMs;
        const bad = j.hosts.flatMap((h: { steps: { status: string }[] }) => h.steps).filter((s: { status: string }) => s.status !== 'pass').length;
        if (bad || r.code !== 0) r.code = r.code || 99;
      } catch {
        r.code = r.code || 98;
      }
      return { ...r, durationMs };
    },
  };
}
const ssh2Case = (ref: string): Case => ({ name: 'raw ssh2 reference', run: () => timed(process.execPath, [join(ROOT, 'bench/ssh2-reference.mjs'), ref]) });
const ansibleCase = (inv: string, module: 'raw' | 'shell', forks: number): Case => ({
  name: `ansible -m ${module}`,
  run: () => timed('ansible', ['fleet', '-i', inv, '-m', module, '-a', JOINED, '-f', String(forks), '-o'], { env: ansibleEnv, cwd: dir, timeoutMs: 300_000 }),
});
const psshCase = (file: string, key: string, n: number): Case => ({
  name: 'parallel-ssh',
  run: () =>
    timed('parallel-ssh', ['-h', file, '-p', String(n), '-t', '120', '-O', 'StrictHostKeyChecking=no', '-O', 'UserKnownHostsFile=/dev/null', '-O', `IdentityFile=${key}`, '-O', 'ControlMaster=no', JOINED], { cwd: dir }),
});

/** The chat path: a real `triage bot` process on the Slack stand-in, one slash command per run. */
async function startChat() {
  const slack = await FakeSlack.start();
  const port = await freePort();
  const prefix = newPrefix();
  const botConfig = join(dir, 'bot.yaml');
  writeFileSync(
    botConfig,
    stringify({
      ...configObj,
      chat: { slack: { botToken: 'env:BENCH_SLACK_BOT', signingSecret: 'env:BENCH_SLACK_SIGNING', port, apiUrl: slack.apiUrl, allowedChannels: ['C0BENCH'] } },
      access: { roles: { responder: ['slack:U0BENCH'] } },
    }),
  );
  const bot = spawn(process.execPath, [BIN, 'bot', '--config', botConfig, '--runbooks', runbookDir], {
    env: { ...process.env, TRIAGE_PREFIX: prefix, TRIAGE_CONFIG: '', BENCH_SLACK_BOT: slack.botToken, BENCH_SLACK_SIGNING: slack.signingSecret },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let botErr = '';
  bot.stderr!.on('data', (d) => (botErr += d));
  await until('the bot to listen', () => tcpProbe('127.0.0.1', port, { timeoutMs: 200 }).then(() => true, () => false), 60_000, 100).catch((e) => {
    throw new Error(`${e.message}\n${botErr}`);
  });
  const appUrl = `http://127.0.0.1:${port}`;
  const redis = await connectRedis({ url: redisUrl });
  const store = new RunStore(redis.client(), prefix);
  const FINAL = /run (r_[a-z0-9]+) · (healthy|unhealthy|error|cancelled|failed) · /;
  const plain = (p: Record<string, unknown>) => JSON.stringify(p).replace(/\\u00b7/g, '·');
  return {
    bot,
    async diagnose(targetName: string) {
      // The previous run's thread posts are paced (1 op/s per room): start when the bot has gone quiet, so each run is measured alone.
      const calls = () => slack.callsOf('chat.postMessage').length + slack.callsOf('chat.update').length + slack.callsOf('files.uploadV2').length;
      let seen = -1;
      await until('the bot to go quiet', () => {
        const n = calls();
        const quiet = n === seen;
        seen = n;
        return quiet;
      }, 120_000, 1500);
      const postsBefore = slack.callsOf('chat.postMessage').length;
      const updatesBefore = slack.callsOf('chat.update').length;
      const t0 = Date.now();
      const ack = await slack.slashCommand(appUrl, { command: '/diagnose', text: `diag6 ${targetName}`, userId: 'U0BENCH', userName: 'bench', channelId: 'C0BENCH' });
      if (ack.status !== 200) throw new Error(`the bot answered Slack with HTTP ${ack.status}`);
      let runId = '';
      let finalAt = 0;
      await until(
        'the final card',
        () => {
          for (const c of slack.callsOf('chat.update').slice(updatesBefore)) {
            const m = FINAL.exec(plain(c.params));
            if (m && c.status === 200) {
              runId = m[1]!;
              finalAt = c.at;
              return true;
            }
          }
          return false;
        },
        120_000,
      );
      const firstCard = slack.callsOf('chat.postMessage').slice(postsBefore).find((c) => c.status === 200 && /run r_/.test(plain(c.params)));
      const events = await store.events(runId);
      const lastStep = events.filter((e) => e.type === 'step').at(-1);
      const lastStepAt = lastStep ? Number(lastStep.id.split('-')[0]) : Number.NaN;
      return { ackMs: ack.ms, firstCardMs: (firstCard?.at ?? Number.NaN) - t0, finalMs: finalAt - t0, lastStepToFinalMs: finalAt - lastStepAt };
    },
    async stop() {
      await stopChild(bot);
      await redis.stop();
      await slack.close();
    },
  };
}

async function fanOut(n: number, runs: { fast: number; ansible: number }, chat: Awaited<ReturnType<typeof startChat>>) {
  const files = toolFiles(fleet!, n, `f${n}`);
  const cases: Case[] = [triageCase(`f${n}`), ssh2Case(files.ref), psshCase(files.pssh, fleet!.keyFile, n)];
  const results = new Map<string, { ms: number[]; rss: number[]; over: number[]; failed: number }>();
  const note = (name: string, r: Timed & { durationMs?: number }) => {
    const e = results.get(name) ?? { ms: [], rss: [], over: [], failed: 0 };
    results.set(name, e);
    if (r.code !== 0 && !e.failed++) console.error(`bench: ${name} failed (exit ${r.code}): ${(r.stderr || r.stdout).slice(0, 400)}`);
    e.ms.push(r.ms);
    if (r.rssKB) e.rss.push(r.rssKB / 1024);
    if (r.durationMs !== undefined) e.over.push(r.ms - r.durationMs);
  };
  const chatLat: { ack: number[]; first: number[]; final: number[]; last: number[] } = { ack: [], first: [], final: [], last: [] };
  // Interleaved: every round runs each case once, so load from other users hits all of them alike.
  for (let i = 0; i < runs.fast && fits(i); i++) {
    for (const c of cases) note(c.name, await c.run());
    const r = await chat.diagnose(`f${n}`);
    const e = results.get('triage via chat (Slack)') ?? { ms: [], rss: [], over: [], failed: 0 };
    results.set('triage via chat (Slack)', e);
    e.ms.push(r.finalMs);
    chatLat.ack.push(r.ackMs);
    chatLat.first.push(r.firstCardMs);
    chatLat.final.push(r.finalMs);
    chatLat.last.push(r.lastStepToFinalMs);
  }
  // At most 20 forks: 100 ansible processes at once on 2 cores starve every other case (and everyone else).
  const modules = n <= 20 ? (['raw', 'shell'] as const) : (['raw'] as const);
  for (const module of modules) for (let i = 0; i < runs.ansible && fits(i); i++) note(`ansible -m ${module}`, await ansibleCase(files.inv, module, Math.min(n, 20)).run());
  row(`\n## Fan-out: 6 commands on ${n} hosts (wall of the whole process; median (min–max))`);
  for (const [name, e] of results) {
    row(`  ${name.padEnd(26)} ${fmtStats(stats(e.ms))}${e.rss.length ? `  peak RSS ${stats(e.rss).median.toFixed(0)} MB` : ''}${e.failed ? `  (${e.failed} runs failed!)` : ''}`);
  }
  const med = (name: string) => stats(results.get(name)!.ms).median;
  const tri = med('triage run (CLI)');
  const ref = med('raw ssh2 reference');
  target(`fan-out ${n} hosts, triage / raw ssh2`, `${(tri / ref).toFixed(2)}×`, '≤ 1.0×', tri / ref <= 1.0);
  row(`  triage via chat / raw ssh2: ${(med('triage via chat (Slack)') / ref).toFixed(2)}× (the bot's worker keeps its SSH connections between runs; the CLI and the reference connect every time); parallel-ssh / triage: ${(med('parallel-ssh') / tri).toFixed(2)}×`);
  if (results.has('ansible -m raw')) {
    const a = med('ansible -m raw');
    row(`  ansible -m raw / triage: ${(a / tri).toFixed(1)}×${results.has('ansible -m shell') ? `; ansible -m shell / triage: ${(med('ansible -m shell') / tri).toFixed(1)}×` : ''} (ansible with -f ${Math.min(n, 20)})`);
    if (n === 20) target('ansible -m raw at 20 hosts / triage', `${(a / tri).toFixed(1)}×`, '≥ 10×', a / tri >= 10);
  }
  const over = stats(results.get('triage run (CLI)')!.over);
  row(`  triage wall minus result durationMs: ${fmtStats(over)}`);
  target(`wall minus durationMs (${n} hosts)`, fmtMs(over.median), '≤ 250 ms', over.median <= 250);
  if (n === 100) {
    const rss = stats(results.get('triage run (CLI)')!.rss).median;
    target('peak RSS of triage run at 100 hosts', `${rss.toFixed(0)} MB (ssh2 reference ${stats(results.get('raw ssh2 reference')!.rss).median.toFixed(0)} MB)`, '≤ 120 MB', rss <= 120);
  }
  row(`  chat at ${n} hosts: Slack ack ${fmtStats(stats(chatLat.ack))}; command → first card ${fmtStats(stats(chatLat.first))}; last step → final card ${fmtStats(stats(chatLat.last))}; command → final card ${fmtStats(stats(chatLat.final))}`);
  return chatLat;
}

const redis = await connectRedis({ url: redisUrl });
try {
  row(`# Triage benchmarks — ${new Date().toISOString()}`);
  row(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average at start ${load0.map((x) => x.toFixed(1)).join(' ')}`);

  // ---- start-up
  const helpMs: number[] = [];
  const lintMs: number[] = [];
  const nodeMs: number[] = [];
  for (let i = 0; i < runsOf(7); i++) {
    nodeMs.push((await timed(process.execPath, ['-e', '0'])).ms);
    helpMs.push((await timed(process.execPath, [BIN, '--help'])).ms);
    lintMs.push((await timed(process.execPath, [BIN, 'lint', '--config', configPath, '--runbooks', runbookDir])).ms);
  }
  row(`\n## Start-up (${FROM_DIST ? `compiled dist/, built ${readStamp()}` : 'no dist/: TypeScript sources through tsx — run `npm run build`'})`);
  row(`  node -e 0 (the floor)   ${fmtStats(stats(nodeMs))}`);
  row(`  triage --help           ${fmtStats(stats(helpMs))}`);
  row(`  triage lint (config + runbooks) ${fmtStats(stats(lintMs))}`);
  target('triage --help', fmtMs(stats(helpMs).median), '≤ 150 ms', stats(helpMs).median <= 150);

  // ---- fan-out
  chat = await startChat();
  // Warms the bot's connections to Redis. Its worker keeps SSH connections (and shells) per host between
  // runs, as a long-running worker does: of the runs below, the first on a target connects, later ones reuse.
  await chat.diagnose('f3');
  const lat20 = await fanOut(20, { fast: runsOf(5), ansible: runsOf(3) }, chat);
  const lat100 = await fanOut(100, { fast: runsOf(3), ansible: runsOf(1) }, chat);
  const ack = stats([...lat20.ack, ...lat100.ack]);
  const first = stats([...lat20.first, ...lat100.first]);
  const last = stats([...lat20.last, ...lat100.last]);
  target('Slack ack', fmtMs(ack.median), '≤ 100 ms', ack.median <= 100);
  target('command → first card', fmtMs(first.median), '≤ 300 ms', first.median <= 300);
  target('last step → final card', fmtMs(last.median), '≤ 200 ms', last.median <= 200);
  const botRss = rssOf(chat.bot.pid!);
  row(`  bot process RSS after ${lat20.ack.length + lat100.ack.length + 1} diagnoses: ${(botRss.nowKB / 1024).toFixed(0)} MB now, ${(botRss.peakKB / 1024).toFixed(0)} MB peak`);
  await chat.stop();
  chat = undefined;

  // ---- slow login shell: the issue's rc file that sleeps (wall time: it overlaps across hosts), and one that burns CPU
  const slowShell = async (f: Fleet | undefined, targetName: string, tag: string, heading: string, targetWhat?: string) => {
    if (!f) {
      row(`\n## ${heading}: skipped (needs root to create the test user)`);
      return;
    }
    const files = toolFiles(f, 20, tag);
    const tri: number[] = [];
    const ref: number[] = [];
    const ps: number[] = [];
    const an: number[] = [];
    for (let i = 0; i < runsOf(3) && fits(i); i++) {
      tri.push((await triageCase(targetName).run()).ms);
      ref.push((await ssh2Case(files.ref).run()).ms);
      ps.push((await psshCase(files.pssh, f.keyFile, 20).run()).ms);
    }
    for (let i = 0; i < runsOf(1); i++) an.push((await ansibleCase(files.inv, 'raw', 20).run()).ms);
    row(`\n## ${heading}`);
    row(`  triage run (CLI)          ${fmtStats(stats(tri))}`);
    row(`  raw ssh2 reference        ${fmtStats(stats(ref))}`);
    row(`  parallel-ssh              ${fmtStats(stats(ps))}`);
    row(`  ansible -m raw            ${fmtStats(stats(an))}`);
    const ratio = stats(ref).median / stats(tri).median;
    if (targetWhat) target(targetWhat, `${ratio.toFixed(1)}×`, '≥ 5×', ratio >= 5);
    else row(`  raw ssh2 / triage: ${ratio.toFixed(1)}×; ansible -m raw / triage: ${(stats(an).median / stats(tri).median).toFixed(1)}×`);
  };
  await slowShell(slowFleet, 'slow20', 'slow', 'Slow login shell: 20 hosts whose ~/.bashrc sleeps 0.1 s', 'slow login shell, raw ssh2 / triage');
  await slowShell(busyFleet, 'busy20', 'busy', 'Busy login shell: 20 hosts whose ~/.bashrc burns ~0.1 s of CPU (like pyenv init; not a target, for comparison)');

  // ---- queue overhead per step (in-process worker, so each step can be timed from the host's answer to the event)
  const loaded = parseConfig(readFileSync(configPath, 'utf8'), configPath);
  const library = RunbookLibrary.load({ dirs: [runbookDir] });
  const answeredAt = new Map<string, number[]>();
  const inner = createExecutor();
  const stamp = (h: string) => answeredAt.set(h, [...(answeredAt.get(h) ?? []), performance.now()]);
  const executor: Executor = {
    exec: async (h, c, o) => {
      const r = await inner.exec(h, c, o);
      stamp(h.name);
      return r;
    },
    execBatch: (h, cmds, o) =>
      inner.execBatch!(h, cmds, {
        ...o,
        onResult: (i, r) => {
          stamp(h.name);
          o.onResult(i, r);
        },
      }),
    close: () => inner.close(),
  };
  const plan = prepareRun(loaded, library, { runbook: 'ten', target: 'f3' });
  await runRunbook({ runId: newRunId(), runbook: plan.runbook, target: plan.target, hosts: plan.hosts, params: {}, executor });
  const direct: number[] = [];
  for (let i = 0; i < runsOf(10); i++) {
    const t = performance.now();
    await runRunbook({ runId: newRunId(), runbook: plan.runbook, target: plan.target, hosts: plan.hosts, params: {}, executor });
    direct.push(performance.now() - t);
  }
  const qp = newPrefix();
  const queue = new RunQueue({ redis, prefix: qp });
  const worker = await startWorker({ redis, prefix: qp, config: loaded, library, executor, concurrency: 64 });
  await queue.wait((await queue.submit(plan, { requestedBy: 'bench' })).runId, { timeoutMs: 60_000 });
  const perStep: number[] = [];
  const queued: number[] = [];
  for (let i = 0; i < runsOf(10); i++) {
    answeredAt.clear();
    const t = performance.now();
    await queue.wait((await queue.submit(plan, { requestedBy: 'bench' })).runId, {
      timeoutMs: 60_000,
      onEvent: (e) => {
        if (e.type !== 'step') return;
        const at = answeredAt.get(e.host)?.shift();
        if (at !== undefined) perStep.push(performance.now() - at);
      },
    });
    queued.push(performance.now() - t);
  }
  await worker.close(5000);
  await queue.close();
  const overheadRun = stats(queued.map((q, i) => (q - direct[i]!) / 10));
  row('\n## Queue');
  row(`  10 steps on 3 hosts: engine direct ${fmtStats(stats(direct))}, through the queue ${fmtStats(stats(queued))}`);
  row(`  per step, host answered → step event seen by the producer: median ${fmtMs(stats(perStep).median)}, p99 ${fmtMs(pct(perStep, 99))} (n=${perStep.length})`);
  row(`  per step, (queued − direct) / 10: ${fmtStats(overheadRun)}`);
  target('queue overhead per step (median, host answer → event)', fmtMs(stats(perStep).median), '≤ 1 ms', stats(perStep).median <= 1);

  // ---- throughput with 1 and 2 worker processes
  for (const workers of [1, 2]) {
    const tp = newPrefix();
    const procs = Array.from({ length: workers }, () =>
      spawn(process.execPath, [BIN, 'worker', '--config', configPath, '--runbooks', runbookDir, '--concurrency', '64', '--per-host', '8'], { env: { ...process.env, TRIAGE_PREFIX: tp, TRIAGE_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    extraChildren.push(...procs);
    await Promise.all(procs.map((p) => new Promise<void>((resolve) => p.stdout!.once('data', () => resolve()))));
    const q = new RunQueue({ redis, prefix: tp });
    const tplan = prepareRun(loaded, library, { runbook: 'ten', target: 'f12' });
    const RUNS = 20;
    const t = performance.now();
    const ids = await Promise.all(Array.from({ length: RUNS }, () => q.submit(tplan, { requestedBy: 'bench' })));
    await Promise.all(ids.map((s) => q.wait(s.runId, { timeoutMs: 120_000 })));
    const secs = (performance.now() - t) / 1000;
    const steps = RUNS * 12 * 10;
    const rss = procs.map((p) => rssOf(p.pid!).peakKB / 1024);
    row(`  throughput, ${workers} worker process${workers > 1 ? 'es' : ''}: ${steps} steps (${RUNS} runs × 12 hosts × 10) in ${secs.toFixed(2)} s = ${(steps / secs).toFixed(0)} steps/s; worker peak RSS ${rss.map((x) => `${x.toFixed(0)} MB`).join(', ')}`);
    await Promise.all(procs.map(stopChild));
    await q.close();
  }

  // ---- health runbook on a real healthy setup (nginx + app), 1 and 20 hosts
  row('\n## health runbook on a real healthy setup (app + nginx), through the engine, as root over SSH');
  // root: the probes read other users' sockets and processes (the fan-out user cannot).
  const rootFleet = await startFleet({ hosts: 20 });
  for (const n of [1, 20]) {
    const s = await setup502('healthy', { hosts: fleetHosts(rootFleet, 'web'), hostNames: names('web', n) });
    try {
      const l = parseConfig(readFileSync(s.configPath, 'utf8'), s.configPath);
      const p = prepareRun(l, library, { runbook: 'health', target: 'shop' });
      const times: number[] = [];
      let status = '';
      for (let i = 0; i < runsOf(5); i++) {
        const r = await runRunbook({ runId: newRunId(), runbook: p.runbook, target: p.target, hosts: p.hosts, params: p.params, executor: inner });
        times.push(r.durationMs);
        // With its cause: on a loaded bench machine `health` may rightly say cpu-saturated.
        status = r.cause ? `${r.status}: ${r.cause}` : r.status;
      }
      row(`  ${n} host${n > 1 ? 's' : ''}: ${fmtStats(stats(times))} (${status})`);
    } finally {
      await s.cleanup();
    }
  }
  await rootFleet.stop();
  await inner.close();
} finally {
  await cleanup();
  await redis.stop();
}

const versions = [
  `node ${process.version}`,
  `ssh2 ${JSON.parse(readFileSync(join(ROOT, 'node_modules/ssh2/package.json'), 'utf8')).version}`,
  `bullmq ${JSON.parse(readFileSync(join(ROOT, 'node_modules/bullmq/package.json'), 'utf8')).version}`,
  version('ssh', ['-V']),
  version('redis-server', ['--version']),
  version('ansible', ['--version']),
  `parallel-ssh ${version('parallel-ssh', ['--version'])}`,
];
const took = (Date.now() - started) / 1000;
row(`\nversions: ${versions.join('; ')}`);
row(`bench took ${took.toFixed(0)} s; load average at end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);

const md = [
  '# Benchmarks',
  '',
  'Written by `npm run bench` (bench/run.ts); numbers from the last run on the machine below.',
  'The machine is shared and noisy: compare the ratios (cases interleaved in the same run), not absolute times.',
  '',
  '## Targets',
  '',
  '| figure | measured | target | |',
  '| --- | --- | --- | --- |',
  ...targets.map((t) => `| ${t.what} | ${t.value} | ${t.target} | ${t.met ? 'met' : '**missed**'} |`),
  '',
  '## Output',
  '',
  '```',
  ...rows,
  '```',
  '',
].join('\n');
// Notes written by hand below the marker survive a re-run.
const MARK = '<!-- notes: kept by npm run bench -->';
let notes = `${MARK}\n`;
try {
  const prev = readFileSync(join(ROOT, 'BENCHMARKS.md'), 'utf8');
  if (prev.includes(MARK)) notes = prev.slice(prev.indexOf(MARK));
} catch {
  // first run
}
writeFileSync(join(ROOT, 'BENCHMARKS.md'), `${md}\n${notes}`);
console.log('\nwrote BENCHMARKS.md');
process.exit(0);
