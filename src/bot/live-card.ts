/**
 * Keeps one run's card up to date: reads the run's events, posts the card,
 * edits it as steps, states and approvals come in (edits go through the
 * outbox, so a burst becomes one edit), posts each host's details in the
 * card's thread when the host is done — hosts that passed every step
 * together, as one list once the run is final — and makes the final edit. Once the
 * final card is out, later events change nothing (the one exception: a
 * "could not deliver some updates" note when the final edit itself failed).
 *
 * Reconnect-safe: it remembers the last event id and, when Redis drops, follows
 * again from there, so nothing is missed and nothing is applied twice.
 *
 * Deliberately left out: reusing an older card for a re-run (every run gets a
 * new card) and reading the chat back.
 */
import type { RunEvent, RunState } from '../queue/jobs.ts';
import type { RunQueue } from '../queue/producer.ts';
import type { StepResult } from '../runbooks/result.ts';
import type { MessageRef } from './adapter.ts';
import type { Outbox } from './outbox.ts';
import { isQuietHost, renderHostDetails, renderQuietHosts, renderRunCard, type RunCardView } from './run-card.ts';

/** Options for {@link LiveCard.start}. */
export interface LiveCardOptions {
  queue: RunQueue;
  outbox: Outbox;
  runId: string;
  /** Where the card is posted. */
  room: string;
  /** Thread to post the card in (the command's thread), if any. */
  thread?: string;
  /** "asked by" on the card. Default: the run's `requestedBy`. */
  requestedBy?: string;
  /** Steps per host, for "3/8" and to tell when a host is done before the run is. */
  totalSteps?: number;
  /**
   * Which hosts get details in the thread: `all` (default) also those that
   * finished before the card was posted; `new` only those finishing while it
   * is followed (for `/status` of an older run).
   */
  details?: 'all' | 'new';
  /** How long to wait for the final result after a run was cancelled. Default 20 000 ms. */
  endGraceMs?: number;
  /** Wait before following again after a Redis error. Default 1000 ms. */
  reconnectDelayMs?: number;
  /** Follow attempts in a row that may fail before the card says it lost track. Default 30. */
  maxReconnects?: number;
  /** Problems worth a log line (already free of secrets). */
  log?: (line: string) => void;
}

const ENDED: RunState[] = ['done', 'cancelled', 'failed'];

/** One run's card, kept live. */
export class LiveCard {
  readonly runId: string;
  /** The posted card, once it is out. */
  ref?: MessageRef;
  /** Settles when the card stops following (final, stopped, or lost track). */
  readonly done: Promise<void>;
  /** Settles once the card is queued for posting (or could not be). */
  readonly ready: Promise<void>;
  private markReady: () => void = () => {};
  private view?: RunCardView;
  private lastEventId = '0';
  private readonly posted = new Set<string>();
  /** Finished hosts that passed every step: posted together once the run is final. */
  private readonly quiet: { host: string; steps: StepResult[] }[] = [];
  private readonly abort = new AbortController();
  private finalQueued = false;
  private lastSent = '';
  private graceTimer?: NodeJS.Timeout;
  private updateTimer?: NodeJS.Immediate;

  private constructor(private readonly o: LiveCardOptions) {
    this.runId = o.runId;
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
    this.done = this.run()
      .catch((e) => this.o.log?.(`live card ${this.runId}: ${(e as Error).message}`))
      .finally(() => this.markReady());
  }

  /** Posts the card and starts following the run. */
  static start(o: LiveCardOptions): LiveCard {
    return new LiveCard(o);
  }

  /** Stops following; the card keeps whatever it last showed. */
  stop(): void {
    clearTimeout(this.graceTimer);
    if (this.updateTimer) clearImmediate(this.updateTimer);
    this.abort.abort();
  }

  /** The card's current content, for tests and `/status`. */
  get current(): RunCardView | undefined {
    return this.view;
  }

