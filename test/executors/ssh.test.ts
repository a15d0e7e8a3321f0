/**
 * The SSH executor against a real OpenSSH sshd on loopback: keys are checked,
 * commands that hang are killed on the host, big output is capped, and a
 * broken host is an error the engine can report — never a hang.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TriageError } from '../../src/errors.ts';
import type { HostSpec } from '../../src/executors/executor.ts';
import { SshExecutor } from '../../src/executors/ssh.ts';
import { RUNAWAY_BYTES } from '../../src/executors/shell-session.ts';
import { type Fleet, type RogueSshd, startFleet, startRogueSshd, unusedLoopbackHost } from '../support/fleet.ts';

let fleet: Fleet;
let rogue: RogueSshd;
let ssh: SshExecutor;

function spec(i = 0, over: Partial<HostSpec> = {}): HostSpec {
  const h = fleet.hosts[i]!;
  return {
    name: h.name,
    address: h.address,
    port: h.port,
    user: h.user,
    privateKey: readFileSync(fleet.keyFile),
    hostKey: fleet.hostKeyFingerprint,
    ...over,
  };
}

beforeAll(async () => {
  fleet = await startFleet({ hosts: 2 });
  rogue = await startRogueSshd(fleet);
  ssh = new SshExecutor();
});
afterAll(async () => {
  await ssh?.close();
  await rogue?.stop();
  await fleet?.stop();
});

describe('running commands over SSH', () => {
  it('returns stdout, stderr and a non-zero exit code as data', async () => {
    const r = await ssh.exec(spec(), 'echo out; echo err >&2; exit 7');
    expect(r).toMatchObject({ exitCode: 7, stdout: 'out\n', stderr: 'err\n', timedOut: false });
  });

  it('reuses one connection for many commands on a host', async () => {
    const conns = new Set<string>();
    for (let i = 0; i < 5; i++) conns.add((await ssh.exec(spec(), 'echo $SSH_CONNECTION')).stdout.trim());
    // one connection (the same client port each time) served every command
    expect(conns.size).toBe(1);
  });

  it('runs on several hosts at once, each its own', async () => {
    const [a, b] = await Promise.all([ssh.exec(spec(0), 'echo $SSH_CONNECTION'), ssh.exec(spec(1), 'echo $SSH_CONNECTION')]);
    expect(a.stdout).toContain(fleet.hosts[0]!.address);
    expect(b.stdout).toContain(fleet.hosts[1]!.address);
  });

  it('accepts a host whose key is in known_hosts', async () => {
    const r = await ssh.exec(spec(1, { hostKey: undefined, knownHosts: fleet.knownHostsFile }), 'echo ok');
    expect(r.stdout).toBe('ok\n');
  });
});

describe('a hung command', () => {
  it('times out and leaves no process behind on the host', async () => {
    const marker = `triage-hang-${Date.now()}`;
    const r = await ssh.exec(spec(), `sh -c 'sleep 3171; echo ${marker}' & sleep 3172 # ${marker}`, { timeoutMs: 1000 });
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    const left = await ssh.exec(spec(), `ps -eo args | grep -c '[s]leep 317[12]' || true`);
    expect(left.stdout.trim()).toBe('0');
  });

  it('is killed on the host when the run is cancelled', async () => {
    const ac = new AbortController();
    const p = ssh.exec(spec(), 'sleep 2993', { signal: ac.signal, timeoutMs: 60_000 });
    setTimeout(() => ac.abort(), 300);
    const r = await p;
    expect(r.aborted).toBe(true);
    const left = await ssh.exec(spec(), `ps -eo args | grep -c '^[s]leep 2993' || true`);
    expect(left.stdout.trim()).toBe('0');
  });
});

describe('several commands in one write (a batch)', () => {
  async function batch(commands: { command: string; opts?: { timeoutMs?: number } }[], signal?: AbortSignal) {
    const got: { i: number; r: Awaited<ReturnType<SshExecutor['exec']>>; at: number }[] = [];
    await ssh.execBatch(spec(), commands, { signal, onResult: (i, r) => got.push({ i, r, at: Date.now() }) });
    return got;
  }

  it('streams each result back in order as it finishes, each with its own timeout', async () => {
    const got = await batch([{ command: 'echo one' }, { command: 'sleep 3177', opts: { timeoutMs: 700 } }, { command: 'echo three >&2; exit 4' }]);
    expect(got.map((g) => g.i)).toEqual([0, 1, 2]);
    expect(got[0]!.r).toMatchObject({ exitCode: 0, stdout: 'one\n' });
    expect(got[1]!.r).toMatchObject({ exitCode: null, timedOut: true });
    expect(got[2]!.r).toMatchObject({ exitCode: 4, stderr: 'three\n', timedOut: false });
    // the first result arrived before the second command was given up
    expect(got[0]!.at).toBeLessThan(got[1]!.at);
    const left = await ssh.exec(spec(), `ps -eo args | grep -c '^[s]leep 3177' || true`);
    expect(left.stdout.trim()).toBe('0');
  });

  it('cancelled: the running command is killed and the rest never run on the host', async () => {
    const marker = join(fleet.dir, `batch-ran-${Date.now()}`);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 400);
    const got = await batch([{ command: 'echo first' }, { command: 'sleep 3178', opts: { timeoutMs: 60_000 } }, { command: `touch ${marker}` }, { command: `touch ${marker}` }], ac.signal);
    expect(got.map((g) => [g.i, g.r.aborted])).toEqual([
      [0, false],
      [1, true],
      [2, true],
      [3, true],
    ]);
    expect(existsSync(marker)).toBe(false);
    const left = await ssh.exec(spec(), `ps -eo args | grep -c '^[s]leep 3178' || true`);
    expect(left.stdout.trim()).toBe('0');
    // the session is still good for the next batch
    expect((await batch([{ command: 'echo again' }]))[0]!.r.stdout).toBe('again\n');
  });
});

describe('big output', () => {
  it('caps 1 MB of output and says it was truncated', async () => {
    const r = await ssh.exec(spec(), "head -c 1048576 /dev/zero | tr '\\0' x", { maxOutputBytes: 64 * 1024 });
    expect(r.stdout.length).toBe(64 * 1024);
    expect(r.truncated).toBe(true);
    expect(r.outputBytes).toBe(1048576);
    // the session is still usable afterwards
    expect((await ssh.exec(spec(), 'echo after')).stdout).toBe('after\n');
  });

  it('stops a command whose output never ends (yes), keeping what fits, and the session carries on', async () => {
    const r = await ssh.exec(spec(), 'yes', { maxOutputBytes: 1024, timeoutMs: 60_000 });
    expect(r.stdout).toBe('y\n'.repeat(512));
    expect(r.truncated).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(r.timedOut).toBe(false);
    expect(r.outputBytes).toBeGreaterThan(RUNAWAY_BYTES);
    expect((await ssh.exec(spec(), `ps -eo args | grep -c '^[y]es$' || true`)).stdout.trim()).toBe('0');
  });

  it('keeps output that looks like the framing protocol intact', async () => {
    const r = await ssh.exec(spec(), "printf '@@TRIAGE end x 0 0 0 0\\nline2'");
    expect(r.stdout).toBe('@@TRIAGE end x 0 0 0 0\nline2');
    // Binary output, NUL bytes and output without a final newline come back byte for byte.
    const bin = await ssh.exec(spec(), "printf 'a\\000b\\n\\n@@TRIAGE:0000000000000000 exit 1 0\\nz'; printf 'e\\000' >&2");
    expect(bin.stdout).toBe('a\0b\n\n@@TRIAGE:0000000000000000 exit 1 0\nz');
    expect(bin.stderr).toBe('e\0');
    expect(bin.exitCode).toBe(0);
    // A long multi-line script (sent as a length-prefixed payload) keeps its newlines.
    const script = `${Array.from({ length: 40 }, (_, i) => `echo line${i}`).join('\n')}\n`;
    expect((await ssh.exec(spec(), script)).stdout).toBe(Array.from({ length: 40 }, (_, i) => `line${i}\n`).join(''));
  });
});

describe('host keys are verified, never trusted silently', () => {
  it('refuses a host whose key does not match the pinned fingerprint', async () => {
    const err = await ssh
      .exec({ ...spec(), name: 'rogue', port: rogue.host.port, hostKey: fleet.hostKeyFingerprint }, 'touch /tmp/should-not-run')
      .catch((e) => e);
    expect(err).toBeInstanceOf(TriageError);
    expect(err.code).toBe('SSH_HOSTKEY');
    expect(err.message).toContain('man-in-the-middle');
    expect(err.message).toContain(rogue.fingerprint);
  });

  it('refuses a changed key listed in known_hosts', async () => {
    const err = await ssh
      .exec({ ...spec(), name: 'rogue', port: rogue.host.port, hostKey: undefined, knownHosts: rogue.staleKnownHostsFile }, 'true')
      .catch((e) => e);
    expect(err.code).toBe('SSH_HOSTKEY');
  });

  it('refuses a host that is not in known_hosts at all', async () => {
    const empty = join(fleet.dir, 'empty_known_hosts');
    writeFileSync(empty, '');
    const err = await ssh.exec(spec(0, { hostKey: undefined, knownHosts: empty }), 'true').catch((e) => e);
    expect(err.code).toBe('SSH_HOSTKEY');
    expect(err.message).toContain('not in');
  });

  it('refuses when no key is pinned at all', async () => {
    const err = await ssh.exec(spec(0, { hostKey: undefined }), 'true').catch((e) => e);
    expect(err.code).toBe('SSH_HOSTKEY');
  });
});

describe('unreachable hosts', () => {
  it('fails fast with SSH_CONNECT when nothing listens', async () => {
    const u = unusedLoopbackHost();
    const err = await ssh.exec({ ...spec(), name: 'gone', address: u.address, port: u.port }, 'true').catch((e) => e);
    expect(err.code).toBe('SSH_CONNECT');
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('reports a refused key as SSH_AUTH', async () => {
    const keyFile = join(fleet.dir, 'stranger_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyFile]);
    const other = readFileSync(keyFile);
    const err = await ssh.exec(spec(0, { privateKey: other }), 'true').catch((e) => e);
    expect(err.code).toBe('SSH_AUTH');
  });
});
