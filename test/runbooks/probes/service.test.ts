/**
 * The `service` probe, one manager at a time: is the app up, which processes
 * are its own (children included), what they listen on, and which command
 * starts it again — for systemd, pm2 and docker against stub commands that
 * replay real outputs, and for a plain process against real processes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, randomId, spawnTracked, type TrackedChild, waitUntil } from '../../support/processes.ts';
import { facts, fixture, runProbe, type StubAnswer } from './harness.ts';

// A service whose main process 4242 has two workers; one of them listens on :8000.
const PS_TREE: StubAnswer[] = [
  { args: '-e -o pid=,ppid=', stdout: '    1     0\n  300     1\n 4242     1\n 4250  4242\n 4251  4242\n 9000   300\n' },
  {
    args: '-o pid=,etime=,args= -p 4242,4250,4251',
    stdout: ' 4242    01:02:03 /home/ubuntu/wushizhifu/venv/bin/python3 api_server.py\n 4250    01:02:02 worker 1\n 4251    01:02:02 worker 2\n',
  },
];
const SS_ALL: StubAnswer[] = [
  {
    args: '-Hltnp',
    stdout:
      'LISTEN 0      511    127.0.0.1:6379  0.0.0.0:* users:(("redis-server",pid=300,fd=6))\n' +
      'LISTEN 0      2048   127.0.0.1:8000  0.0.0.0:* users:(("python3",pid=4250,fd=5),("python3",pid=4251,fd=5))\n' +
      'LISTEN 0      511    0.0.0.0:80      0.0.0.0:* users:(("nginx",pid=9000,fd=6))\n',
  },
];

describe('service probe: systemd', () => {
  const show = (stdout: string, exit = 0): Record<string, StubAnswer[]> => ({
    systemctl: [{ args: 'show -p LoadState -p ActiveState -p SubState -p NRestarts -p ExecMainStatus -p MainPID -p ControlGroup *', stdout, exit }],
    ps: PS_TREE,
    ss: SS_ALL,
  });

  it('a running unit: active, its main pid and workers, the port its workers hold, and systemd commands', async () => {
    const r = await runProbe('service', { args: ['systemd', 'wushipay-api.service'], stubs: show(fixture('systemd-show-active.txt')) });
    const f = facts(r.stdout);
    expect(f.get('state')).toBe('active');
    expect(f.get('substate')).toBe('running');
    expect(f.get('restarts')).toBe('0');
    expect(f.all('pid')).toEqual(['4242', '4250', '4251']);
    expect(f.all('listen')).toEqual(['127.0.0.1:8000']);
    expect(r.stdout).toContain('proc 4242    01:02:03 /home/ubuntu/wushizhifu/venv/bin/python3 api_server.py');
    expect(f.get('start_cmd')).toBe('sudo systemctl start wushipay-api.service');
    expect(f.get('logs_cmd')).toBe('sudo journalctl -u wushipay-api.service -n 50 --no-pager');
    expect(r.calls[0]).toBe('systemctl show -p LoadState -p ActiveState -p SubState -p NRestarts -p ExecMainStatus -p MainPID -p ControlGroup wushipay-api.service');
  });

  it('a failed unit that kept restarting: failed, the restart count and exit status, no processes', async () => {
    const r = await runProbe('service', { args: ['systemd', 'wushipay-api.service'], stubs: show(fixture('systemd-show-failed.txt')) });
    const f = facts(r.stdout);
    expect(f.get('state')).toBe('failed');
    expect(f.get('restarts')).toBe('5');
    expect(f.get('exit_status')).toBe('1');
    expect(f.all('pid')).toEqual([]);
  });

  it('a unit systemd does not know: missing', async () => {
    const r = await runProbe('service', { args: ['systemd', 'wushipay-api.service'], stubs: show(fixture('systemd-show-not-found.txt')) });
    expect(facts(r.stdout).get('state')).toBe('missing');
  });

  it('systemctl present but no systemd running (a container): unknown, and says why', async () => {
    const r = await runProbe('service', {
      args: ['systemd', 'wushipay-api.service'],
      stubs: { systemctl: [{ args: '*', stderr: fixture('systemctl-no-systemd.txt'), exit: 1 }] },
    });
    const f = facts(r.stdout);
    expect(f.get('state')).toBe('unknown');
    expect(f.get('note')).toMatch(/answered nothing/);
  });

  it('no systemctl on the host: unknown, with a note', async () => {
    const r = await runProbe('service', { args: ['systemd', 'wushipay-api.service'] });
    expect(facts(r.stdout).get('state')).toBe('unknown');
    expect(facts(r.stdout).get('note')).toBe('systemctl not found');
  });

  it('a unit name reaches systemctl as one argument, never as shell code', async () => {
    const name = "x'; touch pwned; echo '$(id).service";
    const r = await runProbe('service', { args: ['systemd', name], stubs: show(fixture('systemd-show-not-found.txt')) });
    expect(r.calls[0]!.endsWith(` ${name}`)).toBe(true);
    expect(r.stdout).not.toMatch(/uid=/);
    expect(r.leftInTmp).toEqual([]);
  });
});

describe('service probe: pm2 (from `pm2 ls -m`, which holds no environment)', () => {
  it('an online app: active, its pid and port, and pm2 commands', async () => {
    const r = await runProbe('service', {
      args: ['pm2', 'ok-api'],
      stubs: {
        pm2: [{ args: 'ls -m', stdout: fixture('pm2-ls-m.txt') }],
        ps: [
          { args: '-e -o pid=,ppid=', stdout: '    1     0\n27338     1\n' },
          { args: '-o pid=,etime=,args= -p 27338', stdout: '27338       00:01 node /tmp/pm2app/ok.js\n' },
        ],
        ss: [{ args: '-Hltnp', stdout: 'LISTEN 0      511    127.0.0.1:47123 0.0.0.0:* users:(("node /tmp/pm2ap",pid=27338,fd=20))\n' }],
      },
    });
    const f = facts(r.stdout);
    expect(f.get('state')).toBe('active');
    expect(f.get('restarts')).toBe('0');
    expect(f.all('pid')).toEqual(['27338']);
    expect(f.all('listen')).toEqual(['127.0.0.1:47123']);
    expect(f.get('restart_cmd')).toBe('pm2 restart ok-api --update-env');
    expect(r.calls.filter((c) => c.startsWith('pm2 '))).toEqual(['pm2 ls -m']);
  });

  it('a crash-looping app: waiting-restart with its restart count; its stale pid is not reported', async () => {
    const r = await runProbe('service', {
      args: ['pm2', 'bad-api'],
      stubs: { pm2: [{ args: 'ls -m', stdout: fixture('pm2-ls-m-crashloop.txt') }], ps: [{ args: '-e -o pid=,ppid=', stdout: '    1     0\n' }], ss: SS_ALL },
    });
    const f = facts(r.stdout);
    expect(f.get('state')).toBe('waiting-restart');
    expect(f.get('restarts')).toBe('5');
    expect(f.all('pid')).toEqual([]);
  });

  it('a stopped app: stopped; an app pm2 does not know: missing', async () => {
    const stubs = { pm2: [{ args: 'ls -m', stdout: fixture('pm2-ls-m-stopped.txt') }] };
    expect(facts((await runProbe('service', { args: ['pm2', 'ok-api'], stubs })).stdout).get('state')).toBe('stopped');
    expect(facts((await runProbe('service', { args: ['pm2', 'nope'], stubs })).stdout).get('state')).toBe('missing');
  });

  it('no pm2 on the host: unknown, with a note', async () => {
    const r = await runProbe('service', { args: ['pm2', 'ok-api'] });
    expect(facts(r.stdout).get('note')).toBe('pm2 not found');
    expect(facts(r.stdout).get('state')).toBe('unknown');
  });
});

describe('service probe: docker', () => {
  const inspect = (a: Omit<StubAnswer, 'args'>) => ({
    docker: [{ args: 'inspect -f {{.State.Status}} {{.State.Pid}} {{.RestartCount}} {{.State.ExitCode}} shop-api', ...a }],
    ps: PS_TREE,
    ss: SS_ALL,
  });

  it('a running container: active, its processes and port, docker commands', async () => {
    const r = await runProbe('service', { args: ['docker', 'shop-api'], stubs: inspect({ stdout: 'running 4242 0 0\n' }) });
    const f = facts(r.stdout);
    expect(f.get('state')).toBe('active');
    expect(f.all('pid')).toEqual(['4242', '4250', '4251']);
    expect(f.all('listen')).toEqual(['127.0.0.1:8000']);
    expect(f.get('start_cmd')).toBe('docker start shop-api');
  });

  it('an exited container: exited, restart count and exit code', async () => {
    const f = facts((await runProbe('service', { args: ['docker', 'shop-api'], stubs: inspect({ stdout: 'exited 0 3 137\n' }) })).stdout);
    expect(f.get('state')).toBe('exited');
    expect(f.get('restarts')).toBe('3');
    expect(f.get('exit_status')).toBe('137');
  });

  it('no such container: missing; daemon down: unknown with docker’s own words', async () => {
    const gone = await runProbe('service', { args: ['docker', 'shop-api'], stubs: inspect({ stderr: 'Error: No such object: shop-api\n', exit: 1 }) });
    expect(facts(gone.stdout).get('state')).toBe('missing');
    const down = await runProbe('service', { args: ['docker', 'shop-api'], stubs: inspect({ stderr: fixture('docker-daemon-down.txt'), exit: 1 }) });
    expect(facts(down.stdout).get('state')).toBe('unknown');
    expect(facts(down.stdout).get('note')).toMatch(/^docker: Cannot connect to the Docker daemon/);
  });
});

describe('service probe: a plain process (real pgrep, ps and ss)', () => {
  const started: TrackedChild[] = [];
  afterAll(async () => {
    await Promise.all(started.map((c) => c.stop()));
  });

  it('finds the process by its pattern with its child and port — and never counts itself, though its own command line holds the pattern', async () => {
    const marker = `triage-probe-app-${randomId()}`;
    const port = await freePort();
    const app = await spawnTracked(process.execPath, [
      '-e',
      `require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' }); require('net').createServer().listen(${port}, '127.0.0.1'); setInterval(() => {}, 1000)`,
      marker,
    ]);
    started.push(app);
    await waitUntil('the app listens', async () => (await runProbe('listener', { args: [String(port)], real: ['ss', 'ps'] })).stdout.includes('listener='), { timeoutMs: 10_000 });
    const r = await runProbe('service', { args: ['process', marker], real: ['pgrep', 'ps', 'ss'] });
    const f = facts(r.stdout);
    expect(f.get('state')).toBe('active');
    expect(f.all('pid')).toHaveLength(2);
    expect(f.all('pid')).toContain(String(app.pid));
    expect(f.all('listen')).toEqual([`127.0.0.1:${port}`]);
  });

  it('nothing matches: inactive', async () => {
    const r = await runProbe('service', { args: ['process', `triage-not-running-${randomId()}`], real: ['pgrep', 'ps', 'ss'] });
    expect(facts(r.stdout).get('state')).toBe('inactive');
    expect(facts(r.stdout).all('pid')).toEqual([]);
  });
});
