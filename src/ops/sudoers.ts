/**
 * The sudoers snippet for Triage's SSH user: exactly the commands the
 * built-in probes run through `sudo` for this config's targets, and nothing
 * else. Nothing here is a hand-kept list: each probe declares in its header
 * the privileged commands it may run, in terms of its own arguments and
 * environment,
 *
 *     # sudo: /usr/sbin/nginx -t -c $1
 *     # sudo changes if $1=systemd: /usr/bin/systemctl restart $2
 *
 * and the generator fills `$1`/`$NAME` the way the engine would: for every
 * runbook step that uses the probe, from that step's `args:`/`env:`
 * templates, the target's config and the runbook's default parameters. A
 * value that only exists at run time (a captured PID, an earlier step's
 * output) cannot be written down ahead, so such a line is left out and the
 * probe degrades on the host with "needs sudo for …" instead.
 *
 * `changes` lines (restart, reload) and the `sudo …` commands inside a
 * `changes: true` step's `run:` are included only with `allowChanges`.
 *
 * Every rule names its arguments in full: sudoers reads a command without
 * arguments as "any arguments" and `*` as "anything, spaces and slashes
 * included", so neither is ever written; a value sudoers cannot express
 * literally (whitespace, quotes, wildcard characters) is left out and
 * reported in `skipped`.
 *
 * Deliberately left out: docker (membership of group `docker` is root on the
 * host) and log files nginx and journald keep (groups `adm` and
 * `systemd-journal` read them without sudo; the snippet says so).
 */
import type { Config } from '../config.ts';
import { TriageError } from '../errors.ts';
import type { RunbookLibrary } from '../runbooks/loader.ts';
import { validateParams } from '../runbooks/params.ts';
import { getProbe, type Probe } from '../runbooks/probes.ts';
import type { Runbook, Step } from '../runbooks/schema.ts';
import { renderArgs, renderCommand, renderWord } from '../runbooks/template.ts';

/** One `# sudo…:` line of a probe's header. */
export interface ProbeSudoLine {
  /** argv: an absolute path, then literal words, `$1`…`$9` or `$NAME` (a variable from the probe's `# env:`). */
  words: string[];
  /** A remediation (restart, reload): only with `allowChanges`. */
  changes: boolean;
  /** `if $1=systemd`: the line applies only when that argument or variable has that value. */
  when?: { ref: string; equals: string };
}

/** One command the snippet allows, and why. */
export interface SudoRule {
  /** argv, argv[0] absolute. */
  argv: string[];
  changes: boolean;
  /** Who needs it: `502/nginx_test (probe nginx-test) for demo`, one entry per use. */
  usedBy: string[];
}

/** A command that could not be written as a rule. */
export interface SkippedRule {
  argv: string[];
  reason: string;
  usedBy: string;
}

/** Options for {@link sudoersRules}. */
export interface SudoersOptions {
  /** Only these targets. Default: every target in the config. */
  targets?: string[];
  /** Include restart/reload commands and `sudo` inside `changes: true` steps. Default false. */
  allowChanges?: boolean;
}

const HEADER = /^# sudo( changes)?(?: if (\$[A-Za-z0-9_]+)=(\S+))?: (.+)$/gm;

/** The `# sudo…:` lines of a probe's header. Throws when one is malformed (lint and tests catch it). */
export function probeSudoLines(probe: Probe): ProbeSudoLine[] {
  const out: ProbeSudoLine[] = [];
  for (const m of probe.text.matchAll(HEADER)) {
    const words = m[4]!.trim().split(/\s+/);
    if (!words[0]!.startsWith('/')) {
      throw new TriageError('RUNBOOK_INVALID', `probe ${probe.name}: "# sudo:" command ${words[0]} is not an absolute path`, { file: probe.file, fix: 'sudoers matches commands by absolute path, e.g. /usr/sbin/nginx' });
    }
    if (words.length < 2) {
      throw new TriageError('RUNBOOK_INVALID', `probe ${probe.name}: "# sudo: ${words[0]}" has no arguments`, { file: probe.file, fix: 'name every argument: sudoers reads a bare command as "any arguments"' });
    }
    for (const w of [...words, ...(m[2] ? [m[2]] : [])]) checkRef(probe, w);
    out.push({ words, changes: Boolean(m[1]), ...(m[2] ? { when: { ref: m[2], equals: m[3]! } } : {}) });
  }
  return out;
}