  private async run(): Promise<void> {
    const { queue } = this.o;
    const record = await queue.status(this.runId);
    this.view = {
      runId: record.runId,
      runbook: record.runbook,
      target: record.target,
      ...(record.host ? { host: record.host } : {}),
      requestedBy: this.o.requestedBy ?? record.requestedBy,
      state: record.state,
      final: false,
      hosts: record.hosts.map((host) => ({ host, steps: [] })),
      ...(this.o.totalSteps ? { totalSteps: this.o.totalSteps } : {}),
      approvals: [],
    };
    // Catch up first, so the first card already shows where the run is.
    for (;;) {
      const batch = await queue.store.events(this.runId, this.lastEventId);
      if (!batch.length) break;
      for (const e of batch) this.apply(e, this.o.details === 'new');
    }
    if (!this.view.final && record.result && ENDED.includes(record.state)) {
      // Events expire with the run; the record may still have the result.
      this.apply({ id: this.lastEventId, type: 'final', result: record.result, state: record.state, at: record.updatedAt }, this.o.details === 'new');
    }
    const postedFinal = this.view.final;
    const first = this.render();
    this.lastSent = JSON.stringify(first);
    const posting = this.o.outbox.post(this.o.room, first, {
      ...(this.o.thread ? { thread: this.o.thread } : {}),
      // Someone just asked: the card goes ahead of other runs' progress and details.
      urgent: true,
      onGiveUp: () => this.o.log?.(`run card for ${this.runId} could not be posted in ${this.o.room}`),
    });
    this.markReady();
    this.ref = await posting;
    if (!this.ref) return;
    if (postedFinal) {
      this.finalQueued = true;
      this.postDetails();
      return;
    }
    // The grace timer may have ended the card while it was being posted.
    this.update();
    if (this.view.final) return;
    await this.follow();
  }

