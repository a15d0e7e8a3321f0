/**
 * `triage init`: writes a `triage.yaml` for one service that passes
 * `triage lint`, from what a person confirms and a read-only look at the host.
 *
 * 1. The values: asked on a terminal, or all from flags with `--yes`.
 * 2. The host key: fetched without logging in, shown as `SHA256:...` and
 *    pinned only when the person says yes, or when it equals `--host-key`.
 * 3. A look at the host over the SSH executor with that key pinned (see
 *    `init/host-facts.ts`: nothing on the host is changed) and proposals for
 *    port, service, nginx, logs, health and workdir, each confirmed or edited.
 * 4. The text is checked with the config loader and lint, then written
 *    (never over an existing file without `--force`).
 *
 * Exit codes: 0 written, 2 bad input or refused (nothing written), 3 the host
 * could not be reached or logged into (nothing written).
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { HOST_NAME_RE, lintConfig, loadConfig, parseConfig, resolveHost, TARGET_NAME_RE } from '../config.ts';
import { TriageError, TriageErrors } from '../errors.ts';
import { SshExecutor } from '../executors/ssh.ts';
import { checkConfigText, type InitConfig, type InitHost, type InitTarget, renderConfig } from '../init/config-text.ts';
import { findHealthUrl, type HostFacts, type HostRunner, lookAtHost } from '../init/host-facts.ts';
import { type ScannedHostKey, scanHostKey } from '../init/host-key-scan.ts';
import { type Prompter, terminalPrompter } from '../init/prompt.ts';
import { type LogsProposal, type Proposal, propose, type ServiceProposal } from '../init/propose.ts';
import { type CliIO, parse } from './io.ts';

const USAGE = 'see `triage init --help`';
const MAX_TRIES = 5;
const PLACEHOLDER_KEY = `SHA256:${'A'.repeat(43)}`;
const PROBE_TIMEOUT_MS = 15_000;

type Field =
  | 'address'
  | 'ssh-port'
  | 'user'
  | 'key'
  | 'target'
  | 'host-name'
  | 'host-key'
  | 'port'
  | 'service'
  | 'nginx-config'
  | 'nginx-site'
  | 'location'
  | 'logs'
  | 'health'
  | 'workdir';

/** Options for tests and embedding. */
export interface InitCommandOptions {
  /** Asks the questions; default the terminal when stdin and stdout are TTYs. */
  prompter?: Prompter;
}

export async function initCommand(args: string[], io: CliIO, opts: InitCommandOptions = {}): Promise<number> {
  const { values: v, positionals } = parse(args, 'init');
  if (positionals.length) throw new TriageError('USAGE', `unexpected argument ${JSON.stringify(positionals[0]!.slice(0, 40))}`, { fix: USAGE });
  const flag = (name: Field | 'config'): string | undefined => (typeof v[name] === 'string' ? (v[name] as string) : undefined);
  const yes = v.yes === true;
  const force = v.force === true;

  let prompter = opts.prompter;
  if (!yes && !prompter) {
    if (!process.stdin.isTTY || !process.stdout.isTTY) {
      throw new TriageError('USAGE', 'no terminal to ask on', { fix: 'pass --yes with --address, --target and --host-key (see triage init --help)' });
    }
    prompter = terminalPrompter();
  }
  const session = new InitSession(io, prompter, yes);
  try {
    return await session.run(flag, force);
  } finally {
    prompter?.close();
  }
}

/** One `triage init` from first question to written file. */
class InitSession {
  private readonly state: { hostName: string; host: Partial<InitHost>; targetName?: string; target: InitTarget; why: InitConfig['why'] & object } = {
    hostName: 'web1',
    host: {},
    target: {},
    why: {},
  };
  private file = '';

  constructor(
    private readonly io: CliIO,
    private readonly prompter: Prompter | undefined,
    private readonly yes: boolean,
  ) {}

