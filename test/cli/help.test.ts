/**
 * A newcomer's first contact: every command explains itself with --help
 * (usage, every flag with its default, an example; exit 0), and a mistyped
 * flag gets one line that names it and points at --help.
 */
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/help.ts';
import { runCli } from '../support/cli.ts';

describe('triage <command> --help', () => {
  it.each(COMMANDS.map((c) => c.name))('triage %s --help shows usage, every flag with its default, and an example', async (name) => {
    const r = await runCli([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(new RegExp(`^usage: triage ${name}`));
    const entry = COMMANDS.find((c) => c.name === name)!;
    for (const f of entry.flags) {
      const line = r.stdout.split('\n').find((l) => l.trimStart().startsWith(`--${f.flag}`));
      expect(line, `--${f.flag} is listed`).toBeDefined();
      if (f.default || !f.value) expect(line).toMatch(/default: /);
    }
    expect(r.stdout).toMatch(/examples?:\n {2}npx triage /);
  });

  it('-h works too, and help wins over other flags', async () => {
    const r = await runCli(['run', '502', 'shop', '--bogus', '-h']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: triage run <runbook> <target>/);
  });

  it('triage help run is the same as triage run --help', async () => {
    const a = await runCli(['help', 'run']);
    const b = await runCli(['run', '--help']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('triage --help lists every command', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^ {2}${c.name} `, 'm'));
  });

  it.each(COMMANDS.map((c) => c.name))('an unknown flag to %s is one line naming it and pointing at --help (exit 2)', async (name) => {
    const r = await runCli([name, '--colour']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`triage: unknown flag --colour — see \`triage ${name} --help\``);
  });

  it('a flag missing its value says so', async () => {
    const r = await runCli(['run', '502', 'shop', '--host']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('triage: --host needs a value — see `triage run --help`');
  });

  it('an unknown command points at triage --help', async () => {
    const r = await runCli(['diagnose', '502']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "diagnose" — see `triage --help`/);
  });
});
