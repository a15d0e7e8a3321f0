/**
 * One story, two platforms: the same conformance suite runs against the
 * Telegram and the Slack adapter (BullMQ's adapter-conformance idea). Each
 * case starts the platform's loopback fake, the whole bot (real adapter,
 * ChatCore, RunQueue, worker on `address: local`) on the real Redis under a
 * unique prefix, and checks only what people in the chat would see.
 *
 * At the end it prints one diagnosis per platform as the fake recorded it
 * (card as posted and after each edit, the thread) with the time from the
 * command to the card and to the final summary.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/bot/audit.ts';
import { startBot } from '../../src/bot/bot.ts';
import { parseConfig } from '../../src/config.ts';
import { TriageError } from '../../src/errors.ts';
import { connectRedis } from '../../src/queue/redis.ts';
import { redact } from '../../src/redact.ts';
import { RunbookLibrary } from '../../src/runbooks/loader.ts';
import { type ChatDriver, DRIVERS, type StoryWorld, storyAccess } from '../support/chat-drivers.ts';
import { FakeTelegram } from '../support/fake-telegram.ts';

// The app of the remediation story is "up" while this file exists; its fix creates it (a real change on the host).
const appDir = mkdtempSync(join(tmpdir(), 'triage-conformance-app-'));
const upFile = join(appDir, 'up');

/** A runbook whose finding offers `fix` as its remedy: it finds the app down, the fix runs `fixCommand`, the re-check looks again. */
function fixableRunbook(name: string, fixCommand: string) {
  return {
    name,
    description: 'finds the app down and offers to start it (needs an operator)',
    steps: [
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, not a JS one
      { id: 'up', title: 'app is up', run: 'test -f ${{ target.workdir }}/up || { echo "down: no up file"; exit 3; }' },
      { id: 'start', title: 'start the app', run: fixCommand, changes: true, recheck: ['up'], settle: '1s' },
    ],
    findings: [
      {
        code: 'service-down',
        title: 'the app is not running',
        when: "up.status == 'fail'",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, not a JS one
        evidence: ['no up file in ${{ target.workdir }}'],
        fix: 'start it',
        remedy: 'start',
      },
    ],
  };
}

const world: StoryWorld = {
  config: {
    hosts: { web1: { address: 'local' } },
    targets: { shop: { hosts: ['web1'] }, app: { hosts: ['web1'], workdir: appDir } },
    access: storyAccess(),
  },
  runbooks: {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook template, not a JS one
    fixable: fixableRunbook('fixable', 'touch ${{ target.workdir }}/up'),
    // Its fix "starts" an app that does not come up.
    unfixable: fixableRunbook('unfixable', 'echo starting; true'),
    '502': {
      name: '502',
      description: 'bad gateway: is the app behind nginx up?',
      // Each step takes a moment, so the card gets an edit per step (edits that wait their turn coalesce).
      steps: [
        { id: 'config', title: 'nginx config', run: 'sleep 0.3; echo "nginx: configuration file /etc/nginx/nginx.conf test is successful"' },
        { id: 'errors', title: 'nginx error log', run: 'sleep 0.3; echo "connect() failed (111: Connection refused) while connecting to upstream"' },
        {
          id: 'port',
          title: 'app port 8000',
          run: 'sleep 0.3; echo "curl: (7) Failed to connect to 127.0.0.1 port 8000 <refused> & gave up"; exit 7',
          finding: {
            code: 'service-down',
            title: 'shop-api is not running on web1',
            evidence: ['nothing listens on :8000', 'nginx: connect() failed (111: Connection refused)'],
            fix: 'sudo systemctl restart shop-api.service',
          },
        },
      ],
    },
    slow: {
      name: 'slow',
      description: 'one quick step, then a long one (to cancel)',
      steps: [
        { id: 'first', title: 'quick look', run: 'echo ok' },
        { id: 'wait', title: 'long wait', run: 'sleep 30', timeout: '1m' },
      ],
    },
    restart: {
      name: 'restart',
      description: 'finds the app down and restarts it (needs an operator)',
      steps: [
        {
          id: 'check',
          title: 'service state',
          run: 'echo inactive; exit 3',
          finding: { code: 'service-down', title: 'shop-api is inactive', evidence: ['systemctl is-active: inactive'], fix: 'restart shop-api' },
        },
        { id: 'restart', title: 'restart shop-api', run: 'echo restarted', changes: true },
      ],
    },
  },
};