  async run(flag: (name: Field | 'config') => string | undefined, force: boolean): Promise<number> {
    const { io } = this;
    if (this.prompter) io.out('triage init: writes triage.yaml for one service. It only reads from the host; nothing there is changed.');

    // Where to write: first, so an existing file is refused before anything else happens.
    const fileArg = flag('config') ?? (this.prompter ? await this.prompter.ask('Write the config to [./triage.yaml]: ') : '') ?? '';
    this.file = resolve(io.cwd, fileArg || 'triage.yaml');
    this.checkWritable(force);

    if (this.yes) {
      const missing = (['address', 'target', 'host-key'] as const).filter((f) => flag(f) === undefined);
      if (missing.length) throw new TriageError('USAGE', `--yes needs ${missing.map((m) => `--${m}`).join(', ')}`, { fix: USAGE });
    }
    const hostName = flag('host-name') ?? 'web1';
    if (!HOST_NAME_RE.test(hostName)) throw fieldError('host-name', hostName, 'not a valid host name', 'start with a letter or digit, then letters, digits, . _ - (at most 63)');
    this.state.hostName = hostName;

    const h = this.state.host;
    h.address = await this.value('address', flag('address'), 'Host address (IP or DNS name)', undefined, (s) => {
      if (s === 'local') throw new TriageError('USAGE', 'init sets up a host reached over SSH', { fix: 'for this machine itself write hosts: { local: { address: local } } by hand' });
      return s;
    });
    h.port = await this.value('ssh-port', flag('ssh-port'), 'SSH port', '22', (s) => parsePort(s));
    h.user = await this.value('user', flag('user'), 'SSH user', io.env.USER || userInfo().username, (s) => s);
    h.privateKey = await this.value('key', flag('key'), 'Private key file', defaultKey(io.env), (s) => keyPath(s, io.cwd));
    this.state.targetName = await this.value('target', flag('target'), 'Target name (the service, e.g. shop)', undefined, (s) => {
      if (!TARGET_NAME_RE.test(s)) throw new TriageError('USAGE', 'not a valid target name', { fix: 'use lower-case letters, digits, _ and -, starting with a letter or digit, e.g. shop' });
      return s;
    });
    const expected = flag('host-key');
    if (expected !== undefined) h.hostKey = await this.value('host-key', expected, '', undefined, (s) => s);

    // Flag overrides for the target are checked now too: bad input never waits for the network.
    const overrides = parseOverrides(flag);
    Object.assign(this.state.target, overrides.values);
    this.failOnProblems([...overrides.given]);

    const scanned = await scanHostKey(h.address, h.port!);
    await this.confirmHostKey(scanned, expected);

    const loaded = parseConfig(this.text(), this.file, io.env);
    const spec = resolveHost(loaded, hostName, io.env);
    const executor = new SshExecutor({ maxSessionsPerHost: 1 });
    try {
      const run: HostRunner = (command, o) => executor.exec(spec, command, { timeoutMs: PROBE_TIMEOUT_MS, maxOutputBytes: o?.maxOutputBytes });
      io.out(`Looking at ${h.user}@${h.address} (read-only) ...`);
      const facts = await lookAtHost(run).catch((e: unknown) => {
        // ssh2 throws plain errors for keys it cannot use (e.g. encrypted without a passphrase).
        if (e instanceof TriageError) throw e;
        throw new TriageError('SSH_AUTH', `cannot log in to ${h.address}:${h.port} with ${h.privateKey}: ${(e as Error).message}`, { fix: 'use an unencrypted key made for Triage (ssh-keygen -t ed25519 -N "")', cause: e });
      });
      for (const n of facts.notes) io.out(`  ${n}`);
      await this.settleTarget(facts, overrides.given, run);
    } finally {
      await executor.close();
    }
    return await this.write(force, scanned, expected);
  }

  /** The file as it would be written now (placeholders where values are not known yet). */
  private text(header?: string[]): string {
    const h = this.state.host;
    return renderConfig({
      hostName: this.state.hostName,
      host: {
        address: h.address ?? '127.0.0.1',
        port: h.port ?? 22,
        user: h.user ?? 'root',
        privateKey: h.privateKey ?? '/nonexistent',
        hostKey: h.hostKey ?? PLACEHOLDER_KEY,
      },
      targetName: this.state.targetName ?? 'target',
      target: this.state.target,
      why: this.state.why,
      header,
    });
  }

