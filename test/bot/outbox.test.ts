/**
 * The outbox stands between live cards and a chat platform that limits how
 * fast bots may write. These tests drive it with fake time and a scripted
 * transport: what matters is what reaches the chat, and in which order.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ChatFile, type ChatMessage, type ChatTransport, type MessageRef, RateLimitedError } from '../../src/bot/adapter.ts';
import { Outbox, type OutboxOperation } from '../../src/bot/outbox.ts';

type Call = { op: 'post' | 'edit' | 'upload'; room: string; text: string; failed?: boolean };

/** A transport that records every call; `script` may make a call fail. */
class ScriptedTransport implements ChatTransport {
  readonly platform = 'telegram' as const;
  readonly maxTextLength = 4096;
  readonly calls: Call[] = [];
  /** Called before each call; return an error to make it fail. */
  script: (call: Call, n: number) => Error | undefined = () => undefined;
  private seq = 0;

  async post(room: string, msg: ChatMessage): Promise<MessageRef> {
    this.record({ op: 'post', room, text: msg.lines.join(' ') });
    return { room, id: String(++this.seq) };
  }
  async edit(ref: MessageRef, msg: ChatMessage): Promise<void> {
    this.record({ op: 'edit', room: ref.room, text: msg.lines.join(' ') });
  }
  async upload(room: string, file: ChatFile): Promise<void> {
    this.record({ op: 'upload', room, text: file.filename });
  }
  private record(c: Call): void {
    const err = this.script(c, this.calls.filter((x) => x.text === c.text && x.op === c.op).length);
    this.calls.push({ ...c, ...(err ? { failed: true } : {}) });
    if (err) throw err;
  }
  delivered(): string[] {
    return this.calls.filter((c) => !c.failed).map((c) => `${c.op} ${c.text}`);
  }
}

const msg = (text: string): ChatMessage => ({ lines: [text] });