const transcripts: string[] = [];

afterAll(() => {
  rmSync(appDir, { recursive: true, force: true });
  if (transcripts.length) console.log(`\n${transcripts.join('\n\n')}\n`);
});

async function eventually(what: string, pred: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const outcomes = (entries: AuditEntry[]) => entries.map((e) => `${e.outcome} ${e.user} ${e.text}`);

describe.each(DRIVERS)('on $platform', ({ platform, start }) => {
  let chat: ChatDriver;
  beforeEach(async () => {
    chat = await start(world);
  });
  afterEach(async () => {
    await chat?.close();
  });

  it('/diagnose posts one card, edits it as each step finishes, ends with cause, evidence, fix and run id, and puts details in the thread', async () => {
    const t0 = Date.now();
    await chat.send('responder', '/diagnose 502 shop');
    const card = await chat.waitForFinalCard();
    // Timings from the platform's own record of the bot's calls: the card's post, and the edit that made it final.
    const ok = chat.deliveries().filter((d) => d.status === 200 && d.at >= t0);
    const cardMs = ok.find((d) => d.op === 'post')!.at - t0;
    const finalMs = ok.filter((d) => d.op === 'edit').at(-1)!.at - t0;

    expect(card).toMatch(/^❌ 502 on shop: service-down/);
    expect(card).toContain('cause: service-down — ');
    expect(card).toContain('• nothing listens on :8000');
    expect(card).toContain('fix: sudo systemctl restart shop-api.service');
    expect(card).toMatch(/\nrun r_[a-z0-9]+ · unhealthy · .* · asked by @?rick$/);
    expect(chat.cardButtons()).toEqual(['Re-run', 'Ack', 'Resolve']);
    expect(chat.cardCount()).toBe(1);

    const versions = chat.cardVersions();
    expect(versions[0]).toMatch(/^🔎 502 on shop — (queued|running…)/);
    // Every step shows up on the card before the run ends: one edit per finished step.
    const progress = versions.slice(0, -1);
    for (const [done, next] of [
      ['✓ nginx config', 'nginx error log'],
      ['✓ nginx error log', 'app port 8000'],
    ]) {
      expect(progress.some((v) => v.includes(done!) && !v.includes(next!)), `a version with "${done}" before "${next}":\n${versions.join('\n---\n')}`).toBe(true);
    }
    expect(versions.at(-1)).toBe(card);

    // The thread: the host's details, then the incident this unhealthy run opened (src/oncall).
    await chat.waitFor(() => chat.thread().messages.some((m) => m.startsWith('🚨 incident i1 opened: service-down on shop')));
    const thread = chat.thread();
    expect(thread.messages).toHaveLength(2);
    expect(thread.messages[1]).toMatch(/^🚨 incident i1 opened/);
    expect(thread.messages[0]).toMatch(/web1 — 2 passed, 1 failed|web1 — 1 failed, 2 passed/);
    expect(thread.messages[0]).toContain('✗ app port 8000 · exit 7');
    expect(thread.messages[0]).toContain('curl: (7) Failed to connect to 127.0.0.1 port 8000 <refused> & gave up');

    const audit = await chat.audit();
    expect(outcomes(audit)).toEqual([`ok ${platform === 'telegram' ? 'tg:1002' : 'slack:U0RESPONDER'} /diagnose 502 shop`]);

    transcripts.push(
      [
        `=== ${platform}: /diagnose 502 shop — card posted after ${Math.round(cardMs)} ms, final summary after ${Math.round(finalMs)} ms ===`,
        ...versions.map((v, i) => `--- card ${i === 0 ? 'as posted' : `edit ${i}`}:\n${v}`),
        ...thread.messages.map((m) => `--- thread:\n${m}`),
        ...thread.files.map((f) => `--- thread file ${f.filename} (${f.content.length} chars)`),
      ].join('\n'),
    );
  });

  it('the Cancel button mid-run ends the card as cancelled', async () => {
    await chat.send('responder', '/diagnose slow shop');
    await chat.waitFor(() => chat.card().includes('✓ quick look') && chat.cardButtons().includes('Cancel'));
    await chat.click('responder', 'Cancel');
    const card = await chat.waitForFinalCard(25_000);
    expect(card).toMatch(/^⏹ slow on shop: cancelled/);
    expect(card).toMatch(/\nrun r_[a-z0-9]+ · cancelled · /);
    expect(chat.cardButtons()).toEqual(['Re-run']);
    expect(chat.cardCount()).toBe(1);
  });

  it('someone not on the access list gets a short refusal and nothing is queued', async () => {
    await chat.send('stranger', '/diagnose 502 shop');
    const refusal = await chat.waitFor(() => chat.notices().find((n) => n.includes('not on the Triage access list')));
    expect(refusal.length).toBeLessThan(200);
    await eventually('the audit entry', async () => (await chat.audit()).length === 1);
    expect((await chat.audit())[0]).toMatchObject({ outcome: 'denied', text: '/diagnose 502 shop' });
    expect(await chat.runCount()).toBe(0);
    expect(chat.cardCount()).toBe(0);
  });

  it("a host-changing step waits for approval: a responder's click is refused, an operator's click lets the run go on", async () => {
    await chat.send('responder', '/diagnose restart shop');
    await chat.waitFor(() => chat.card().includes('waiting for approval') && chat.cardButtons().some((b) => b.startsWith('Approve')));
    expect(chat.card()).toContain('⏸ web1:restart "restart shop-api" changes the host and waits for an operator');

    await chat.click('responder', 'Approve');
    await chat.waitFor(() => chat.notices().find((n) => n.includes('only an operator can approve')));
    expect(chat.card()).toContain('waiting for approval');

    await chat.click('operator', 'Approve');
    const card = await chat.waitForFinalCard();
    expect(card).toMatch(/^❌ restart on shop: service-down/);
    expect(chat.thread().messages.join('\n')).toContain('✓ restart shop-api');
    const denied = (await chat.audit()).filter((e) => e.text.startsWith('/approve')).map((e) => e.outcome);
    expect(denied).toEqual(['denied', 'ok']);
  });

  it("a finding's fix waits for an operator: a responder's Approve is refused, an operator's runs it, and the card says it worked", async () => {
    rmSync(upFile, { force: true });
    await chat.send('responder', '/diagnose fixable app');
    await chat.waitFor(() => chat.card().includes('waiting for approval') && chat.cardButtons().some((b) => b.startsWith('Approve')));
    expect(chat.card()).toContain('⏸ web1:start "start the app" changes the host and waits for an operator');

    await chat.click('responder', 'Approve');
    await chat.waitFor(() => chat.notices().find((n) => n.includes('only an operator can approve')));
    expect(existsSync(upFile)).toBe(false);
    expect(chat.card()).toContain('waiting for approval');

    await chat.click('operator', 'Approve');
    const card = await chat.waitForFinalCard();
    expect(card).toMatch(/^❌ fixable on app: service-down/);
    expect(card).toMatch(/✅ fix worked: start the app \(start\) on web1 \(approved by (tg|slack):[^)]+\) — re-check: ✓ app is up/);
    expect(existsSync(upFile)).toBe(true);
    const approvals = (await chat.audit()).filter((e) => e.text.startsWith('/approve')).map((e) => e.outcome);
    expect(approvals).toEqual(['denied', 'ok']);
  });

  it('an approved fix that does not fix it: the card says it did not work, with what the re-check saw', async () => {
    rmSync(upFile, { force: true });
    await chat.send('responder', '/diagnose unfixable app');
    await chat.waitFor(() => chat.cardButtons().some((b) => b.startsWith('Approve')));
    await chat.click('operator', 'Approve');
    const card = await chat.waitForFinalCard();
    expect(card).toMatch(/❌ fix did not work: start the app \(start\) on web1 \(approved by (tg|slack):[^)]+\) — re-check: ✗ app is up/);
    expect(card).toContain('• re-check app is up: fail — down: no up file');
    expect(existsSync(upFile)).toBe(false);
  });

  it('a 429 on the card post and on an edit is waited out (retry_after) and nothing is lost', async () => {
    chat.fail429Next('post', 1);
    chat.fail429Next('edit', 1);
    await chat.send('responder', '/diagnose 502 shop');
    const card = await chat.waitForFinalCard(40_000);
    expect(card).toContain('cause: service-down — ');
    expect(card).toContain('fix: sudo systemctl restart shop-api.service');
    expect(chat.cardCount()).toBe(1);
    await chat.waitFor(() => chat.thread().messages.some((m) => m.startsWith('🚨 incident i1 opened')));
    expect(chat.thread().messages.filter((m) => !m.startsWith('🚨 incident'))).toHaveLength(1);

    const d = chat.deliveries();
    for (const op of ['post', 'edit'] as const) {
      const limited = d.findIndex((x) => x.op === op && x.status === 429);
      expect(limited, `a 429 on ${op}`).toBeGreaterThanOrEqual(0);
      const retried = d.slice(limited + 1).find((x) => x.op === op && x.status === 200);
      expect(retried!.at - d[limited]!.at).toBeGreaterThanOrEqual(950);
    }
    expect(card).not.toContain('could not deliver');
  });

  it('a duplicate delivery of the same command starts one run, not two', async () => {
    await chat.send('responder', '/diagnose 502 shop');
    await chat.waitFor(() => chat.card());
    await chat.redeliverLast();
    await eventually('the duplicate to be seen', async () => (await chat.audit()).some((e) => e.outcome === 'duplicate'));
    await chat.waitForFinalCard();
    expect(await chat.runCount()).toBe(1);
    expect(chat.cardCount()).toBe(1);
    // The repeat is audited as soon as it is seen, possibly before the first delivery finished.
    expect((await chat.audit()).map((e) => e.outcome).sort()).toEqual(['duplicate', 'ok']);
  });
});