  /** Problems the loader and lint find, by the flag they belong to. */
  private problems(): { field: Field | undefined; what: string; fix?: string }[] {
    const hp = `hosts.${fmtKey(this.state.hostName)}`;
    const tp = `targets.${fmtKey(this.state.targetName ?? 'target')}`;
    return checkConfigText(this.text(), this.file, this.io.env).map((e) => {
      const field = fieldOf(e.path ?? '', hp, tp);
      const what = e.message.replace(/ \(line \d+:\d+\)$/, '');
      return { field, what: `${field ? `--${field}: ` : ''}${what}`, fix: e.fix };
    });
  }

  /** Throws the first problem of `fields` as one line (exit 2). */
  private failOnProblems(fields: Field[]): void {
    const p = this.problems().find((x) => x.field !== undefined && fields.includes(x.field));
    if (p) throw new TriageError('USAGE', `${p.what} (nothing written)`, { fix: p.fix });
  }

  private checkWritable(force: boolean): void {
    const rel = this.shown();
    if (existsSync(this.file) && !force) {
      throw new TriageError('USAGE', `${rel} already exists — nothing written`, { fix: 'pass --force to overwrite it, or --config OTHER_FILE' });
    }
    const dir = dirname(this.file);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TriageError('USAGE', `cannot write ${rel}: ${dir} is not a directory`, { fix: 'create the directory first, or pass another --config' });
  }

  private shown(): string {
    const rel = relative(this.io.cwd, this.file);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : this.file;
  }

  /**
   * One value: the flag when given (checked, exit 2 on a problem), else asked
   * (re-asked on a problem, at most 5 times), else the default with --yes.
   */
  private async value<T>(field: Field, given: string | undefined, question: string, def: string | undefined, parseValue: (s: string) => T): Promise<T> {
    // parseValue throws what is wrong without naming the flag; problems() lines already name it.
    const check = (s: string): T => {
      let parsed: T;
      try {
        parsed = parseValue(s);
      } catch (e) {
        if (e instanceof TriageError) throw fieldError(field, s, e.message, e.fix ?? '');
        throw e;
      }
      this.assign(field, parsed);
      const p = this.problems().find((x) => x.field === field);
      if (p) throw new TriageError('USAGE', `${p.what} (nothing written)`, { fix: p.fix });
      return parsed;
    };
    if (given !== undefined || !this.prompter) {
      const s = given ?? def;
      if (s === undefined) throw new TriageError('USAGE', `--${field} is required`, { fix: USAGE });
      return check(s);
    }
    for (let i = 0; i < MAX_TRIES; i++) {
      const answer = (await this.prompter.ask(`${question}${def ? ` [${def}]` : ''}: `)) || def;
      if (!answer) {
        this.io.out('  (needed)');
        continue;
      }
      try {
        return check(answer);
      } catch (e) {
        if (!(e instanceof TriageError)) throw e;
        this.io.out(`  ${forPrompt(e)}`);
      }
    }
    throw new TriageError('USAGE', `no valid ${question.toLowerCase()} after ${MAX_TRIES} tries — nothing written`);
  }

  private assign(field: Field, value: unknown): void {
    const h = this.state.host;
    const t = this.state.target;
    switch (field) {
      case 'address':
        h.address = value as string;
        break;
      case 'ssh-port':
        h.port = value as number;
        break;
      case 'user':
        h.user = value as string;
        break;
      case 'key':
        h.privateKey = value as string;
        break;
      case 'host-key':
        h.hostKey = value as string;
        break;
      case 'target':
        this.state.targetName = value as string;
        break;
      case 'host-name':
        this.state.hostName = value as string;
        break;
      default:
        setTarget(t, field, value);
    }
  }