function checkRef(probe: Probe, w: string): void {
  if (!w.startsWith('$')) return;
  const name = w.slice(1);
  const ok = /^[1-9]$/.test(name) ? Number(name) <= probe.args.length : probe.env.includes(name);
  if (!ok) throw new TriageError('RUNBOOK_INVALID', `probe ${probe.name}: "# sudo:" uses ${w}, which is not one of its arguments or # env: names`, { file: probe.file, fix: 'refer to $1..$N from # usage: or a name from # env:' });
}

/** The inverse of `shellQuote` for the words the template module writes (`'it'\''s'`). */
function unquote(word: string): string {
  return word.slice(1, -1).replace(/'\\''/g, "'");
}

/** Every command to allow for `config`'s targets, merged, sorted; plus what could not be written. */
export function sudoersRules(config: Config, library: RunbookLibrary, opts: SudoersOptions = {}): { rules: SudoRule[]; skipped: SkippedRule[] } {
  const names = opts.targets?.length ? opts.targets : Object.keys(config.targets).sort();
  const rules = new Map<string, SudoRule>();
  const skipped: SkippedRule[] = [];
  const add = (argv: string[], changes: boolean, usedBy: string) => {
    const bad = argv.find((w) => !SAFE_WORD.test(w));
    if (bad !== undefined) {
      skipped.push({ argv, usedBy, reason: `${JSON.stringify(bad)} cannot be written literally in sudoers` });
      return;
    }
    const key = argv.join('\0');
    const r = rules.get(key) ?? { argv, changes, usedBy: [] };
    r.changes &&= changes;
    if (!r.usedBy.includes(usedBy)) r.usedBy.push(usedBy);
    rules.set(key, r);
  };
  for (const name of names) {
    const t = config.targets[name];
    if (!t) throw new TriageError('TARGET_UNKNOWN', `no target "${name.slice(0, 40)}"`, { fix: `targets in the config: ${Object.keys(config.targets).join(', ')}` });
    const target = { ...(structuredClone(t) as Record<string, unknown>), name };
    for (const { runbook } of library.list()) {
      const ctx = { target, host: { name: '', address: '', zone: 'default' }, params: defaultParams(runbook) };
      for (const step of runbook.steps) {
        const usedBy = `${runbook.name}/${step.id}${step.probe ? ` (probe ${step.probe})` : ''} for ${name}`;
        if (step.changes && !opts.allowChanges) continue;
        for (const argv of stepSudoCommands(step, ctx, opts.allowChanges === true)) add(argv.argv, argv.changes || step.changes, usedBy);
      }
    }
  }
  const sorted = [...rules.values()].sort((a, b) => Number(a.changes) - Number(b.changes) || a.argv.join(' ').localeCompare(b.argv.join(' ')));
  return { rules: sorted, skipped };
}

function defaultParams(runbook: Runbook): ReturnType<typeof validateParams> {
  try {
    return validateParams(runbook, {});
  } catch {
    return {}; // a required parameter without a default: steps that use it are left out below
  }
}

/** The privileged commands one step would run, filled from config facts; none when a value is only known at run time. */
function stepSudoCommands(step: Step, ctx: Record<string, unknown>, allowChanges: boolean): { argv: string[]; changes: boolean }[] {
  if (step.run !== undefined) {
    if (!step.changes) return [];
    const cmd = tryFill(() => renderCommand(step.run!, ctx));
    return cmd === undefined ? [] : sudoSegments(cmd).map((argv) => ({ argv, changes: true }));
  }
  const probe = getProbe(step.probe ?? '');
  if (!probe) return [];
  const lines = probeSudoLines(probe).filter((l) => allowChanges || !l.changes);
  if (!lines.length) return [];
  const args = tryFill(() => renderArgs(step.args, ctx).map(unquote));
  if (args === undefined) return []; // the step is skipped for this target, or needs a run-time value
  const env: Record<string, string | undefined> = {};
  for (const [k, tpl] of Object.entries(step.env)) env[k] = tryFill(() => unquote(renderWord(tpl, ctx)));
  const value = (w: string): string | undefined => {
    if (!w.startsWith('$')) return w;
    const name = w.slice(1);
    if (/^[1-9]$/.test(name)) return args[Number(name) - 1];
    return Object.hasOwn(env, name) ? env[name] : '';
  };
  const out: { argv: string[]; changes: boolean }[] = [];
  for (const l of lines) {
    if (l.when && value(l.when.ref) !== l.when.equals) continue;
    const argv = l.words.map(value);
    // An unknown or empty value means the probe does not run this command for this target.
    if (argv.some((w) => w === undefined || w === '')) continue;
    out.push({ argv: argv as string[], changes: l.changes });
  }
  return out;
}

function tryFill<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TriageError) return undefined; // not configured, or only known at run time
    throw e;
  }
}

