/**
 * The command table: every `triage` subcommand with its usage, flags (type,
 * default, meaning) and an example. It is the single source for flag
 * parsing (`parse` in io.ts builds node's parseArgs options from it), for
 * `triage <command> --help`, and for docs/cli.md.
 *
 * Deliberately light: this module imports nothing, so `triage --help` and
 * `triage run --help` load no queue, SSH or chat library.
 */

/** One flag of a command. */
export interface FlagHelp {
  /** Long name without dashes, e.g. `config`. */
  flag: string;
  /** One-letter alias, e.g. `p` for `--param`. */
  short?: string;
  /** Placeholder for the value (`FILE`, `N`); absent for a boolean switch. */
  value?: string;
  /** May be given more than once. */
  multiple?: boolean;
  /** The default, as the user would write it (shown in help); absent when there is none. */
  default?: string;
  help: string;
}

/** One `triage` subcommand. */
export interface CommandHelp {
  name: string;
  /** One line: `triage run <runbook> <target> [flags]`. */
  usage: string;
  /** What it does, one sentence. */
  summary: string;
  /** Extra lines under the summary (positional arguments, exit codes). */
  details?: string[];
  flags: FlagHelp[];
  /** Commands that work as written. */
  examples: string[];
}

const CONFIG: FlagHelp = { flag: 'config', value: 'FILE', default: '$TRIAGE_CONFIG, else ./triage.yaml', help: 'the config file' };
const RUNBOOKS: FlagHelp = { flag: 'runbooks', value: 'DIR', multiple: true, default: '$TRIAGE_RUNBOOKS', help: 'extra runbook directory; the built-ins are always loaded' };
const JSON_OUT: FlagHelp = { flag: 'json', help: 'print JSON only on stdout' };
/** The ops flags of the long-running processes (src/ops/runtime.ts reads them); docs/operations.md says more. */
const OPS_FLAGS: FlagHelp[] = [
  { flag: 'log-level', value: 'LEVEL', default: '$TRIAGE_LOG_LEVEL, else info', help: 'least level logged on stderr: trace, debug, info, warn, error, fatal or silent' },
  { flag: 'log-format', value: 'FORMAT', default: '$TRIAGE_LOG_FORMAT, else text on a terminal, json otherwise', help: 'json (one object per line) or text (one readable line)' },
  { flag: 'metrics-port', value: 'N', default: '$TRIAGE_METRICS_PORT, else off', help: 'serve /metrics, /healthz and /readyz on this port (9464 is the usual one; 0 picks a free port)' },
  { flag: 'metrics-host', value: 'ADDR', default: '$TRIAGE_METRICS_HOST, else 127.0.0.1', help: 'address the metrics server binds (0.0.0.0 in a container)' },
];
const RELOAD_DETAIL = 'SIGHUP (or `triage reload`) re-reads the config and runbooks: new targets can be run, removed ones are refused, runs in flight are untouched; a config that does not load is refused with the reason in the log, and the old one stays.';

const RUN_EXITS = ['exit codes: 0 healthy, 1 problems found, 2 bad input or config (nothing ran), 3 could not run (Redis, SSH, ...)'];

