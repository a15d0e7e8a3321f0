/**
 * `npx tsx bench/health-host-504.ts`: how long the `health`, `host` and `504`
 * runbooks take to name each cause, over SSH through the real queue (the
 * CLI's embedded worker), on the same real broken setups their tests use.
 * Three runs each; prints the median of the result's `durationMs` and the
 * cause found. Asserts nothing; everything it starts is stopped at the end.
 */
import { runCli } from '../test/support/cli.ts';
import { fleetConfigHosts, startFleet } from '../test/support/fleet.ts';
import { freePort, makeTempDir, removeTempDir } from '../test/support/processes.ts';
import { type Scenario502, setup502 } from '../test/support/scenarios.ts';
import { makeCerts, pgDatabase, plainServer, runCliWithoutDns, setup504, tlsServer, tmpfs } from '../test/runbooks/setups.ts';

const RUNS = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const fleet = await startFleet({ hosts: 1 });
const hosts = fleetConfigHosts(fleet);
const root = await makeTempDir('triage-bench-hh5-');
const empty = await tmpfs({ fill: false });
const full = await tmpfs({ fill: true });
const certs = await makeCerts(`${root}/certs`);
const [expired, plain] = await Promise.all([tlsServer(certs.expired), plainServer()]);
const rows: string[] = [];

async function measure(label: string, once: () => Promise<{ cause: string | null; durationMs: number }>): Promise<void> {
  const times: number[] = [];
  const causes = new Set<string>();
  for (let i = 0; i < RUNS; i++) {
    const r = await once();
    times.push(r.durationMs);
    causes.add(r.cause ?? 'healthy');
  }
  rows.push(`${label.padEnd(44)} ${[...causes].join('/').padEnd(22)} median ${median(times)} ms  (${times.join(', ')})`);
}

const params = (p: Record<string, string>) => Object.entries(p).flatMap(([k, v]) => ['--param', `${k}=${v}`]);

try {
  // health: the 502 setups plus a full disk
  const kinds: Scenario502[] = ['healthy', 'service-down', 'port-mismatch', 'port-conflict', 'dependency-missing', 'upstream-error'];
  for (const kind of kinds) {
    const s = await setup502(kind, { hosts });
    try {
      await measure(`health / ${kind}`, async () => (await runCli(['run', 'health', 'shop', '--config', s.configPath, '--json', ...params({ mount: empty.dir })])).json);
      if (kind === 'healthy') {
        await measure('health / full disk', async () => (await runCli(['run', 'health', 'shop', '--config', s.configPath, '--json', ...params({ mount: full.dir })])).json);
      }
    } finally {
      await s.cleanup();
    }
  }

  // host: limits moved across the real values, a full tmpfs, .invalid names without DNS
  const s = await setup502('healthy', { hosts });
  const local = await setup502('healthy', { hosts: { web1: { address: 'local' } } });
  try {
    const neutral = { mount: empty.dir, mem_available_pct: '0', swap_used_pct: '101', load_pct: '100000' };
    const host = (p: Record<string, string>) => async () => (await runCli(['run', 'host', 'shop', '--config', s.configPath, '--json', ...params({ ...neutral, ...p })])).json;
    await measure('host / healthy', host({}));
    await measure('host / full tmpfs', host({ mount: full.dir }));
    await measure('host / memory limit above MemAvailable', host({ mem_available_pct: '101' }));
    await measure('host / load limit 0%', host({ load_pct: '0' }));
    await measure('host / .invalid name, no resolver', async () => (await runCliWithoutDns(['run', 'host', 'shop', '--config', local.configPath, '--json', ...params({ ...neutral, name: 'db.shop.invalid' })])).json);
  } finally {
    await Promise.all([s.cleanup(), local.cleanup()]);
  }

  // 504
  const with504 = async (label: string, o: Parameters<typeof setup504>[0], p: Record<string, string> = {}, before?: () => Promise<unknown>) => {
    const x = await setup504(o);
    try {
      await before?.();
      const run = o.hosts.web1 && (o.hosts.web1 as { address?: string }).address === 'local' ? runCliWithoutDns : runCli;
      await measure(label, async () => (await run(['run', '504', 'shop', '--config', x.configPath, '--json', ...params(p)])).json);
    } finally {
      await x.cleanup();
    }
  };
  await with504('504 / healthy', { root, hosts, app: 'ok' });
  await with504('504 / slow app, proxy_read_timeout 1s', { root, hosts, app: 'slow' });
  const db = await pgDatabase();
  try {
    await with504('504 / slow app + pg_sleep(60)', { root, hosts, app: 'slow', db }, { slow_query: '1s' }, () => db.sleepingQuery(60, 1.5));
  } finally {
    await db.cleanup();
  }
  await with504('504 / third party: refused port', { root, hosts, app: 'ok', upstreams: [`http://127.0.0.1:${await freePort()}/`] });
  await with504('504 / third party: plain port behind https', { root, hosts, app: 'ok', upstreams: [`https://127.0.0.1:${plain.port}/`] });
  await with504('504 / third party: expired certificate', { root, hosts, app: 'ok', upstreams: [expired.url] }, { ca_file: certs.ca });
  await with504('504 / third party: .invalid name', { root, hosts: { web1: { address: 'local' } }, app: 'ok', upstreams: ['https://api.payments.invalid/'] });
} finally {
  await Promise.all([expired.stop(), plain.stop()]);
  await Promise.all([empty.cleanup(), full.cleanup()]);
  await removeTempDir(root);
  await fleet.stop();
}
console.log(rows.join('\n'));
process.exit(0);