  private async follow(): Promise<void> {
    const { queue } = this.o;
    let failures = 0;
    while (!this.abort.signal.aborted && !this.view!.final) {
      try {
        for await (const e of queue.follow(this.runId, { afterId: this.lastEventId, signal: this.abort.signal })) {
          failures = 0;
          this.apply(e, false);
          if (this.view!.final) {
            this.update();
            break;
          }
          // Events read together (a batch of finished steps) make one card render, not one each:
          // rendering a 100-host card per event cost ~0.5 s of CPU at the end of a 100-host run.
          this.updateSoon();
        }
        if (!this.abort.signal.aborted && !this.view!.final) await this.pause();
      } catch (e) {
        if (this.abort.signal.aborted) return;
        failures++;
        this.o.log?.(`following ${this.runId} failed (${(e as Error).message}); trying again`);
        if (failures > (this.o.maxReconnects ?? 30)) {
          this.view!.note = `lost track of this run — /status ${this.runId} shows where it is`;
          this.update();
          return;
        }
        await this.pause();
      }
    }
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, this.o.reconnectDelayMs ?? 1000);
      this.abort.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }

  /** Applies one event to the view; `quiet` marks finished hosts as already posted. */
  private apply(e: RunEvent, quiet: boolean): void {
    const v = this.view!;
    this.lastEventId = e.id;
    if (v.final) return;
    switch (e.type) {
      case 'state':
        v.state = e.state;
        if (e.reason) v.reason = e.reason;
        if (ENDED.includes(e.state)) this.startGrace();
        break;
      case 'step': {
        const h = v.hosts.find((x) => x.host === e.host);
        if (!h) break;
        if (!h.steps.some((s) => s.id === e.step.id)) h.steps.push(e.step);
        v.approvals = v.approvals.filter((a) => !(a.host === e.host && a.stepId === e.step.id));
        if (quiet && this.hostDone(h.steps)) this.posted.add(h.host);
        break;
      }
      case 'approval': {
        const h = v.hosts.find((x) => x.host === e.host);
        const answered = h?.steps.some((s) => s.id === e.stepId);
        if (!answered && !v.approvals.some((a) => a.host === e.host && a.stepId === e.stepId)) {
          v.approvals.push({ host: e.host, stepId: e.stepId, title: e.title });
        }
        break;
      }
      case 'final':
        v.state = e.state;
        v.result = e.result;
        v.final = true;
        v.approvals = [];
        for (const hr of e.result.hosts) {
          const h = v.hosts.find((x) => x.host === hr.host);
          if (h && hr.steps.length >= h.steps.length) h.steps = hr.steps;
        }
        if (quiet) for (const h of v.hosts) this.posted.add(h.host);
        clearTimeout(this.graceTimer);
        break;
    }
  }

  private hostDone(steps: StepResult[]): boolean {
    const total = this.view!.totalSteps;
    return total !== undefined && steps.length >= total;
  }

  /** {@link update} once the events already read are applied (after pending microtasks). */
  private updateSoon(): void {
    if (this.updateTimer) return;
    this.updateTimer = setImmediate(() => {
      this.updateTimer = undefined;
      this.update();
    });
  }

  /** Edits the card to the current view and posts details of hosts that just finished. */
  private update(): void {
    if (this.updateTimer) {
      clearImmediate(this.updateTimer);
      this.updateTimer = undefined;
    }
    if (!this.ref || this.finalQueued) return;
    if (this.view!.final) this.finalQueued = true;
    const msg = this.render();
    // Platforms refuse (Telegram) or waste (Slack) edits that change nothing.
    const key = JSON.stringify(msg);
    if (key !== this.lastSent) {
      this.lastSent = key;
      // Progress edits are routine (paced, coalesced); the final one goes out at once.
      void this.o.outbox.edit(this.ref, msg, { urgent: this.view!.final, onGiveUp: () => this.deliveryTrouble() });
    }
    this.postDetails();
  }

  private postDetails(): void {
    if (!this.ref) return;
    const v = this.view!;
    const thread = this.ref.thread ?? this.ref.id;
    const onGiveUp = () => this.deliveryTrouble();
    const maxTextLength = this.o.outbox.transport.maxTextLength;
    const details = (h: { host: string; steps: StepResult[] }) => {
      const { message, file } = renderHostDetails(h.host, h.steps, { maxTextLength, runId: this.runId });
      void this.o.outbox.post(this.o.room, message, { thread, onGiveUp });
      if (file) void this.o.outbox.upload(this.o.room, file, { thread, onGiveUp });
    };
    for (const h of v.hosts) {
      if (this.posted.has(h.host)) continue;
      if (!v.final && !this.hostDone(h.steps)) continue;
      this.posted.add(h.host);
      // A host that did nothing (cancelled before it started) has no details worth a message.
      if (!h.steps.some((s) => s.status !== 'skipped' || s.errorCode)) continue;
      // Hosts that passed everything wait for the end and share a list; the others are posted as they finish.
      if (isQuietHost(h.steps)) this.quiet.push({ host: h.host, steps: h.steps });
      else details(h);
    }
    if (!v.final || !this.quiet.length) return;
    // In the target's host order, whatever order they finished in.
    const order = new Map(v.hosts.map((h, i) => [h.host, i]));
    const quiet = this.quiet.splice(0).sort((a, b) => order.get(a.host)! - order.get(b.host)!);
    if (quiet.length === 1) details(quiet[0]!);
    else for (const message of renderQuietHosts(quiet, { maxTextLength })) void this.o.outbox.post(this.o.room, message, { thread, onGiveUp });
  }

  private deliveryTrouble(): void {
    const v = this.view!;
    if (v.deliveryProblem || !this.ref) return;
    v.deliveryProblem = true;
    const msg = this.render();
    this.lastSent = JSON.stringify(msg);
    void this.o.outbox.edit(this.ref, msg);
  }

  /** A cancelled run normally gets its final result within seconds; if none comes, end the card anyway. */
  private startGrace(): void {
    if (this.graceTimer || this.view!.final) return;
    this.graceTimer = setTimeout(() => void this.endWithoutResult(), this.o.endGraceMs ?? 20_000);
    this.graceTimer.unref?.();
  }

  private async endWithoutResult(): Promise<void> {
    const v = this.view!;
    if (v.final) return;
    try {
      const r = await this.o.queue.status(this.runId);
      if (r.result) v.result = r.result;
      v.state = r.state;
      if (r.reason) v.reason = r.reason;
    } catch {
      // Keep what the card already knows.
    }
    if (v.final) return;
    v.final = true;
    this.update();
    this.abort.abort();
  }

  private render() {
    return renderRunCard(this.view!, { maxTextLength: this.o.outbox.transport.maxTextLength });
  }
}
