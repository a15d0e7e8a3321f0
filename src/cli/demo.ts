/**
 * `triage demo`: the main job on an embedded default, with no tokens and no
 * config. It starts a small broken service on this machine — an API that
 * crashes on start because a dependency is missing, behind a reverse proxy
 * that therefore answers 502 — diagnoses it with the built-in `502` runbook
 * through the real queue and executors, prints the live steps and the cause,
 * and cleans everything up.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../config.ts';
import { freePort } from '../net.ts';
import { RunQueue } from '../queue/producer.ts';
import { connectRedis, safeUrl } from '../queue/redis.ts';
import { startWorker } from '../queue/worker.ts';
import { RunbookLibrary } from '../runbooks/loader.ts';
import { prepareRun } from '../runbooks/prepare.ts';
import { type CliIO, parse } from './io.ts';
import { stepLine, verdict } from './print.ts';

export async function demoCommand(args: string[], io: CliIO): Promise<number> {
  const { values } = parse(args, 'demo');
  const json = values.json === true;
  const say = (s: string) => {
    if (!json) io.out(s);
  };
  const id = randomBytes(4).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'triage-demo-'));
  const cleanup: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    const appPort = await freePort();
    const marker = `triage-demo-api-${id}`;
    const log = join(dir, 'api.log');
    writeFileSync(
      join(dir, 'server.js'),
      `// The demo API: it needs 'express', which the last deploy did not install.\nconst express = require('express');\nexpress().get('/health', (_q, r) => r.json({ ok: true })).listen(${appPort}, '127.0.0.1');\n`,
    );
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'demo-api', private: true, dependencies: { express: '^4.19.0' } }, null, 2));
    writeFileSync(join(dir, '.env'), `JWT_SECRET=${randomBytes(29).toString('hex')}\nDATABASE_URL=postgres://demo:${randomBytes(8).toString('hex')}@127.0.0.1:5432/demo\n`);
    const app = await startCrashingApp(join(dir, 'server.js'), marker, log);
    cleanup.push(() => kill(app));

    const proxy = await startProxy(appPort);
    cleanup.push(() => new Promise<void>((r) => proxy.close(() => r())));
    const front = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/api/health`;
    const status = await get(front);
    say(`demo: a reverse proxy at ${front} answers ${status} — its API on :${appPort} crashed on start`);

    const configPath = join(dir, 'triage.yaml');
    const configText = stringify({
      hosts: { local: { address: 'local' } },
      targets: {
        'demo-shop': {
          hosts: ['local'],
          service: { manager: 'process', name: marker },
          port: appPort,
          health: `http://127.0.0.1:${appPort}/health`,
          workdir: dir,
          envFile: '.env',
          requiredEnv: ['JWT_SECRET', 'DATABASE_URL'],
          logs: { file: log },
        },
      },
    });
    writeFileSync(configPath, configText);
    const loaded = parseConfig(configText, configPath, io.env);
    const library = RunbookLibrary.load();
    const plan = prepareRun(loaded, library, { runbook: '502', target: 'demo-shop' }, io.env);

    const redis = await connectRedis({ url: loaded.redisUrl, redis: loaded.config.redis, env: io.env, allowPrivate: loaded.redisFromDefault });
    cleanup.push(() => redis.stop());
    const prefix = `triage-demo-${id}`;
    const queue = new RunQueue({ redis, prefix });
    cleanup.push(async () => {
      await queue.store.purge();
      await queue.close();
    });
    const worker = await startWorker({ redis, prefix, config: loaded, library, env: io.env });
    cleanup.push(() => worker.close(2000));
    say(`demo: running \`triage run 502 demo-shop\` through the queue (Redis ${safeUrl(redis.url)}${redis.private ? ', private' : ''}) with an embedded worker\n`);

    const { runId } = await queue.submit(plan, { requestedBy: 'demo' });
    const final = await queue.wait(runId, {
      timeoutMs: 120_000,
      onEvent: (e) => {
        if (e.type === 'step') say(stepLine(e.host, e.step, 5));
      },
    });
    if (json) io.out(JSON.stringify(final.result, null, 2));
    else {
      io.out(verdict(final.result));
      io.out(`\ndemo: done. Point it at your own service: write triage.yaml (see examples/triage.yaml), then \`triage run 502 <target>\`.`);
    }
    return final.result.cause ? 0 : 1;
  } finally {
    for (const c of cleanup.reverse()) await Promise.resolve(c()).catch(() => {});
  }
}

async function startCrashingApp(script: string, marker: string, log: string): Promise<ChildProcess> {
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [script, `--triage-demo=${marker}`], { stdio: ['ignore', fd, fd], detached: true, env: { PATH: process.env.PATH ?? '' } });
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
  return child;
}

function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null && child.pid) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** A tiny reverse proxy: /api/* → the app, 502 when the app does not answer (what nginx does). */
function startProxy(upstreamPort: number): Promise<Server> {
  const server = createServer((req, res) => {
    const up = request({ host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers, timeout: 3000 }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('502 Bad Gateway\n');
    });
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function get(url: string): Promise<string> {
  return new Promise((resolve) => {
    const r = request(url, { timeout: 3000 }, (res) => {
      res.resume();
      resolve(`${res.statusCode} ${res.statusMessage ?? ''}`.trim());
    });
    r.on('error', (e) => resolve(e.message));
    r.end();
  });
}