let t: ScriptedTransport;
beforeEach(() => {
  vi.useFakeTimers();
  t = new ScriptedTransport();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Outbox', () => {
  it('the final card does not wait behind queued thread details: it goes first, each kind in its own order', async () => {
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 1000 } });
    const card = await (async () => {
      const r = ob.post('tg:-1', msg('card v0'));
      await vi.runAllTimersAsync();
      return (await r)!;
    })();
    const details = [1, 2, 3, 4, 5].map((i) => ob.post('tg:-1', msg(`web${i} details`), { thread: card.id }));
    const file = ob.upload('tg:-1', { filename: 'web5.txt', content: 'x' }, { thread: card.id });
    const progress = ob.edit(card, msg('card 4/6'));
    const next = ob.post('tg:-1', msg('next run card'));
    await vi.runAllTimersAsync();
    await Promise.all([...details, file, progress, next]);
    expect(t.delivered()).toEqual([
      'post card v0',
      'post web1 details', // already on its way when the others came
      'post next run card', // urgent: a new card someone asked for
      'edit card 4/6', // the card, ahead of its thread
      'post web2 details',
      'post web3 details',
      'post web4 details',
      'post web5 details',
      'upload web5.txt',
    ]);
  });

  it('routine traffic always leaves a token: an urgent final edit goes out at once, not after the queued details', async () => {
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 1000, burst: 3, perMinute: 0 } });
    void ob.post('tg:-1', msg('card v0'));
    for (let i = 1; i <= 6; i++) void ob.post('tg:-1', msg(`web${i} details`), { thread: '1' });
    await vi.advanceTimersByTimeAsync(0);
    // A burst of three, one of which routine traffic may not take.
    expect(t.delivered()).toEqual(['post card v0', 'post web1 details']);
    await vi.advanceTimersByTimeAsync(1500);
    expect(t.delivered()).toEqual(['post card v0', 'post web1 details', 'post web2 details']);
    const final = ob.edit({ room: 'tg:-1', id: '1' }, msg('card final'), { urgent: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(await final).toBe(true);
    expect(t.delivered().at(-1)).toBe('edit card final');
    // The details carry on at one per second on average.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(t.delivered()).toHaveLength(8);
  });

  it('a progress edit waiting for its token goes at once when the final version of the card replaces it', async () => {
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 1000, burst: 3, perMinute: 0 } });
    const card = { room: 'tg:-1', id: '1' };
    void ob.post('tg:-1', msg('card v0'));
    void ob.edit(card, msg('card 1/6'));
    await vi.advanceTimersByTimeAsync(0);
    void ob.edit(card, msg('card 2/6')); // waits: routine traffic leaves the last token
    await vi.advanceTimersByTimeAsync(100);
    expect(t.delivered()).toEqual(['post card v0', 'edit card 1/6']);
    const final = ob.edit(card, msg('card final'), { urgent: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(t.delivered()).toEqual(['post card v0', 'edit card 1/6', 'edit card final']);
    expect(await final).toBe(true);
  });

  it('a routine operation waiting for its token steps aside for an urgent one that comes meanwhile', async () => {
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 1000, burst: 1 } });
    void ob.post('tg:-1', msg('card'));
    void ob.post('tg:-1', msg('details'), { thread: '1' });
    await vi.advanceTimersByTimeAsync(300);
    expect(t.delivered()).toEqual(['post card']);
    void ob.replyPrivately({ platform: 'telegram', user: 'tg:1', room: 'tg:-1', text: '/help', via: 'text', deliveryId: 'u1' }, msg('help text'));
    await vi.advanceTimersByTimeAsync(700);
    expect(t.delivered()).toEqual(['post card', 'post help text']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.delivered()).toEqual(['post card', 'post help text', 'post details']);
  });

  it('with burst 1, a room gets exactly one operation per interval', async () => {
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 1000, burst: 1 } });
    for (let i = 1; i <= 4; i++) void ob.post('tg:-1', msg(`m${i}`));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.delivered()).toEqual(['post m1']);
    await vi.advanceTimersByTimeAsync(2999);
    expect(t.delivered()).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.delivered()).toHaveLength(4);
  });

  it('sends only the latest version when several edits of a card are waiting', async () => {
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 1000 } });
    const ref = ob.post('tg:-1', msg('card v0'));
    const edits = [ob.edit({ room: 'tg:-1', id: '1' }, msg('card v1')), ob.edit({ room: 'tg:-1', id: '1' }, msg('card v2')), ob.edit({ room: 'tg:-1', id: '1' }, msg('card v3'))];
    await vi.runAllTimersAsync();
    expect(await ref).toEqual({ room: 'tg:-1', id: '1' });
    expect(await Promise.all(edits)).toEqual([true, true, true]);
    expect(t.delivered()).toEqual(['post card v0', 'edit card v3']);
  });

  it('does not merge edits of different messages, and keeps each kind in order (replies before card edits)', async () => {
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 1000 } });
    void ob.post('tg:-1', msg('a'));
    void ob.edit({ room: 'tg:-1', id: '1' }, msg('card 1 v1'));
    void ob.post('tg:-1', msg('reply'));
    void ob.edit({ room: 'tg:-1', id: '2' }, msg('card 2 v1'));
    void ob.edit({ room: 'tg:-1', id: '1' }, msg('card 1 v2'));
    void ob.upload('tg:-1', { filename: 'out.txt', content: 'x' });
    await vi.runAllTimersAsync();
    // A top-level post is urgent (someone asked for it); the edits follow in their order.
    expect(t.delivered()).toEqual(['post a', 'post reply', 'edit card 1 v2', 'edit card 2 v1', 'upload out.txt']);
  });

  it('waits retry_after on a 429 and retries the same message: nothing lost, nothing reordered', async () => {
    t.script = (c, n) => (c.text === 'second' && n === 0 ? new RateLimitedError(30_000) : undefined);
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 0 } });
    const sent = ['first', 'second', 'third'].map((s) => ob.post('tg:-1', msg(s)));
    await vi.advanceTimersByTimeAsync(29_000);
    expect(t.delivered()).toEqual(['post first']);
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.runAllTimersAsync();
    expect(t.delivered()).toEqual(['post first', 'post second', 'post third']);
    expect((await Promise.all(sent)).every(Boolean)).toBe(true);
  });

  it('keeps other rooms going while one room waits out a rate limit', async () => {
    t.script = (c, n) => (c.room === 'tg:-1' && n === 0 ? new RateLimitedError(60_000) : undefined);
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 0 } });
    void ob.post('tg:-1', msg('busy room'));
    void ob.post('tg:-2', msg('quiet room'));
    await vi.advanceTimersByTimeAsync(10);
    expect(t.delivered()).toEqual(['post quiet room']);
    await vi.runAllTimersAsync();
    expect(t.delivered()).toEqual(['post quiet room', 'post busy room']);
  });

  it('retries other errors with backoff and then gives up, telling the hook', async () => {
    t.script = (c) => (c.text === 'doomed' ? new Error('Bad Gateway') : undefined);
    const gaveUp: OutboxOperation[] = [];
    const perOp: string[] = [];
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 0 }, attempts: 3, backoffMs: 500, onGiveUp: (op) => gaveUp.push(op) });
    const doomed = ob.edit({ room: 'tg:-1', id: '7' }, msg('doomed'), { onGiveUp: () => perOp.push('card') });
    const after = ob.post('tg:-1', msg('after'));
    await vi.runAllTimersAsync();
    expect(await doomed).toBe(false);
    expect(t.calls.filter((c) => c.text === 'doomed' && c.failed)).toHaveLength(3);
    expect(gaveUp).toEqual([{ kind: 'edit', room: 'tg:-1', ref: { room: 'tg:-1', id: '7' } }]);
    expect(perOp).toEqual(['card']);
    expect(await after).toEqual({ room: 'tg:-1', id: '1' });
  });

  it('recovers when a retry succeeds', async () => {
    t.script = (c, n) => (c.text === 'flaky' && n < 2 ? new Error('ETIMEDOUT') : undefined);
    const gaveUp: unknown[] = [];
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 0 }, attempts: 3, backoffMs: 100, onGiveUp: (op) => gaveUp.push(op) });
    const r = ob.post('tg:-1', msg('flaky'));
    await vi.runAllTimersAsync();
    expect(await r).toBeDefined();
    expect(gaveUp).toEqual([]);
  });

  it('keeps to the per-minute limit of a room', async () => {
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 0, perMinute: 3 } });
    for (let i = 1; i <= 5; i++) void ob.post('tg:-1', msg(`m${i}`));
    await vi.advanceTimersByTimeAsync(59_000);
    expect(t.delivered()).toEqual(['post m1', 'post m2', 'post m3']);
    await vi.runAllTimersAsync();
    expect(t.delivered()).toHaveLength(5);
  });

  it('flush is bounded, and close drops what could not be sent in time', async () => {
    t.script = () => new RateLimitedError(600_000);
    const ob = new Outbox({ transport: t, pacing: { minIntervalMs: 0 } });
    const stuck = ob.post('tg:-1', msg('stuck'));
    const flushed = ob.flush(1000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await flushed).toBe(false);
    const closed = ob.close(1000);
    await vi.advanceTimersByTimeAsync(2000);
    await closed;
    expect(await stuck).toBeUndefined();
    expect(await ob.post('tg:-1', msg('after close'))).toBeUndefined();
  });
});