/** Every subcommand, in the order `triage --help` lists them. */
export const COMMANDS: CommandHelp[] = [
  {
    name: 'demo',
    usage: 'triage demo [--json]',
    summary: 'Diagnoses a real broken service on this machine end to end, through the queue; needs no config and no tokens.',
    details: ['Starts a local API that crashes on a missing module behind a proxy that returns 502, runs the 502 runbook on it, prints the cause and fix, and cleans everything up.'],
    flags: [{ flag: 'json', help: 'print the result object (as `run --json` does) instead of the human summary' }],
    examples: ['npx triage demo'],
  },
  {
    name: 'init',
    usage: 'triage init [--address HOST --target NAME ...] [--yes --host-key SHA256:...] [--config FILE] [--force]',
    summary: 'Writes a triage.yaml for one service that passes `triage lint`, from your answers and a read-only look at its host.',
    details: [
      'Asks on a terminal (with --yes: takes every value from flags) for the host, fetches its SSH host key and pins it only when you confirm its SHA256 fingerprint, or when it equals --host-key.',
      'Then it looks at the host read-only and proposes port, service, nginx, logs, health and workdir for you to confirm or edit. Nothing on the host is changed: it runs ss -ltnp, nginx -T (only for an nginx that is running; otherwise it reads the config files), systemctl list-units, pm2 jlist (only when the pm2 daemon already runs), docker ps, reads /proc of the listening processes and GETs /health on the app port.',
      'An existing file is never overwritten without --force. Exit codes: 0 written, 2 bad input or refused (nothing written), 3 the host could not be reached or logged into (nothing written).',
    ],
    flags: [
      { flag: 'address', value: 'HOST', default: 'asked; required with --yes', help: "the host's IP address or DNS name" },
      { flag: 'ssh-port', value: 'N', default: '22', help: 'SSH port of the host' },
      { flag: 'user', value: 'NAME', default: 'the current user', help: 'SSH login' },
      { flag: 'key', value: 'FILE', default: '~/.ssh/id_ed25519', help: 'private key file to log in with' },
      { flag: 'target', value: 'NAME', default: 'asked; required with --yes', help: 'the target (service) name, e.g. shop' },
      { flag: 'host-name', value: 'NAME', default: 'web1', help: 'the name of the host under hosts:' },
      { flag: 'config', value: 'FILE', default: './triage.yaml', help: 'where to write' },
      { flag: 'force', help: 'overwrite FILE if it exists' },
      { flag: 'yes', help: 'ask nothing: take flags and proposals as they are (needs --host-key)' },
      { flag: 'host-key', value: 'SHA256:...', default: 'none: you confirm the fetched key', help: 'the fingerprint you expect; a host presenting another key is refused' },
      { flag: 'port', value: 'N', default: 'proposed', help: 'the port the app listens on; none to leave out' },
      { flag: 'service', value: 'MANAGER:NAME', default: 'proposed', help: 'systemd:UNIT, pm2:NAME, docker:NAME or process:PGREP-PATTERN; none to leave out' },
      { flag: 'nginx-config', value: 'FILE', default: 'proposed', help: "nginx's main config on the host; none to leave nginx out" },
      { flag: 'nginx-site', value: 'FILE', default: 'proposed', help: 'the site file holding the location; none to leave out' },
      { flag: 'location', value: 'PATH', default: 'proposed', help: 'the nginx location that proxies to the app, e.g. /api' },
      { flag: 'logs', value: 'KIND:VALUE', default: 'proposed', help: 'file:/path, journal:UNIT, pm2:NAME or docker:NAME; none to leave out' },
      { flag: 'health', value: 'URL', default: 'proposed', help: 'health URL, checked from the host; none to leave out' },
      { flag: 'workdir', value: 'DIR', default: 'proposed', help: "the app's directory on the host; none to leave out" },
    ],
    examples: [
      'npx triage init',
      'npx triage init --address 10.0.0.5 --user ubuntu --key ~/.ssh/triage_ed25519 --target shop --yes --host-key SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s',
    ],
  },
  {
    name: 'run',
    usage: 'triage run <runbook> <target> [--host NAME] [--config FILE] [--json] [--dry-run] [--no-worker] [--approve STEP ...] [--concurrency N] [--param k=v ...]',
    summary: 'Runs a runbook on a target\'s hosts through the queue and prints each step, then the cause, evidence and fix.',
    details: ['<runbook> is a runbook name or alias (e.g. 502, bad-gateway); <target> is a name under `targets:` in the config.', ...RUN_EXITS],
    flags: [
      { flag: 'host', value: 'NAME', default: 'all hosts of the target', help: 'run on this one host of the target only' },
      CONFIG,
      { flag: 'json', help: 'print only the result object on stdout (complete through any pipe)' },
      { flag: 'dry-run', help: 'print the exact commands per host and run nothing' },
      { flag: 'no-worker', help: 'only submit; external `triage worker`s do the work' },
      { flag: 'param', short: 'p', value: 'k=v', multiple: true, help: 'a runbook parameter; secret params take env:NAME or file:PATH' },
      {
        flag: 'approve',
        value: 'STEP',
        multiple: true,
        default: 'none: nothing on the host is changed',
        help: "let this host-changing step run (a fix such as restart: it runs only when the host's cause offers it, then the runbook re-checks); without it a fix is reported as needing approval",
      },
      { flag: 'wait', value: 'DURATION', default: 'sum of the step timeouts + 2m', help: 'how long to wait for the result, e.g. 90s or 10m' },
      { flag: 'concurrency', value: 'N', default: '64', help: 'hosts the embedded worker diagnoses at once (1-256); more wait their turn' },
      RUNBOOKS,
    ],
    examples: ['npx triage run 502 wushipay --dry-run', 'npx triage run 502 wushipay --json | jq .cause', 'npx triage run 502 wushipay --approve restart'],
  },
  {
    name: 'worker',
    usage: 'triage worker [--concurrency N] [--per-host N] [--zone Z ...] [--config FILE] [--grace 30s] [--metrics-port N] [--log-level LEVEL]',
    summary: 'A long-running queue worker that runs steps on the hosts of its zones; start more (same Redis) to scale out.',
    details: ['SIGTERM or Ctrl-C finishes in-flight work (up to --grace), then hands the rest back to other workers.', RELOAD_DETAIL],
    flags: [
      { flag: 'concurrency', value: 'N', default: '8', help: 'host jobs this worker runs at once (1-256)' },
      { flag: 'per-host', value: 'N', default: '2', help: 'host jobs on one host at once, across all workers (1-64)' },
      { flag: 'zone', value: 'Z', multiple: true, default: 'every zone in the config', help: 'serve only hosts of this zone' },
      CONFIG,
      { flag: 'grace', value: 'Ns', default: '30s', help: 'how long a stop waits for in-flight work' },
      RUNBOOKS,
      ...OPS_FLAGS,
    ],
    examples: ['npx triage worker --zone default --concurrency 8', 'npx triage worker --metrics-port 9464 --log-level debug'],
  },
  {
    name: 'bot',
    usage: 'triage bot [--config FILE] [--console] [--no-worker] [--runbooks DIR] [--metrics-port N] [--log-level LEVEL]',
    summary: 'The chat bot: serves Telegram and/or Slack as configured under `chat:`, with an embedded worker.',
    details: [RELOAD_DETAIL],
    flags: [
      CONFIG,
      { flag: 'console', help: 'serve the chat core on this terminal instead (type /diagnose 502 shop)' },
      { flag: 'no-worker', help: 'do not start an embedded worker; external workers do the work' },
      RUNBOOKS,
      ...OPS_FLAGS,
    ],
    examples: ['npx triage bot', 'npx triage bot --console', 'npx triage bot --metrics-port 9464'],
  },
  {
    name: 'reload',
    usage: 'triage reload [--config FILE] [--wait 10s] [--json]',
    summary: 'Tells every running bot and worker of this deployment (same Redis and TRIAGE_PREFIX) to re-read its config and runbooks, and prints what each did.',
    details: [
      'The request goes over Redis, so it reaches processes on every machine; each re-reads its own files. One process alone: send it SIGHUP.',
      'The config named here is checked first (and gives the Redis): one that does not load is reported and nothing is sent. Exit codes: 0 every process reloaded, 1 one refused, did not answer, or none was listening, 2 bad input or config, 3 Redis not reachable.',
    ],
    flags: [
      CONFIG,
      { flag: 'wait', value: 'DURATION', default: '10s', help: 'how long to wait for the answers, e.g. 5s' },
      JSON_OUT,
    ],
    examples: ['npx triage reload', 'npx triage reload --config triage.yaml --json'],
  },
  {
    name: 'status',
    usage: 'triage status [runId] [--json] [--config FILE]',
    summary: 'Shows a run\'s state and verdict, or the recent runs when no run id is given.',
    flags: [JSON_OUT, CONFIG],
    examples: ['npx triage status', 'npx triage status r_mwt1a8nx65f70a95 --json'],
  },
  {
    name: 'audit',
    usage: 'triage audit [--count N] [--since TIME] [--json] [--config FILE]',
    summary: 'Prints the audit log: who asked for what, from which chat, with what outcome (refusals included).',
    flags: [
      { flag: 'count', value: 'N', default: '50', help: 'entries to show (1-10000), newest last' },
      { flag: 'since', value: 'TIME', help: 'only entries at or after this ISO time, e.g. 2026-01-01T00:00:00Z' },
      JSON_OUT,
      CONFIG,
    ],
    examples: ['npx triage audit --count 20'],
  },
  {
    name: 'lint',
    usage: 'triage lint [FILES...] [--config FILE] [--builtin-only] [--schema-only]',
    summary: 'Checks config and runbooks; every problem names the file, the path inside it and the fix. Exit 0 clean, 2 problems.',
    details: ['With no FILES: the config (as `run` finds it) and every runbook directory. A file with `hosts:` or `targets:` at the top is read as config, anything else as a runbook.'],
    flags: [
      CONFIG,
      { flag: 'builtin-only', help: 'check only the built-in runbooks' },
      { flag: 'schema-only', help: 'check config files against the schema only (key files and known_hosts need not exist here)' },
    ],
    examples: ['npx triage lint', 'npx triage lint --schema-only examples/triage.yaml'],
  },
  {
    name: 'sudoers',
    usage: 'triage sudoers [--config FILE] [--target NAME ...] [--user NAME] [--allow-changes]',
    summary: "Prints a sudoers snippet for Triage's unprivileged SSH user: exactly the read-only commands the built-in probes need for your targets.",
    details: [
      "The commands come from the probes' `# sudo:` headers, filled from the config (nginx paths, unit names) as the runbooks would fill them; a probe without its sudo rule says \"needs sudo for ...\" in its step instead of failing. Check and install it with `visudo -cf FILE` and `install -m 0440 FILE /etc/sudoers.d/triage` (docs/deploy.md).",
    ],
    flags: [
      CONFIG,
      { flag: 'target', value: 'NAME', multiple: true, default: 'every target', help: 'only the commands for this target' },
      { flag: 'user', value: 'NAME', default: 'triage', help: 'the SSH user the rules are for' },
      { flag: 'allow-changes', help: 'also allow the remediation commands (restart / reload: the `changes: true` steps), which still run only once approved' },
      RUNBOOKS,
    ],
    examples: ['npx triage sudoers --config deploy/triage.yaml', 'npx triage sudoers --config deploy/triage.yaml --allow-changes > triage.sudoers'],
  },
  {
    name: 'schema',
    usage: 'triage schema',
    summary: 'Prints the JSON Schema of runbook files, for editors.',
    flags: [],
    examples: ['npx triage schema > runbook.schema.json'],
  },
];