/** `sudo` commands inside a shell command line: `… && sudo systemctl restart 'app' | …` → argv. Words must be plain or single-quoted. */
export function sudoSegments(command: string): string[][] {
  const out: string[][] = [];
  for (const seg of command.split(/&&|\|\||[;|\n]/)) {
    const words = [...seg.trim().matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!));
    if (words[0] !== 'sudo') continue;
    let i = 1;
    while (words[i]?.startsWith('-')) i++;
    const argv = words.slice(i);
    if (argv.length >= 2) out.push([argv[0]!.startsWith('/') ? argv[0]! : `/usr/bin/${argv[0]}`, ...argv.slice(1)]);
  }
  return out;
}

/** What sudoers can take literally once `\ , : =` are escaped: no whitespace, quotes, wildcards or comment marks. */
const SAFE_WORD = /^[A-Za-z0-9_./@%+:,=~-]+$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Escapes sudoers' reserved characters in a command word. */
function sudoersWord(w: string): string {
  return w.replace(/[\\,:=]/g, (c) => `\\${c}`);
}

/** Options for {@link renderSudoers}. */
export interface RenderSudoersOptions {
  /** The SSH user Triage logs in as on the hosts. Default `triage`. */
  user?: string;
  /** How the snippet was made, for its header, e.g. `triage sudoers --config triage.yaml`. */
  command?: string;
  /** The config, for the group advice (nginx logs, the journal). */
  config?: Config;
  targets?: string[];
}

/** The sudoers file text: a header, one `Cmnd_Alias` per kind, one rule line. Valid for `visudo -cf`. */
export function renderSudoers(rules: SudoRule[], skipped: SkippedRule[], o: RenderSudoersOptions = {}): string {
  const user = o.user ?? 'triage';
  if (!USER.test(user)) throw new TriageError('USAGE', `"${user.slice(0, 40)}" is not a user name`, { fix: 'lowercase letters, digits, _ and -, starting with a letter, e.g. triage' });
  const alias = user.toUpperCase().replace(/-/g, '_');
  const lines = [
    `# sudoers for Triage's SSH user ${user}: only the commands the built-in probes need.`,
    `# Generated by \`${o.command ?? 'triage sudoers'}\` from the probes' "# sudo:" headers and the config;`,
    '# regenerate after changing the config. Install it checked:',
    `#   visudo -cf triage.sudoers && sudo install -m 0440 triage.sudoers /etc/sudoers.d/${user.replace(/[.~]/g, '_')}`,
  ];
  const groups = groupAdvice(o.config, o.targets);
  if (groups.length) lines.push(`# Read-only without sudo: sudo usermod -aG ${groups.map((g) => g.group).join(',')} ${user}   (${groups.map((g) => `${g.group}: ${g.why}`).join('; ')})`);
  for (const s of skipped) lines.push(`# left out (${s.reason}): ${s.argv.join(' ')}   [${s.usedBy}]`);
  const kinds: [string, SudoRule[]][] = [
    [`${alias}_READ`, rules.filter((r) => !r.changes)],
    [`${alias}_CHANGES`, rules.filter((r) => r.changes)],
  ];
  const used: string[] = [];
  for (const [name, list] of kinds) {
    if (!list.length) continue;
    used.push(name);
    lines.push('', `# ${name.endsWith('_READ') ? 'read-only checks' : 'remediation (--allow-changes): restart / reload, run only after approval in chat'}`);
    for (const r of list) lines.push(`#   ${r.argv.join(' ')}   <- ${r.usedBy.join(', ')}`);
    lines.push(`Cmnd_Alias ${name} = ${list.map((r) => r.argv.map(sudoersWord).join(' ')).join(', \\\n    ')}`);
  }
  lines.push('');
  if (used.length) lines.push(`${user} ALL=(root) NOPASSWD: ${used.join(', ')}`);
  else lines.push(`# nothing to allow: no probe needs sudo for these targets (${user} gets no sudo rights)`);
  return `${lines.join('\n')}\n`;
}

function groupAdvice(config: Config | undefined, targets: string[] | undefined): { group: string; why: string }[] {
  if (!config) return [];
  const ts = (targets?.length ? targets : Object.keys(config.targets)).map((n) => config.targets[n]).filter(Boolean);
  const out: { group: string; why: string }[] = [];
  if (ts.some((t) => t!.nginx)) out.push({ group: 'adm', why: "nginx's error.log" });
  if (ts.some((t) => t!.logs && 'journal' in t!.logs) || ts.some((t) => t!.service?.manager === 'systemd' && !t!.logs)) out.push({ group: 'systemd-journal', why: 'journalctl -u' });
  return out;
}
