/**
 * A private pm2 for tests: its own PM2_HOME under a temp dir, so the test's
 * daemon and apps never meet another pm2 on the machine. The local
 * executor's shell inherits `PM2_HOME` from `process.env`, so a runbook run
 * with `address: local` talks to this daemon.
 *
 * Deliberately left out: pm2 ecosystem files and clusters; one fork-mode app
 * per name.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A pm2 daemon of this test file. */
export interface Pm2 {
  /** Runs `pm2 ARGS...` against this daemon; returns stdout. */
  run(...args: string[]): string;
  /** pm2's status word for `name` (`online`, `stopped`, `errored`, ...), or `missing`. */
  status(name: string): string;
  /** Kills the daemon and restores `PM2_HOME`. */
  stop(): void;
}

/** Starts using a private PM2_HOME in `dir` (installs pm2 globally as root when it is missing). */
export function privatePm2(dir: string): Pm2 {
  const home = join(dir, 'pm2-home');
  const saved = process.env.PM2_HOME;
  const env = () => ({ ...process.env, PM2_HOME: home });
  try {
    execFileSync('pm2', ['--version'], { stdio: 'ignore', env: env() });
  } catch {
    if (process.getuid?.() !== 0) throw new Error('these tests need pm2: run `npm install -g pm2` (or run them as root to install it)');
    execFileSync('npm', ['install', '-g', 'pm2@7', '--no-audit', '--no-fund'], { stdio: 'ignore' });
  }
  process.env.PM2_HOME = home;
  const run = (...args: string[]) => execFileSync('pm2', args, { env: env(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    run,
    status(name) {
      const list = JSON.parse(run('jlist')) as { name: string; pm2_env?: { status?: string } }[];
      return list.find((p) => p.name === name)?.pm2_env?.status ?? 'missing';
    },
    stop() {
      try {
        run('kill');
      } catch {
        /* the daemon never started */
      }
      if (saved === undefined) delete process.env.PM2_HOME;
      else process.env.PM2_HOME = saved;
    },
  };
}

/**
 * Writes a small Node API into `dir`: GET anything → 200 {"ok":true} on
 * 127.0.0.1:`port`. With `missingModule`, it first requires a module that is
 * not installed and crashes on start (`Cannot find module ...`).
 */
export function writeNodeApi(dir: string, port: number, o: { missingModule?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'server.js');
  writeFileSync(
    file,
    `${o.missingModule ? "require('left-pad-not-installed');\n" : ''}require('http').createServer((q, r) => r.end('{"ok":true}')).listen(${port}, '127.0.0.1', () => console.log('listening on ${port}'));\n`,
  );
  return file;
}
