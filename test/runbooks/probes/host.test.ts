/**
 * The probes that look at the machine itself: `disk` (df -P / df -Pi),
 * `memory` (/proc/meminfo), `load` (/proc/loadavg and the cores), `dns`
 * (getent) and `clock` (timedatectl / chronyc) — against the real tools and
 * /proc where the answer can be checked, and against recorded outputs for
 * the shapes this machine does not have (snaps, mount points with spaces,
 * filesystems without inodes, a synchronised chrony).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../support/processes.ts';
import { facts, runProbe } from './harness.ts';

const DF_P = `Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda1         41152832 39094048   2058784      95% /
/dev/loop3           64768    64768         0     100% /snap/core20/2318
tmpfs              1024000     2048   1021952       1% /run/user/1000
/dev/vdb1        103081248  1048576 102032672       2% /srv/my data
`;
const DF_PI = `Filesystem       Inodes  IUsed    IFree IUse% Mounted on
/dev/vda1       2621440 262144  2359296   10% /
/dev/loop3        11776  11776        0  100% /snap/core20/2318
tmpfs            256000     20   255980    1% /run/user/1000
/dev/vdb1       6553600 6422528   131072   98% /srv/my data
`;

describe('disk probe', () => {
  it('reports each filesystem, and the ones over a limit in space or inodes (recorded df)', async () => {
    const r = await runProbe('disk', {
      args: ['90', '95'],
      stubs: { df: [{ args: '-Pi --', stdout: DF_PI }, { args: '-P --', stdout: DF_P }] },
    });
    const f = facts(r.stdout);
    expect(f.all('mount')).toEqual([
      '/ used=95 inodes=10 avail_kb=2058784 size_kb=41152832',
      '/run/user/1000 used=1 inodes=1 avail_kb=1021952 size_kb=1024000',
      '/srv/my data used=2 inodes=98 avail_kb=102032672 size_kb=103081248',
    ]);
    expect(f.all('full')).toEqual(['/ space 95% (2058784 KB free of 41152832 KB)', '/srv/my data inodes 98%']);
    expect(f.get('max_used')).toBe('95');
    expect(f.get('max_inodes')).toBe('98');
  });

  it('leaves out snaps (loop devices are always 100%) and filesystems without an inode count', async () => {
    const r = await runProbe('disk', {
      args: ['90', '90'],
      stubs: { df: [{ args: '-Pi --', stdout: DF_PI.replace('98% /srv/my data', '- /srv/my data') }, { args: '-P --', stdout: DF_P }] },
    });
    expect(r.stdout).not.toContain('/snap/');
    expect(facts(r.stdout).all('full')).toEqual(['/ space 95% (2058784 KB free of 41152832 KB)']);
    expect(r.stdout).toContain('mount=/srv/my data used=2 inodes=- ');
  });

  it('a real 1 MB tmpfs, filled, is full; the same mount empty is not (real df)', async () => {
    const dir = await makeTempDir('triage-disk-probe-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
      const empty = await runProbe('disk', { args: ['90', '90', dir], real: ['df'] });
      expect(facts(empty.stdout).all('full')).toEqual([]);
      expect(facts(empty.stdout).all('mount')).toHaveLength(1);
      try {
        fs.writeFileSync(path.join(dir, 'fill'), Buffer.alloc(1024 * 1024));
      } catch {
        // ENOSPC: the tmpfs is as full as it gets
      }
      const full = await runProbe('disk', { args: ['90', '90', '', dir], real: ['df'] });
      expect(facts(full.stdout).all('full')).toEqual([expect.stringMatching(new RegExp(`^${dir} space 100% \\(0 KB free of 1024 KB\\)$`))]);
    } finally {
      execFileSync('umount', [dir]);
      await removeTempDir(dir);
    }
  });

  it('refuses limits that are not whole percentages', async () => {
    const r = await runProbe('disk', { args: ['9O', '90'], real: ['df'] });
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('note=limits must be whole percentages');
  });
});

describe('memory probe', () => {
  it('reads MemTotal, MemAvailable and swap from the real /proc/meminfo', async () => {
    const r = await runProbe('memory', { real: ['ps'] });
    const f = facts(r.stdout);
    const total = Number(f.get('mem_total_kb'));
    expect(total).toBe(Math.round(os.totalmem() / 1024));
    const avail = Number(f.get('mem_available_kb'));
    expect(avail).toBeGreaterThan(0);
    expect(Number(f.get('mem_available_pct'))).toBe(Math.floor((avail * 100) / total));
    expect(f.get('swap_used_pct')).toMatch(/^\d+$/);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('top pid='))).toHaveLength(3);
  });

  it('without ps, still reports memory', async () => {
    const r = await runProbe('memory');
    expect(facts(r.stdout).get('mem_total_kb')).toMatch(/^\d+$/);
    expect(r.stdout).not.toContain('top pid=');
  });
});

describe('load probe', () => {
  it('puts the real load average against the real cores (nproc)', async () => {
    const r = await runProbe('load', { real: ['nproc', 'ps'] });
    const f = facts(r.stdout);
    const cores = Number(f.get('cores'));
    expect(cores).toBe(os.availableParallelism());
    const load1 = Number(f.get('load1'));
    expect(Number(f.get('load1_pct'))).toBe(Math.floor((load1 * 100) / cores));
    expect(f.get('runnable')).toMatch(/^\d+\/\d+$/);
  });

  it('without nproc, counts the cores another way', async () => {
    const r = await runProbe('load', { real: ['getconf'] });
    expect(Number(facts(r.stdout).get('cores'))).toBe(os.availableParallelism());
  });
});

describe('dns probe', () => {
  it('resolves real names from /etc/hosts, leaves out IP addresses and empty arguments, reduces URLs to their host', async () => {
    const r = await runProbe('dns', { args: ['https://localhost:8443/v1/pay', '127.0.0.1', '', 'postgres://app@localhost:5432/db'], real: ['getent'] });
    const f = facts(r.stdout);
    expect(f.all('resolved')).toEqual(['localhost 127.0.0.1', 'localhost 127.0.0.1']);
    expect(f.get('checked')).toBe('2');
    expect(f.get('failures')).toBe('0');
  });

  it('a name getent cannot find is a failure with the reason (stub getent: exit 2, as for NXDOMAIN)', async () => {
    const r = await runProbe('dns', {
      args: ['api.payments.invalid', 'localhost'],
      stubs: { getent: [{ args: 'hosts api.payments.invalid', exit: 2 }, { args: 'hosts localhost', stdout: '127.0.0.1       localhost\n' }] },
    });
    const f = facts(r.stdout);
    expect(f.all('failed')).toEqual(['api.payments.invalid (getent: not found)']);
    expect(f.all('resolved')).toEqual(['localhost 127.0.0.1']);
    expect(f.get('failures')).toBe('1');
  });

  it('falls back to nslookup when getent is missing', async () => {
    const r = await runProbe('dns', {
      args: ['api.example.com'],
      stubs: { nslookup: [{ args: 'api.example.com', stdout: 'Server:\t\t10.0.0.2\nAddress:\t10.0.0.2#53\n\nNon-authoritative answer:\nName:\tapi.example.com\nAddress: 93.184.216.34\n' }] },
    });
    expect(facts(r.stdout).all('resolved')).toEqual(['api.example.com 93.184.216.34']);
  });

  it('a value that is not a host name is never looked up', async () => {
    const r = await runProbe('dns', { args: ['$(id)', 'a b'], stubs: { getent: [] } });
    expect(r.calls).toEqual([]);
    expect(facts(r.stdout).get('checked')).toBe('0');
  });
});

describe('clock probe', () => {
  it('timedatectl: synchronised or not', async () => {
    for (const [answer, synced] of [['yes', 'yes'], ['no', 'no']]) {
      const r = await runProbe('clock', { real: ['date'], stubs: { timedatectl: [{ args: 'show -p NTPSynchronized', stdout: `NTPSynchronized=${answer}\n` }] } });
      expect(facts(r.stdout).get('synced')).toBe(synced);
      expect(facts(r.stdout).get('source')).toBe('timedatectl');
    }
  });

  it('chrony: the offset it measured', async () => {
    const tracking = 'Reference ID    : A9FEA97B (169.254.169.123)\nStratum         : 4\nSystem time     : 0.000012507 seconds slow of NTP time\nLeap status     : Normal\n';
    const r = await runProbe('clock', {
      real: ['date'],
      stubs: { timedatectl: [{ args: '*', stderr: 'System has not been booted with systemd as init system (PID 1). Can\'t operate.\n', exit: 1 }], chronyc: [{ args: 'tracking', stdout: tracking }] },
    });
    const f = facts(r.stdout);
    expect(f.get('synced')).toBe('yes');
    expect(f.get('offset')).toBe('0.000012507 slow');
    expect(f.get('source')).toBe('chronyc');
  });

  it('neither: unknown, and says why', async () => {
    const r = await runProbe('clock', { real: ['date'] });
    const f = facts(r.stdout);
    expect(f.get('synced')).toBe('unknown');
    expect(f.get('time')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(f.get('note')).toContain('clock sync state unknown');
  });
});