describe('startBot', () => {
  const library = RunbookLibrary.load({ builtin: false });
  const configWith = (chat?: object) =>
    parseConfig(stringify({ hosts: { web1: { address: 'local' } }, targets: { shop: { hosts: ['web1'] } }, ...(chat ? { chat } : {}) }), '/etc/triage/triage.yaml', {});

  it('refuses to start without a chat platform, and says how to add one', async () => {
    const redis = await connectRedis({ url: 'redis://127.0.0.1:6379' });
    const err = await startBot({ loaded: configWith(), redis, library }).catch((e: unknown) => e);
    await redis.stop();
    expect(err).toBeInstanceOf(TriageError);
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', path: 'chat', file: '/etc/triage/triage.yaml' });
    expect((err as TriageError).fix).toMatch(/chat\.telegram .*or chat\.slack/);
  });

  it('refuses to start when a token cannot be read, naming the key', async () => {
    const redis = await connectRedis({ url: 'redis://127.0.0.1:6379' });
    const loaded = configWith({ telegram: { token: 'env:TRIAGE_TEST_UNSET_TOKEN' } });
    const err = await startBot({ loaded, env: {}, redis, library }).catch((e: unknown) => e);
    await redis.stop();
    expect(err).toMatchObject({ code: 'SECRET_UNRESOLVED', path: 'chat.telegram.token' });
  });

  it('registers the tokens it resolves, so they are redacted wherever they would appear', async () => {
    const tg = await FakeTelegram.start({ token: '654321:conformance-secret' });
    const redis = await connectRedis({ url: 'redis://127.0.0.1:6379' });
    const loaded = configWith({ telegram: { token: 'env:TRIAGE_TEST_TG', apiRoot: tg.apiRoot } });
    expect(redact(`GET /bot${tg.token}/getMe`)).toContain(tg.token);
    const bot = await startBot({ loaded, env: { TRIAGE_TEST_TG: tg.token }, redis, prefix: `t-bot-${process.pid}`, library, log: () => {} });
    try {
      expect(bot.adapters.map((a) => a.platform)).toEqual(['telegram']);
      expect(redact(`GET /bot${tg.token}/getMe`)).toBe('GET /bot«redacted»/getMe');
    } finally {
      await bot.stop();
      await redis.stop();
      await tg.close();
    }
  });
});
