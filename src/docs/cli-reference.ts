/**
 * The command and flag reference in docs/cli.md, generated from the command
 * table in `src/cli/help.ts` — the same table `triage <command> --help` prints
 * and the flag parser reads, so the docs cannot promise a flag that does not
 * parse.
 *
 * Deliberately left out: exit codes and environment variables, which are
 * hand-written prose around the generated block.
 */
import { COMMANDS, type CommandHelp, flagLabel } from '../cli/help.ts';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function commandSection(c: CommandHelp): string {
  const out = [`### \`triage ${c.name}\``, '', c.summary, '', '```', c.usage, '```'];
  for (const d of c.details ?? []) out.push('', d);
  out.push('');
  if (c.flags.length) {
    out.push('| flag | default | meaning |', '| --- | --- | --- |');
    for (const f of c.flags) {
      const shown = f.default ?? (f.value ? '' : 'off');
      const help = f.multiple ? `${f.help} (repeatable)` : f.help;
      out.push(`| \`${cell(flagLabel(f))}\` | ${shown ? cell(shown) : ''} | ${cell(help)} |`);
    }
    out.push('| `--help, -h` |  | print this command\'s help and exit 0 |', '');
  } else {
    out.push('Flags: only `--help, -h` (print this command\'s help and exit 0).', '');
  }
  out.push(c.examples.length > 1 ? 'Examples:' : 'Example:', '', '```sh', ...c.examples, '```');
  return out.join('\n');
}

/** The command index and one section per command, as Markdown. */
export function cliReferenceMarkdown(commands: readonly CommandHelp[] = COMMANDS): string {
  const index = ['| command | what it does |', '| --- | --- |', ...commands.map((c) => `| [\`triage ${c.name}\`](#triage-${c.name}) | ${cell(c.summary)} |`)];
  return [index.join('\n'), ...commands.map(commandSection)].join('\n\n');
}
