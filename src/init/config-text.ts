/**
 * The `triage.yaml` that `triage init` writes: one host, one target, a short
 * header saying where the values came from, and a trailing comment on each
 * proposed value with its evidence. The text is checked with the project's
 * own loader ({@link parseConfig}) and {@link lintConfig} before it is
 * written, so `triage lint` agrees with it.
 */
import { Document, isCollection, isScalar } from 'yaml';
import { lintConfig, parseConfig } from '../config.ts';
import { isTriageError, type TriageError, TriageErrors } from '../errors.ts';
import type { LogsProposal, NginxProposal, ServiceProposal } from './propose.ts';

/** `hosts.NAME` as written. */
export interface InitHost {
  address: string;
  port: number;
  user: string;
  privateKey: string;
  /** `SHA256:...`; a placeholder while checking flags before the key is fetched. */
  hostKey: string;
}

/** `targets.NAME` as written (only what was confirmed). */
export interface InitTarget {
  service?: ServiceProposal;
  port?: number;
  health?: string;
  nginx?: NginxProposal;
  workdir?: string;
  logs?: LogsProposal;
}

/** Everything that goes into the file. */
export interface InitConfig {
  hostName: string;
  host: InitHost;
  targetName: string;
  target: InitTarget;
  /** Trailing comments by target key (`port`, `service`, ...). */
  why?: Partial<Record<keyof InitTarget, string>>;
  /** Header lines (without `#`). */
  header?: string[];
}

const TARGET_KEYS: (keyof InitTarget)[] = ['service', 'port', 'health', 'nginx', 'workdir', 'logs'];
const FLOW_KEYS: (keyof InitTarget)[] = ['service', 'nginx', 'logs'];

/** Renders the YAML text. */
export function renderConfig(c: InitConfig): string {
  const target: Record<string, unknown> = { hosts: [c.hostName] };
  for (const k of TARGET_KEYS) if (c.target[k] !== undefined) target[k] = c.target[k];
  const host = { address: c.host.address, port: c.host.port, user: c.host.user, privateKey: c.host.privateKey, hostKey: c.host.hostKey };
  const doc = new Document({ hosts: { [c.hostName]: host }, targets: { [c.targetName]: target } });
  if (c.header?.length) doc.commentBefore = c.header.map((l) => ` ${l}`).join('\n');
  const at = (...path: string[]) => doc.getIn(path, true);
  const hosts = at('targets', c.targetName, 'hosts');
  if (isCollection(hosts)) hosts.flow = true;
  for (const k of FLOW_KEYS) {
    const node = at('targets', c.targetName, k);
    if (isCollection(node)) node.flow = true;
  }
  for (const k of TARGET_KEYS) {
    const why = c.why?.[k];
    const node = at('targets', c.targetName, k);
    if (why && (isScalar(node) || isCollection(node))) node.comment = ` ${why.replace(/\s*\n\s*/g, ' ')}`;
  }
  return doc.toString({ lineWidth: 0 });
}

/**
 * Every problem the loader and lint find in `text` as if it were `file`
 * (relative key paths resolve against its folder). Empty means it lints clean.
 */
export function checkConfigText(text: string, file: string, env: NodeJS.ProcessEnv): TriageError[] {
  try {
    return lintConfig(parseConfig(text, file, env));
  } catch (e) {
    if (e instanceof TriageErrors) return e.errors;
    if (isTriageError(e)) return [e];
    throw e;
  }
}
