/**
 * On-call through chat, one story on both platforms (the conformance
 * drivers: loopback fakes of Telegram and Slack, the real adapters, the whole
 * deployment on the real Redis under a unique prefix). An unhealthy run opens
 * an incident; the same failure again updates it; Ack on the card, a note
 * written in its thread, a healthy run saying "recovered?", and a resolve —
 * and all of it still there after the bot restarts. Then digests and
 * handoffs as the fakes recorded them.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ChatDriver, DRIVERS, PEOPLE, type StoryWorld, storyAccess } from '../support/chat-drivers.ts';

const transcripts: string[] = [];
afterAll(() => {
  if (transcripts.length) console.log(`\n${transcripts.join('\n\n')}\n`);
});

/** A target is broken while `<dir>/broken-<port>` exists, and slow (8 s) while `<dir>/slow-<port>` does. */
function checkRunbook(dir: string) {
  return {
    name: 'check',
    description: 'is the app up? (broken while a flag file exists)',
    steps: [
      {
        id: 'port',
        title: 'app port',
        run: `if [ -f '${dir}/slow-\${{ target.port }}' ]; then sleep 8; fi; if [ -f '${dir}/broken-\${{ target.port }}' ]; then echo "connection refused"; exit 7; fi; echo ok`,
        finding: { code: 'service-down', title: 'shop-api is not running', evidence: ['nothing listens on :8000'], fix: 'restart shop-api' },
      },
    ],
  };
}

function world(flag: string, extra: Partial<StoryWorld> = {}, platform: 'telegram' | 'slack' = 'telegram'): StoryWorld {
  const me = (p: 'operator' | 'responder') => (platform === 'telegram' ? `tg:${PEOPLE.telegram[p]}` : `slack:${PEOPLE.slack[p]}`);
  const room = platform === 'telegram' ? 'tg:-1001234567890' : 'slack:C0INCIDENT';
  return {
    config: {
      hosts: { web1: { address: 'local' } },
      targets: { shop: { hosts: ['web1'], port: 9001 }, blog: { hosts: ['web1'], port: 9002 }, wiki: { hosts: ['web1'], port: 9003 }, vault: { hosts: ['web1'], port: 9004 } },
      access: storyAccess(),
      schedules: [{ name: 'morning', cron: '0 9 * * *', tz: 'Asia/Shanghai', runbook: 'check', targets: ['shop', 'blog', 'wiki', 'vault'], post: room }],
      oncall: { rotation: [me('operator'), me('responder')], handoff: { cron: '0 10 * * 1', post: room, takeWithin: '15m' } },
    },
    runbooks: {
      check: checkRunbook(flag),
      restart: {
        name: 'restart',
        description: 'restarts the app (needs an operator)',
        steps: [{ id: 'restart', title: 'restart shop-api', run: 'echo restarted', changes: true }],
      },
    },
    ...extra,
  };
}

