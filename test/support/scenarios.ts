/**
 * One call builds a whole broken 502 setup — a real app behind a real nginx,
 * broken one way — plus the triage.yaml that points Triage at it as target
 * `shop`. Every fleet host is this machine, so every host sees the same app
 * and nginx.
 *
 * Deliberately left out: the expected diagnosis; tests state that themselves
 * (the scenario name is the cause code Triage should report).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { type AppHandle, type AppKind, startApp } from './apps.ts';
import { type NginxHandle, startNginx } from './nginx.ts';
import { canBind, freePort, makeTempDir, removeTempDir } from './processes.ts';

export type Scenario502 =
  | 'healthy'
  | 'service-down'
  | 'port-mismatch'
  | 'port-conflict'
  | 'dependency-missing'
  | 'code-error'
  | 'missing-env'
  | 'db-unreachable'
  | 'nginx-config-invalid'
  | 'upstream-error';

export const SCENARIOS_502: readonly Scenario502[] = [
  'healthy',
  'service-down',
  'port-mismatch',
  'port-conflict',
  'dependency-missing',
  'code-error',
  'missing-env',
  'db-unreachable',
  'nginx-config-invalid',
  'upstream-error',
];

const APP_FOR: Record<Scenario502, AppKind> = {
  healthy: 'ok',
  'service-down': 'stopped',
  'port-mismatch': 'wrong-port',
  'port-conflict': 'eaddrinuse',
  'dependency-missing': 'crash-module-py',
  'code-error': 'crash-syntax',
  'missing-env': 'crash-env',
  'db-unreachable': 'crash-db',
  'nginx-config-invalid': 'ok',
  'upstream-error': 'bad-response',
};

/** The `targets.shop` entry of the generated triage.yaml. */
export interface ShopTarget {
  hosts: string[];
  service: { manager: 'process'; name: string };
  port: number;
  health: string;
  nginx: { config: string; site: string; location: string };
  workdir: string;
  envFile: string;
  requiredEnv: string[];
  database: { kind: 'postgres'; host: string; port: number };
  logs: { file: string };
}

export interface ScenarioConfig {
  hosts: Record<string, object>;
  targets: { shop: ShopTarget };
}

export interface Setup502Options {
  /** The `hosts:` section, e.g. `fleetConfigHosts(fleet)` or `{ local: { address: 'local' } }`. */
  hosts: Record<string, object>;
  /** Hosts of target `shop`. Default every key of `hosts`. */
  hostNames?: string[];
}

export interface Setup502 {
  kind: Scenario502;
  /** A full triage.yaml object (hosts + targets.shop). */
  config: ScenarioConfig;
  /** The same, as YAML in `dir`. */
  configPath: string;
  target: 'shop';
  app: AppHandle;
  nginx: NginxHandle;
  /** Temp dir holding app/, nginx/ and triage.yaml. */
  dir: string;
  /** Stops app, intruder and nginx and removes `dir`. Idempotent. */
  cleanup(): Promise<void>;
}

/** Real PostgreSQL listens here on this machine. */
const DB_PORT = 5432;

/** A free port whose neighbour is free too (for `wrong-port`, which listens on port+1). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort();
    if (port < 65535 && (await canBind('127.0.0.1', port + 1))) return port;
  }
  throw new Error('setup502: no free port pair after 20 attempts');
}

/** Builds the broken (or healthy) setup for `kind` and its triage config. Runs concurrently with others. */
export async function setup502(kind: Scenario502, opts: Setup502Options): Promise<Setup502> {
  const dir = await makeTempDir(`triage-502-${kind}-`);
  let app: AppHandle | undefined;
  let nginx: NginxHandle | undefined;
  const cleanup = async (): Promise<void> => {
    await Promise.all([app?.stop(), nginx?.stop()]);
    await removeTempDir(dir);
  };
  try {
    const port = kind === 'port-mismatch' ? await freePortPair() : await freePort();
    app = await startApp(APP_FOR[kind], { port, dir: path.join(dir, 'app') });
    nginx = await startNginx({ dir: path.join(dir, 'nginx'), upstreamPort: port });
    if (kind === 'nginx-config-invalid') await nginx.breakSite();

    const shop: ShopTarget = {
      hosts: opts.hostNames ?? Object.keys(opts.hosts),
      service: { manager: 'process', name: app.marker },
      port,
      health: `http://127.0.0.1:${port}/health`,
      nginx: { config: nginx.configPath, site: nginx.sitePath, location: '/api' },
      workdir: app.workdir,
      envFile: '.env',
      requiredEnv: ['JWT_SECRET', 'DATABASE_URL'],
      database: { kind: 'postgres', host: '127.0.0.1', port: app.dbPort ?? DB_PORT },
      logs: { file: app.logFile },
    };
    const config: ScenarioConfig = { hosts: opts.hosts, targets: { shop } };
    const configPath = path.join(dir, 'triage.yaml');
    await fsp.writeFile(configPath, stringify(config));

    let cleaned: Promise<void> | undefined;
    return {
      kind,
      config,
      configPath,
      target: 'shop',
      app,
      nginx,
      dir,
      cleanup() {
        cleaned ??= cleanup();
        return cleaned;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