  private async confirmHostKey(scanned: ScannedHostKey, expected: string | undefined): Promise<void> {
    const h = this.state.host;
    const where = `${h.address}:${h.port}`;
    this.io.out(`${where} presents an ${scanned.type} host key with fingerprint`);
    this.io.out(`  ${scanned.fingerprint}`);
    if (expected !== undefined && expected.replace(/=+$/, '') !== scanned.fingerprint) {
      throw new TriageError('PARAM_INVALID', `${where} presents host key ${scanned.fingerprint}, not the --host-key ${expected} — refusing to pin it, nothing written`, {
        fix: 'check the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and whether something sits between you and it',
      });
    }
    if (expected !== undefined) this.io.out('  it matches --host-key');
    if (this.prompter) {
      this.io.out(`  compare it on the host: ssh-keygen -lf /etc/ssh/ssh_host_${scanned.type.toLowerCase().replace(/-sk$/, '')}_key.pub`);
      const answer = (await this.prompter.ask('Pin this key? [y/N]: ')).toLowerCase();
      if (answer !== 'y' && answer !== 'yes') throw new TriageError('USAGE', 'host key not pinned — nothing written', { fix: 'run triage init again once you have checked the fingerprint' });
    }
    h.hostKey = scanned.fingerprint;
  }

  /** Port first; the rest is proposed for the port that was settled. */
  private async settleTarget(facts: HostFacts, given: Set<Field>, run: HostRunner): Promise<void> {
    const t = this.state.target;
    const { targetName = 'target' } = this.state;
    const address = this.state.host.address!;
    const first = propose(facts, targetName, address, given.has('port') ? t.port : undefined);
    if (this.prompter) this.io.out(`Proposed for target ${targetName} (Enter keeps it, type another value to change it, - to leave it out):`);
    if (!given.has('port')) await this.settle('port', first.port?.value, first.port?.why, 'app port', (n) => String(n));
    const p: Proposal = propose(facts, targetName, address, t.port ?? null);
    const why = (x?: { why: string }) => x?.why;
    if (!given.has('service')) await this.settle('service', p.service?.value, why(p.service), 'service', (s: ServiceProposal) => `${s.manager}:${s.name}`);
    if (!given.has('nginx-config')) await this.settle('nginx-config', p.nginx?.value.config, why(p.nginx), 'nginx config', String);
    if (t.nginx) {
      if (!given.has('nginx-site')) await this.settle('nginx-site', p.nginx?.value.site, undefined, 'nginx site', String);
      if (!given.has('location')) await this.settle('location', p.nginx?.value.location, undefined, 'nginx location', String);
    }
    if (!given.has('logs')) await this.settle('logs', p.logs?.value, why(p.logs), 'logs', logsText);
    if (!given.has('health')) {
      const url = t.port === undefined ? undefined : await findHealthUrl(run, p.listenAddress ?? '127.0.0.1', t.port);
      await this.settle('health', url, url ? 'it answered 2xx to a GET from the host during init' : undefined, 'health URL', String);
    }
    if (!given.has('workdir')) await this.settle('workdir', p.workdir?.value, why(p.workdir), 'workdir', String);
  }

  /** A proposed value: kept with --yes; on a terminal, confirmed, changed or left out. */
  private async settle<T>(field: Field, proposed: T | undefined, why: string | undefined, label: string, show: (v: T) => string): Promise<void> {
    const key = targetKeyOf(field);
    if (!this.prompter) {
      if (proposed !== undefined) {
        this.assign(field, proposed);
        if (why && key) this.state.why[key] = why;
      }
      return;
    }
    const def = proposed === undefined ? '-' : show(proposed);
    if (why) this.io.out(`  ${label}: ${why}`);
    for (let i = 0; i < MAX_TRIES; i++) {
      const answer = (await this.prompter.ask(`  ${label} [${def}]: `)) || def;
      try {
        if (answer === '-' || answer === 'none') {
          this.assign(field, null);
          if (key && field !== 'nginx-site' && field !== 'location') delete this.state.why[key];
          return;
        }
        const value = answer === def && proposed !== undefined ? proposed : parseField(field, answer);
        this.assign(field, value);
        const problem = this.problems().find((x) => x.field === field);
        if (problem) {
          this.io.out(`  ${forPrompt(new TriageError('USAGE', problem.what, { fix: problem.fix }))}`);
          continue;
        }
        if (key && field !== 'nginx-site' && field !== 'location') {
          if (answer === def && why) this.state.why[key] = why;
          else delete this.state.why[key];
        }
        return;
      } catch (e) {
        if (!(e instanceof TriageError)) throw e;
        this.io.out(`  ${forPrompt(e)}`);
      }
    }
    throw new TriageError('USAGE', `no valid ${label} after ${MAX_TRIES} tries — nothing written`);
  }