/** The table entry for `name`, if it is a command. */
export function commandHelp(name: string): CommandHelp | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** `triage --help`. */
export function overviewText(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: triage <command> [flags]',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${firstSentence(c.summary)}`),
    '',
    'Every command answers --help, e.g. `triage run --help`.',
    'Example: npx triage demo',
  ].join('\n');
}

/** `triage <command> --help`: usage, every flag with its default, an example. */
export function commandText(c: CommandHelp): string {
  const lines = [`usage: ${c.usage}`, '', c.summary, ...(c.details ?? [])];
  lines.push('', 'flags:');
  const rows = [...c.flags, { flag: 'help', short: 'h', default: '', help: 'show this help' } as FlagHelp].map((f) => [flagLabel(f), flagDescription(f)] as const);
  const width = Math.max(...rows.map(([l]) => l.length));
  for (const [l, d] of rows) lines.push(`  ${l.padEnd(width)}  ${d}`);
  lines.push('', c.examples.length > 1 ? 'examples:' : 'example:', ...c.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

/** `--param, -p k=v` */
export function flagLabel(f: FlagHelp): string {
  return `--${f.flag}${f.short ? `, -${f.short}` : ''}${f.value ? ` ${f.value}` : ''}`;
}

/** The help text plus `(default: …; repeatable)`; a switch without a stated default is off. An empty `default` shows none. */
export function flagDescription(f: FlagHelp): string {
  const shown = f.default ?? (f.value ? '' : 'off');
  const extra = [shown ? `default: ${shown}` : '', f.multiple ? 'repeatable' : ''].filter(Boolean);
  return extra.length ? `${f.help} (${extra.join('; ')})` : f.help;
}

function firstSentence(s: string): string {
  const i = s.indexOf('. ');
  return i < 0 ? s.replace(/\.$/, '') : s.slice(0, i);
}

/** The usage line of a command, for error fixes. */
export function usageOf(name: string): string {
  return commandHelp(name)?.usage ?? `triage ${name}`;
}
