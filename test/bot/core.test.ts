/**
 * The on-call engineer's side of Triage: commands typed in chat (or clicked
 * as buttons) become runs on real hosts, answered by one live run card.
 *
 * Everything behind the chat is real — Redis (a unique prefix per test,
 * purged after), the queue, a worker and the local executor on an
 * `address: local` host. The runbooks are tiny ones written into a temp dir
 * (their steps grep a file, sleep, or touch a file), plus the built-in 502.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { isCommandError, parseCommand } from '../../src/bot/commands.ts';
import { ConsoleAdapter } from '../../src/bot/console/console-adapter.ts';
import { ConsoleChat } from '../support/console-chat.ts';
import { freePort, makeTempDir, removeTempDir } from '../support/processes.ts';

const RUNBOOKS = {
  'check.yaml': `
name: check
aliases: [chk]
description: checks that the app's marker file says ok
steps:
  - id: marker
    title: marker file says ok
    run: sleep 0.3; grep -qx ok \${{ target.workdir }}/marker
    finding:
      code: marker-bad
      title: the marker file does not say ok
      evidence: ["no 'ok' in \${{ target.workdir }}/marker"]
      fix: write ok into \${{ target.workdir }}/marker
  - id: disk
    title: disk answers
    run: sleep 0.3; echo fine
`,
  'fleet.yaml': `
name: fleet
description: passes on every host but l2
steps:
  - id: one
    title: first check
    run: echo fine
  - id: two
    title: not l2
    run: test \${{ host.name }} != l2
`,
  'slow.yaml': `
name: slow
description: takes half a minute
steps:
  - id: wait
    title: wait a long time
    timeout: 60s
    run: sleep 30
`,
  'restart.yaml': `
name: restart
description: restarts the app after an operator says so
steps:
  - id: look
    title: look at the app
    run: echo looking
  - id: restart
    title: restart the app
    changes: true
    run: echo restarted > \${{ target.workdir }}/restarted
  - id: verify
    title: the app was restarted
    run: test -f \${{ target.workdir }}/restarted
`,
};

// Chat identities and rooms in the config below.
const VIEWER = 'tg:1';
const RESPONDER = 'tg:2';
const OPERATOR = 'tg:3';
const STRANGER = 'tg:999';
const ROOM = 'tg:-100';

let dir: string;
let runbookDir: string;
let port: number;

beforeAll(async () => {
  dir = await makeTempDir('triage-core-');
  runbookDir = join(dir, 'runbooks');
  await import('node:fs/promises').then((fs) => fs.mkdir(runbookDir));
  for (const [name, text] of Object.entries(RUNBOOKS)) await writeFile(join(runbookDir, name), text);
  port = await freePort();
});
afterAll(async () => {
  await removeTempDir(dir);
});

function config(over: Record<string, unknown> = {}) {
  return {
    hosts: { local: { address: 'local' }, l2: { address: 'local' }, l3: { address: 'local' }, l4: { address: 'local' } },
    targets: {
      app: { hosts: ['local'], workdir: dir },
      four: { hosts: ['local', 'l2', 'l3', 'l4'] },
      shop: { hosts: ['local'], port },
    },
    chat: { telegram: { token: 'env:TELEGRAM_BOT_TOKEN', allowedChats: [-100] } },
    access: { roles: { viewer: [VIEWER], responder: [RESPONDER], operator: [OPERATOR] } },
    ...over,
  };
}

let chat: ConsoleChat | undefined;
async function startChat(over: Record<string, unknown> = {}): Promise<ConsoleChat> {
  chat = await ConsoleChat.start({ config: config(over), runbookDirs: [runbookDir] });
  return chat;
}
afterEach(async () => {
  await chat?.close();
  chat = undefined;
});

async function setMarker(text: string) {
  await writeFile(join(dir, 'marker'), text);
}

describe('/diagnose', () => {
  it('posts one card, updates it step by step, and ends with cause, summary, evidence, fix and run id; details go in the thread', async () => {
    await setMarker('broken');
    const chat = await startChat();
    await chat.send('/diagnose check app', { as: RESPONDER, room: ROOM });

    const card = await chat.waitForFinalCard();
    const runId = chat.runId()!;
    expect(runId).toMatch(/^r_/);
    expect(card).toContain('check on app: marker-bad');
    expect(card).toContain('cause: marker-bad — ');
    expect(card).toContain('the marker file does not say ok');
    expect(card).toContain(`• no 'ok' in ${dir}/marker`);
    expect(card).toContain(`fix: write ok into ${dir}/marker`);
    expect(card).toContain(`run ${runId} · unhealthy`);
    expect(card).toContain('[Re-run: /diagnose check app]');

    // One card, edited as the run went: at some point it showed the first step done and the next one running.
    expect(chat.cardMessages()).toHaveLength(1);
    const versions = chat.cardMessage()!.versions.map((v) => [v.title, ...v.lines].join('\n'));
    expect(versions.some((v) => v.includes('✗ marker file says ok · running… (2/2)'))).toBe(true);

    const thread = chat.thread();
    expect(thread).toContain('local — 1 passed, 1 failed');
    expect(thread).toContain('✗ marker file says ok');
    expect(thread).toContain('✓ disk answers');
    expect(chat.log.tooLong).toEqual([]);
  });

  it('hosts that passed every step share one list in the thread; a failing host gets its own details', async () => {
    const chat = await startChat();
    await chat.send('/diagnose fleet four', { as: RESPONDER, room: ROOM });
    await chat.waitForFinalCard();
    const root = chat.cardMessage()!.ref.id;
    const thread = chat.log.messages.filter((m) => m.ref.thread === root).map((m) => m.versions.at(-1)!);
    const titles = thread.map((m) => m.title ?? '');
    // l2's details, then one list for the three others (not a message per healthy host).
    expect(titles.filter((t) => !t.startsWith('🚨'))).toEqual(['l2 — 1 passed, 1 failed', '✓ 3 hosts passed every step']);
    const list = thread.find((m) => m.title === '✓ 3 hosts passed every step')!;
    expect(list.lines.map((l) => l.split(' · ')[0])).toEqual(['local — 2 passed', 'l3 — 2 passed', 'l4 — 2 passed']);
    expect(chat.thread()).toContain('✗ not l2');
  });

  it('says healthy when the checks pass', async () => {
    await setMarker('ok');
    const chat = await startChat();
    await chat.send('/diagnose chk app', { as: RESPONDER, room: ROOM });
    const card = await chat.waitForFinalCard();
    expect(card).toContain('✅ check on app: healthy');
    expect(card).not.toContain('fix:');
  });

  it('finds service-down with the built-in 502 runbook when nothing listens on the port', async () => {
    const chat = await startChat();
    await chat.send('/diagnose 502 shop', { as: RESPONDER, room: ROOM });
    const card = await chat.waitForFinalCard();
    expect(card).toContain('502 on shop: service-down');
    expect(card).toContain(`cause: service-down — `);
    expect(card).toContain(`nothing listens on :${port}`);
    expect(card).toMatch(/fix: .+/);
    expect(card).toContain(`run ${chat.runId()}`);
    expect(chat.thread()).toContain("✗ what listens on the app's port");
    expect(chat.thread()).toContain(`nothing listens on :${port}`);
  });

  it('Cancel stops a long run quickly and the card ends cancelled', async () => {
    const chat = await startChat();
    await chat.send('/diagnose slow app', { as: RESPONDER, room: ROOM });
    await chat.waitForCard((c) => c.includes('running… (1/1)'));
    const clicked = Date.now();
    await chat.click('Cancel', { as: RESPONDER, room: ROOM });
    const card = await chat.waitForFinalCard({ timeoutMs: 15_000 });
    expect(Date.now() - clicked).toBeLessThan(15_000);
    expect(card).toContain('⏹ slow on app: cancelled');
    expect(card).toContain(`cancelled by ${RESPONDER}`);
    expect((await chat.queue.status(chat.runId()!)).state).toBe('cancelled');
  });

  it('says on the card when some updates could not be delivered', async () => {
    await setMarker('broken');
    const chat = await startChat();
    chat.transports.telegram.fault = (op, _room, thread) => (op === 'post' && thread ? new Error('Bad Gateway') : undefined);
    await chat.send('/diagnose check app', { as: RESPONDER, room: ROOM });
    await chat.waitForFinalCard();
    await chat.core.flush();
    expect(chat.card()).toContain('cause: marker-bad');
    expect(chat.card()).toContain('⚠ could not deliver some updates');
    expect(chat.thread()).toBe('');
  });

  it('a repeated delivery of the same command starts one run, and the repeat is audited as a duplicate', async () => {
    await setMarker('ok');
    const chat = await startChat();
    await chat.send('/diagnose check app', { as: RESPONDER, room: ROOM, deliveryId: 'update-77' });
    await chat.send('/diagnose check app', { as: RESPONDER, room: ROOM, deliveryId: 'update-77' });
    await chat.waitForFinalCard();
    expect(await chat.runCount()).toBe(1);
    expect(chat.cardMessages()).toHaveLength(1);
    expect((await chat.auditEntries()).map((e) => e.outcome)).toEqual(['ok', 'duplicate']);
  });
});

describe('who may do what', () => {
  it('refuses someone not on the access list, says how to get on it, audits it and queues nothing', async () => {
    const chat = await startChat();
    await chat.send('/diagnose 502 shop', { as: STRANGER, room: ROOM });
    expect(chat.lastReply()).toBe(`you are not on the Triage access list (${STRANGER}); ask an operator to add you`);
    expect(await chat.runCount()).toBe(0);
    const [entry] = await chat.auditEntries();
    expect(entry).toMatchObject({ user: STRANGER, room: ROOM, outcome: 'denied', text: '/diagnose 502 shop', detail: 'ACCESS_DENIED: unknown-user' });
  });

  it('refuses a viewer who tries to /diagnose', async () => {
    const chat = await startChat();
    await chat.send('/diagnose 502 shop', { as: VIEWER, room: ROOM });
    expect(chat.lastReply()).toBe('/diagnose needs the responder role; you are a viewer — ask an operator');
    expect(await chat.runCount()).toBe(0);
    expect((await chat.auditEntries())[0]?.outcome).toBe('denied');
  });

  it('lets a viewer look around', async () => {
    const chat = await startChat();
    await chat.send('/targets', { as: VIEWER, room: ROOM });
    expect(chat.lastReply()).toContain('app — hosts: local');
    await chat.send('/runbooks');
    expect(chat.lastReply()).toContain('check (chk) — checks that the app');
    expect(chat.lastReply()).toContain('502 (bad-gateway) — ');
  });

  it('does not answer in a chat that is not allowed', async () => {
    const chat = await startChat();
    await chat.send('/diagnose 502 shop', { as: RESPONDER, room: 'tg:-555' });
    expect(chat.lastReply()).toContain('Triage does not answer in this chat (tg:-555)');
    expect(await chat.runCount()).toBe(0);
  });

  it('allows nobody on Telegram or Slack when the config has no access section', async () => {
    const chat = await startChat({ access: undefined });
    await chat.send('/diagnose 502 shop', { as: OPERATOR, room: ROOM });
    expect(chat.lastReply()).toContain('you are not on the Triage access list');
    expect(await chat.runCount()).toBe(0);
  });

  it('only an operator can approve a host-changing step; the run goes on once one does', async () => {
    const chat = await startChat();
    await chat.send('/diagnose restart app', { as: RESPONDER, room: ROOM });
    const waiting = await chat.waitForCard((c) => c.includes('waiting for approval'));
    const runId = chat.runId()!;
    expect(waiting).toContain(`/approve ${runId} local:restart`);

    await chat.click('Approve', { as: RESPONDER, room: ROOM });
    expect(chat.lastReply()).toBe('only an operator can approve host-changing steps');
    expect(existsSync(join(dir, 'restarted'))).toBe(false);

    await chat.send(`/approve ${runId} verify`, { as: OPERATOR, room: ROOM });
    expect(chat.lastReply()).toBe(`nothing in ${runId} waits for approval as local:verify`);

    await chat.click('Approve', { as: OPERATOR, room: ROOM });
    expect(chat.lastReply()).toBe(`✓ approved local:restart in ${runId}`);
    const card = await chat.waitForFinalCard();
    expect(card).toContain('✅ restart on app: healthy');
    expect(existsSync(join(dir, 'restarted'))).toBe(true);
    expect(chat.thread()).toContain('✓ restart the app');

    const outcomes = (await chat.auditEntries()).map((e) => `${e.user} ${e.outcome}`);
    expect(outcomes).toEqual([`${RESPONDER} ok`, `${RESPONDER} denied`, `${OPERATOR} invalid`, `${OPERATOR} ok`]);
  });
});

describe('bad input gets one short line saying what was expected, and nothing is queued', () => {
  const cases: [string, string, RegExp | string][] = [
    ['no words', '/diagnose', 'missing <runbook> and <target>. usage: /diagnose <runbook> <target> [host] — e.g. /diagnose 502 shop'],
    ['no target', '/diagnose 502', 'missing <target>. usage: /diagnose <runbook> <target> [host]'],
    ['an unknown runbook', '/diagnose nosuch x', /^✗ no runbook "nosuch" — known runbooks: .*check/],
    ['an unknown target', '/diagnose 502 nosuch', /^✗ unknown target "nosuch".* — known targets: app, four, shop/],
    ['shell in a word', "/diagnose 502 'x;rm -rf /'", `"'x;rm" is not a valid target (letters, digits, . _ -). usage: /diagnose`],
    ['10 KB of text', `/diagnose 502 ${'A'.repeat(10_240)}`, /^too long \(10254 characters; at most 512\)\. usage: \/diagnose/],
    ['unicode', '/diagnose 502 шоп', '"шоп" is not a valid target'],
    ['a control character', '/diagnose 502 shop\u0007', 'control characters are not allowed. usage: /diagnose'],
    ['an unknown command', '/reboot everything', 'unknown command "/reboot" — try /help'],
    ['extra words', '/diagnose 502 shop local more', 'too many words (unexpected "more"). usage: /diagnose'],
  ];
  for (const [what, text, expected] of cases) {
    it(what, async () => {
      const chat = chatForInput!;
      const before = await chat.runCount();
      await chat.send(text, { as: RESPONDER, room: ROOM });
      const reply = chat.lastReply();
      if (typeof expected === 'string') expect(reply).toContain(expected);
      else expect(reply).toMatch(expected);
      expect(reply.split('\n')).toHaveLength(1);
      expect(reply.length).toBeLessThan(320);
      expect(await chat.runCount()).toBe(before);
      const entry = (await chat.auditEntries()).at(-1)!;
      expect(entry.outcome).toBe('invalid');
      expect(entry.text.length).toBeLessThanOrEqual(201);
    });
  }

  let chatForInput: ConsoleChat | undefined;
  beforeAll(async () => {
    chatForInput = await ConsoleChat.start({ config: config(), runbookDirs: [runbookDir], worker: false });
  });
  afterAll(async () => {
    await chatForInput?.close();
  });
});

describe('other commands', () => {
  it('/help lists every command with one line each', async () => {
    const chat = await startChat();
    await chat.send('/help@TriageBot', { as: VIEWER, room: ROOM });
    const help = chat.lastReply();
    for (const c of ['/diagnose <runbook> <target> [host]', '/status [run]', '/cancel <run>', '/approve <run> <host>:<step>', '/note [incident] <text>', '/incidents [incident]', '/oncall', '/schedules']) {
      expect(help).toContain(c);
    }
    expect(help).toContain('you are a viewer');
  });

  it('/status lists recent runs with their cause, and /status <run> posts that run’s card', async () => {
    await setMarker('broken');
    const chat = await startChat();
    await chat.send('/diagnose check app', { as: RESPONDER, room: ROOM });
    await chat.waitForFinalCard();
    const runId = chat.runId()!;
    await chat.send('/status', { as: VIEWER, room: ROOM });
    expect(chat.lastReply()).toMatch(new RegExp(`${runId} · check on app · done · marker-bad · \\d+ s ago`));
    await chat.send(`/status ${runId}`);
    await chat.core.flush();
    expect(chat.cardMessages()).toHaveLength(2);
    expect(chat.card()).toContain('cause: marker-bad');
    await chat.send('/status r_nosuchrun1');
    expect(chat.lastReply()).toContain('no run "r_nosuchrun1"');
  });

  it('/cancel of a finished run says it already ended', async () => {
    await setMarker('ok');
    const chat = await startChat();
    await chat.send('/diagnose check app', { as: RESPONDER, room: ROOM });
    await chat.waitForFinalCard();
    await chat.send(`/cancel ${chat.runId()}`);
    expect(chat.lastReply()).toBe(`${chat.runId()} already ended (done)`);
  });

  it('on-call words are understood but not set up yet', async () => {
    const chat = await startChat();
    for (const text of ['/ack', '/resolve', '/note rolled back', '/handoff slack:U123', '/digest now', '/schedules']) {
      await chat.send(text, { as: RESPONDER, room: ROOM });
      expect(chat.lastReply()).toBe('on-call features are not set up yet');
    }
  });

  it('keeps secrets out of the audit trail', async () => {
    const chat = await startChat();
    await chat.send('/note DB_PASSWORD=hunter2hunter2', { as: RESPONDER, room: ROOM });
    const [entry] = await chat.auditEntries();
    expect(entry?.text).toContain('DB_PASSWORD=');
    expect(entry?.text).not.toContain('hunter2hunter2');
  });

  it('the console user is trusted like an operator (it already runs Triage locally)', async () => {
    await setMarker('ok');
    const chat = await startChat();
    await chat.send('/diagnose check app', { as: 'console:alice' });
    expect(await chat.waitForFinalCard()).toContain('healthy');
    expect(chat.cardMessage()?.ref.room).toBe('console:local');
  });

  it('a platform cannot pass off a console identity', async () => {
    const chat = await startChat();
    await chat.send('/diagnose 502 shop', { as: 'console:mallory', room: ROOM });
    expect(await chat.runCount()).toBe(0);
    expect((await chat.auditEntries())[0]?.outcome).toBe('denied');
  });
});

describe('the console adapter', () => {
  it('takes commands typed on stdin and prints the card and each edit as plain text', async () => {
    await setMarker('broken');
    const chat = await startChat();
    const input = new PassThrough();
    const output = new PassThrough();
    let printed = '';
    output.on('data', (d) => {
      printed += String(d);
    });
    const adapter = new ConsoleAdapter({ input, output, user: 'bob' });
    chat.core.attach(adapter);
    await adapter.start((cmd) => chat.core.handle(cmd));
    input.write('/diagnose check app\n');
    const deadline = Date.now() + 15_000;
    while (!printed.includes('cause: marker-bad') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    await adapter.stop();
    expect(printed).toMatch(/── #1\n🔎 check on app/);
    expect(printed).toContain('── #1 (edited)\n❌ check on app: marker-bad');
    expect(printed).toContain('asked by console:bob');
    expect(printed).toContain('[Re-run: /diagnose check app]');
  });
});

describe('parseCommand', () => {
  it('reads every command, dropping a Telegram @BotName', () => {
    expect(parseCommand('/diagnose@TriageBot 502 shop')).toEqual({ name: 'diagnose', runbook: '502', target: 'shop' });
    expect(parseCommand('  /diagnose 502 shop web1 ')).toEqual({ name: 'diagnose', runbook: '502', target: 'shop', host: 'web1' });
    expect(parseCommand('/approve r_abc123 web1:restart')).toEqual({ name: 'approve', runId: 'r_abc123', host: 'web1', step: 'restart' });
    expect(parseCommand('/approve r_abc123 restart')).toEqual({ name: 'approve', runId: 'r_abc123', step: 'restart' });
    expect(parseCommand('/status')).toEqual({ name: 'status' });
    expect(parseCommand('/digest')).toEqual({ name: 'digest', now: false });
    expect(parseCommand('/note 数据库 restarted 🚀')).toEqual({ name: 'note', text: '数据库 restarted 🚀' });
  });

  it('never echoes more than 40 characters of the input', () => {
    const r = parseCommand(`/cancel ${'r_'.padEnd(5000, 'x')}`);
    expect(isCommandError(r) && r.error.length).toBeLessThan(200);
    const u = parseCommand(`/diagnose 502 ${'ü'.repeat(300)}`);
    expect(isCommandError(u) && u.error).toContain(`"${'ü'.repeat(40)}…"`);
  });

  it('refuses bidi overrides that could disguise a command', () => {
    expect(isCommandError(parseCommand('/diagnose 502 sh\u202Eop'))).toBe(true);
  });
});