  private async write(force: boolean, scanned: ScannedHostKey, expected: string | undefined): Promise<number> {
    const { io } = this;
    const h = this.state.host;
    const target = this.state.targetName!;
    const header = [
      `triage.yaml for ${target}, written by \`triage init\` on ${new Date().toISOString().slice(0, 10)}`,
      `from a read-only look at ${h.user}@${h.address}:${h.port} — nothing on the host was changed.`,
      `Host key ${scanned.fingerprint} (${scanned.type}) pinned after ${expected ? 'it matched --host-key' : 'you confirmed it'}.`,
      'Check the values below (comments say where each came from); every key is described in examples/triage.yaml.',
    ];
    const text = this.text(header);
    const problems = checkConfigText(text, this.file, io.env);
    if (problems.length) throw new TriageErrors(problems);
    try {
      writeFileSync(this.file, text, { flag: force ? 'w' : 'wx' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new TriageError('USAGE', code === 'EEXIST' ? `${this.shown()} appeared while init ran — nothing written` : `cannot write ${this.shown()}: ${code ?? (e as Error).message}`, {
        fix: code === 'EEXIST' ? 'pass --force to overwrite it' : 'check the directory and its permissions',
      });
    }
    // Read back through the same loader and lint that `triage lint` uses.
    const written = lintConfig(await loadConfig({ file: this.file, cwd: io.cwd, env: io.env }));
    if (written.length) throw new TriageErrors(written);
    const isDefault = this.file === resolve(io.cwd, 'triage.yaml');
    io.out(`wrote ${this.shown()} — next: npx triage run 502 ${target}${isDefault ? '' : ` --config ${this.shown()}`} --dry-run`);
    return 0;
  }
}

/** A problem shown under a question: without the flag name (the question names it). */
function forPrompt(e: TriageError): string {
  return e
    .toLine()
    .replace(/^--[\w-]+( "[^"]*")?: /, '')
    .replace(/ \(nothing written\)/, '');
}

// ---------------------------------------------------------------------------
// Values

function fmtKey(s: string): string {
  return /^[A-Za-z0-9_-]+$/.test(s) ? s : JSON.stringify(s);
}

const HOST_FIELDS: Record<string, Field> = { address: 'address', port: 'ssh-port', user: 'user', privateKey: 'key', hostKey: 'host-key' };
const TARGET_FIELDS: Record<string, Field> = {
  port: 'port',
  service: 'service',
  health: 'health',
  workdir: 'workdir',
  logs: 'logs',
  nginx: 'nginx-config',
  'nginx.config': 'nginx-config',
  'nginx.site': 'nginx-site',
  'nginx.location': 'location',
};

/** The flag a config path belongs to. */
function fieldOf(path: string, hostPrefix: string, targetPrefix: string): Field | undefined {
  if (path === hostPrefix) return 'host-name';
  if (path.startsWith(`${hostPrefix}.`)) return HOST_FIELDS[path.slice(hostPrefix.length + 1).split('.')[0]!];
  if (path === targetPrefix) return 'target';
  if (path.startsWith(`${targetPrefix}.`)) {
    const rest = path.slice(targetPrefix.length + 1);
    return TARGET_FIELDS[rest.split('.').slice(0, 2).join('.')] ?? TARGET_FIELDS[rest.split('.')[0]!];
  }
  return undefined;
}

function targetKeyOf(field: Field): keyof InitTarget | undefined {
  switch (field) {
    case 'port':
    case 'service':
    case 'logs':
    case 'health':
    case 'workdir':
      return field;
    case 'nginx-config':
    case 'nginx-site':
    case 'location':
      return 'nginx';
    default:
      return undefined;
  }
}

function fieldError(field: Field, value: string, what: string, fix: string): TriageError {
  return new TriageError('USAGE', `--${field} ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}: ${what} (nothing written)`, { fix: fix || undefined });
}

function parsePort(s: string): number {
  if (!/^\d{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535) throw new TriageError('USAGE', 'not a port', { fix: 'use a number from 1 to 65535' });
  return Number(s);
}

const MANAGERS = ['systemd', 'pm2', 'docker', 'process'] as const;
const LOG_KINDS = ['file', 'journal', 'pm2', 'docker'] as const;
const NONE = new Set(['none', '-']);

/** Parses what was typed or passed for a target field; `null` means "leave it out". */
function parseField(field: Field, s: string): unknown {
  if (NONE.has(s)) return null;
  switch (field) {
    case 'port':
      return parsePort(s);
    case 'service': {
      const i = s.indexOf(':');
      const manager = i < 0 ? s : s.slice(0, i);
      if (!(MANAGERS as readonly string[]).includes(manager)) {
        throw new TriageError('USAGE', `unknown service manager ${JSON.stringify(manager.slice(0, 30))}`, { fix: 'write systemd:UNIT, pm2:NAME, docker:NAME or process:PGREP-PATTERN' });
      }
      if (i < 0 || !s.slice(i + 1)) throw new TriageError('USAGE', `no name after ${manager}:`, { fix: `write ${manager}:NAME` });
      return { manager, name: s.slice(i + 1) } as ServiceProposal;
    }
    case 'logs': {
      const i = s.indexOf(':');
      const kind = i < 0 ? s : s.slice(0, i);
      if (!(LOG_KINDS as readonly string[]).includes(kind) || !s.slice(i + 1) || i < 0) {
        throw new TriageError('USAGE', `not a log source`, { fix: 'write file:/var/log/app.log, journal:UNIT, pm2:NAME or docker:NAME' });
      }
      return { [kind]: s.slice(i + 1) } as LogsProposal;
    }
    default:
      return s;
  }
}

function setTarget(t: InitTarget, field: Field, value: unknown): void {
  const none = value === null || value === undefined;
  switch (field) {
    case 'port':
      if (none) delete t.port;
      else t.port = value as number;
      break;
    case 'service':
      if (none) delete t.service;
      else t.service = value as ServiceProposal;
      break;
    case 'logs':
      if (none) delete t.logs;
      else t.logs = value as LogsProposal;
      break;
    case 'health':
      if (none) delete t.health;
      else t.health = value as string;
      break;
    case 'workdir':
      if (none) delete t.workdir;
      else t.workdir = value as string;
      break;
    case 'nginx-config':
      if (none) delete t.nginx;
      else t.nginx = { ...t.nginx, config: value as string };
      break;
    case 'nginx-site':
    case 'location': {
      if (!t.nginx) {
        if (none) break;
        t.nginx = { config: '/etc/nginx/nginx.conf' };
      }
      const k = field === 'nginx-site' ? 'site' : 'location';
      if (none) delete t.nginx[k];
      else t.nginx[k] = value as string;
      break;
    }
    default:
      break;
  }
}

/** The target flags given on the command line, parsed (exit 2 on a bad one). */
function parseOverrides(flag: (name: Field) => string | undefined): { values: InitTarget; given: Set<Field> } {
  const t: InitTarget = {};
  const given = new Set<Field>();
  for (const field of ['port', 'service', 'nginx-config', 'nginx-site', 'location', 'logs', 'health', 'workdir'] as const) {
    const s = flag(field);
    if (s === undefined) continue;
    given.add(field);
    try {
      setTarget(t, field, parseField(field, s));
    } catch (e) {
      if (e instanceof TriageError) throw fieldError(field, s, e.message, e.fix ?? '');
      throw e;
    }
  }
  return { values: t, given };
}

function logsText(l: LogsProposal): string {
  const [k, v] = Object.entries(l)[0]!;
  return `${k}:${v}`;
}

/** Keeps `~/...` as typed (the loader expands it); makes other relative paths absolute. */
function keyPath(s: string, cwd: string): string {
  return s === '~' || s.startsWith('~/') || isAbsolute(s) ? s : resolve(cwd, s);
}

function defaultKey(env: NodeJS.ProcessEnv): string {
  const home = env.HOME || homedir();
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) if (existsSync(resolve(home, '.ssh', name))) return `~/.ssh/${name}`;
  return '~/.ssh/id_ed25519';
}

