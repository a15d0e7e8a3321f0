/** Runs the real `triage` CLI in-process and captures what a user would see. */
import { main } from '../../src/cli.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs); undefined when it is not JSON. */
  json: any;
}

export async function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, {
    out: (s) => out.push(s),
    err: (s) => err.push(s),
    env: { ...process.env, TRIAGE_CONFIG: '', ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
  });
  const stdout = out.join('\n');
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr: err.join('\n'), json };
}