/** Waits for an async condition (the drivers' waitFor takes sync ones). */
async function until<T>(what: string, pred: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const isCardOf = (runbook: string) => (t: string) => t.startsWith('❌') && t.includes(`${runbook} on`);

describe.each(DRIVERS)('on $platform', ({ platform, start }) => {
  let chat: ChatDriver | undefined;
  const flag = join(tmpdir(), `triage-flags-${randomUUID()}`);
  const PORT = { shop: 9001, blog: 9002, wiki: 9003, vault: 9004 } as const;
  const breaks = (t: keyof typeof PORT) => writeFileSync(join(flag, `broken-${PORT[t]}`), 'x');
  const fix = (t: keyof typeof PORT) => rmSync(join(flag, `broken-${PORT[t]}`), { force: true });
  const slow = (t: keyof typeof PORT) => writeFileSync(join(flag, `slow-${PORT[t]}`), 'x');
  beforeEach(() => mkdirSync(flag, { recursive: true }));
  afterEach(async () => {
    await chat?.close();
    chat = undefined;
    rmSync(flag, { recursive: true, force: true });
  });

  it('an unhealthy run opens an incident; the same failure again updates it; Ack, a note in its thread, recovered?, resolve — and a restart keeps it all', async () => {
    chat = await start(world(flag, {}, platform));
    breaks('shop');
    await chat.send('responder', '/diagnose check shop');
    await chat.waitForFinalCard();
    expect(chat.cardButtons()).toEqual(['Re-run', 'Ack', 'Resolve']);
    await chat.waitFor(() => chat!.thread().messages.find((m) => m.includes('incident i1 opened: service-down on shop')));

    // The same failure again: the same incident, counted — never a second one.
    await chat.send('responder', '/diagnose check shop');
    await chat.waitFor(() => chat!.cardCount() === 2 && /· unhealthy ·/.test(chat!.card()));
    await chat.waitFor(() => chat!.thread().messages.find((m) => m.includes('same incident i1') && m.includes('seen 2×')));
    const oc = chat.deployment().oncall;
    expect((await oc.incidents.open()).map((i) => [i.id, i.count])).toEqual([['i1', 2]]);

    await chat.click('operator', 'Ack');
    await until('the ack', async () => (await oc.incidents.get('i1'))?.ackedBy);
    // Written in the second card's thread: it goes to i1, and is said in i1's own thread.
    await chat.sendInThread('responder', isCardOf('check'), '/note restarted shop-api by hand');
    await chat.waitFor(() => chat!.posts().find((p) => p.thread && p.text.includes('📝 note by') && p.text.includes('restarted shop-api by hand')));

    await chat.restart();
    fix('shop');
    await chat.send('responder', '/diagnose check shop');
    await chat.waitFor(() => /^✅ check on shop/.test(chat!.card()));
    await until('recovered?', async () => (await chat!.deployment().oncall.incidents.get('i1'))?.recoveredAt);
    await chat.send('responder', '/incidents i1');
    const timeline = await chat.waitFor(() => chat!.notices().find((n) => n.startsWith('Incident i1')));
    expect(timeline).toContain('recovered?');
    const who = platform === 'telegram' ? { op: 'tg:1001', resp: 'tg:1002' } : { op: 'slack:U0OPERATOR', resp: 'slack:U0RESPONDER' };
    expect(timeline).toContain(`👀 acked by ${who.op}`);
    expect(timeline).toContain(`📝 ${who.resp}: restarted shop-api by hand`);
    expect(timeline.match(/❌ run r_/g)).toHaveLength(2);

    await chat.send('responder', '/resolve i1 flag file removed');
    await until('the resolve', async () => (await chat!.deployment().oncall.incidents.get('i1'))?.state === 'resolved');
    expect(await chat.deployment().oncall.incidents.open()).toEqual([]);
    const own = await chat.waitFor(() => {
      const posts = chat!.posts();
      const root = posts.find((p) => p.text.startsWith('❌ check on shop'));
      const t = root ? posts.filter((p) => p.thread === root.id).map((p) => p.text) : [];
      return t.some((m) => m.includes('✔ i1 resolved')) && t;
    });
    expect(own.join('\n')).toMatch(/looks healthy again .* recovered\? Resolving stays a human decision/);
    transcripts.push([`=== ${platform}: the incident's own thread ===`, ...own].join('\n'));
  });

  it('/digest now: one message — the failing target with its cause, the one that did not answer, "2 ok", changes since the previous digest, open incidents', async () => {
    chat = await start(world(flag, { deployment: { oncall: { digestTimeoutMs: 4000, tickMs: 0 } } }, platform));
    breaks('shop');
    slow('vault');
    await chat.send('responder', '/digest now morning');
    const isDigest = (t: string) => t.startsWith('📋 morning digest');
    const d1 = await chat.waitFor(() => chat!.posts().find((p) => isDigest(p.text))?.text, 30_000);
    expect(d1).toContain('shop: service-down (new)');
    expect(d1).toContain('vault: did not answer within 4 s');
    expect(d1).toContain('✅ 2 ok');
    expect(d1).toContain('First digest of this schedule');
    expect(d1).toMatch(/🚨 i1 shop: service-down · open \d+ s · seen 1× · not acked/);

    // shop recovers, blog breaks: the next digest lists blog as new (first) and shop as recovered.
    fix('shop');
    breaks('blog');
    await chat.send('responder', '/digest now morning');
    const d2 = await chat.waitFor(() => chat!.posts().filter((p) => isDigest(p.text) && !p.thread).at(1)?.text, 30_000);
    expect(d2).toMatch(/Since the previous digest[^\n]*\n🆕 blog: service-down\n✅ shop recovered \(was service-down\)/);
    expect(d2).toContain('✅ 2 ok');
    expect(d2).toMatch(/🚨 i1 shop: service-down .* recovered\?/);
    expect(d2).toMatch(/🚨 i2 blog: service-down · open \d+ s · seen 1× · not acked/);
    expect(chat.posts().filter((p) => isDigest(p.text) && !p.thread)).toHaveLength(2);
    transcripts.push([`=== ${platform}: /digest now morning (first, then second) ===`, d1, '---', d2].join('\n'));
  });

  it('a schedule fires through the real BullMQ scheduler and posts one digest in its room', async () => {
    // A cron for one second, 3 s from now (6 fields, seconds first): it fires once today.
    const at = new Date(Date.now() + 3000);
    const cron = `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`;
    const w = world(flag, {}, platform);
    const config = w.config as { schedules: Record<string, unknown>[] };
    config.schedules = [{ ...config.schedules[0], cron, tz: 'UTC', targets: ['shop', 'blog'] }];
    chat = await start(w);
    const digests = () => chat!.posts().filter((p) => !p.thread && p.text.startsWith('📋 morning digest'));
    const d = await chat.waitFor(() => digests()[0]?.text, 20_000);
    expect(d).toContain('all 2 ok');
    await new Promise((r) => setTimeout(r, 1500));
    expect(digests()).toHaveLength(1);
  });

  it('/handoff: the thread shows open incidents (ack state, notes), problem runs, failing checks, pending approvals and shift notes; "I have it" is recorded; not taken in time → the next person is mentioned', async () => {
    const clock = { now: Date.now() };
    chat = await start(world(flag, { deployment: { oncall: { now: () => clock.now, tickMs: 0 } } }, platform));
    const oc = chat.deployment().oncall;
    // Seeded state: two open incidents, one acked, one note, one pending approval.
    const result = (cause: string) => ({ status: 'unhealthy' as const, cause, summary: `${cause} seen`, findings: [], hosts: [], runId: 'x', runbook: 'check', target: 't', startedAt: new Date().toISOString(), durationMs: 1 });
    await oc.incidents.recordRun({ runId: 'r_seed0001', runbook: 'check', target: 'shop', result: result('service-down') as never });
    await oc.incidents.recordRun({ runId: 'r_seed0002', runbook: 'check', target: 'blog', result: result('db-unreachable') as never });
    await oc.incidents.ack('i1', 'tg:42');
    await oc.incidents.note('i2', 'tg:42', 'DB failover in progress');
    await chat.send('responder', '/diagnose restart shop');
    await chat.waitFor(() => chat!.card().includes('waiting for approval'));

    await chat.send('operator', '/handoff');
    const isHandoff = (t: string) => t.startsWith('🔁 On-call handoff');
    const sections = await chat.waitFor(() => {
      const t = chat!.threadOf(isHandoff);
      return t.length >= 5 && t;
    });
    const [incidents, , , approvals, notes] = sections;
    expect(incidents).toMatch(/i1 shop: service-down .* acked by tg:42/);
    expect(incidents).toMatch(/i2 blog: db-unreachable .* not acked/);
    expect(incidents).toContain('note by tg:42');
    expect(approvals).toMatch(/Pending approvals \(1\)[\s\S]*web1:restart "restart shop-api" — \/approve r_/);
    expect(notes).toContain('DB failover in progress');
    const root = chat.posts().find((p) => isHandoff(p.text))!;
    expect(root.buttons).toEqual(['I have it']);
    transcripts.push([`=== ${platform}: /handoff — message and thread ===`, root.text, ...sections.map((s) => `--- thread:\n${s}`)].join('\n'));

    // Someone else's click is refused; the incoming person's is recorded and the message updated.
    await chat.clickOn('operator', isHandoff, 'I have it');
    await chat.waitFor(() => chat!.notices().find((n) => n.includes('is for')));
    await chat.clickOn('responder', isHandoff, 'I have it');
    const me = platform === 'telegram' ? `tg:${PEOPLE.telegram.responder}` : `slack:${PEOPLE.slack.responder}`;
    await chat.waitFor(() => chat!.posts().find((p) => p.id === root.id)?.text.includes(`taken by ${me}`));
    expect(chat.posts().find((p) => p.id === root.id)?.buttons).toEqual([]);
    expect((await oc.rotation.current())?.person).toBe(me);

    // A second handoff nobody takes: 16 minutes later the thread says so and mentions the next person.
    await chat.send('responder', '/handoff');
    await chat.waitFor(() => chat!.posts().filter((p) => isHandoff(p.text) && !p.thread).length === 2);
    await oc.tick();
    expect(chat.threadOf(isHandoff).some((m) => m.includes('nobody took'))).toBe(false);
    clock.now += 16 * 60_000;
    await oc.tick();
    await oc.tick();
    const nudge = await chat.waitFor(() => {
      const n = chat!.threadOf(isHandoff).filter((m) => m.includes('nobody took'));
      return n.length > 0 && n;
    });
    expect(nudge).toHaveLength(1);
    // h2 went to the operator (next after the responder); the one after the operator is mentioned.
    const next = platform === 'telegram' ? `tg:${PEOPLE.telegram.responder}` : `<@${PEOPLE.slack.responder}>`;
    expect(nudge[0]).toMatch(/nobody took handoff h2 within 15 min/);
    expect(nudge[0]).toContain(next);
    transcripts.push([`=== ${platform}: handoff h2 not taken in time ===`, ...nudge].join('\n'));
  });
});
