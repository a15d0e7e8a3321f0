/**
 * What the working parts of Triage tell operations: a step finished, a run
 * ended or was queued, an SSH connection could not be made, a chat send went
 * out, was rate limited, retried or given up. Each is published on a Node
 * `diagnostics_channel` (the mechanism undici and node:http use for the same
 * job), so the queue, the executors and the chat outbox stay free of any
 * logging or metrics library and pay nothing while nobody listens — `triage
 * run` listens to none of them. The ops layer ({@link subscribeOps}) turns
 * them into log lines and Prometheus counters.
 *
 * Deliberately left out: delivery guarantees (a subscriber that throws is
 * the subscriber's bug; Node reports it on the next tick), and anything a
 * subscriber could change: payloads are facts after the fact.
 */
import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';

/** A step finished on a host and was recorded. */
export interface StepEvent {
  runId: string;
  runbook: string;
  target: string;
  host: string;
  step: string;
  status: string;
  durationMs: number;
}

/** A run ended with its one final result (or failed for good). */
export interface RunEndEvent {
  runId: string;
  runbook: string;
  target: string;
  /** `healthy`, `unhealthy` or `error` (the result's status). */
  status: string;
  /** `done`, `failed` or `cancelled`. */
  state: string;
  cause: string | null;
  durationMs: number;
}

/** A run was queued. */
export interface RunQueuedEvent {
  runId: string;
  runbook: string;
  target: string;
  hosts: string[];
  requestedBy: string;
}

/** An SSH connection to a host could not be made. */
export interface SshConnectFailureEvent {
  host: string;
  /** Why, as a short stable label: an errno code (`ECONNREFUSED`, `EHOSTUNREACH`) or `timeout`, `auth`, `host-key`, `handshake`. */
  reason: string;
  /** The TriageError code (`SSH_CONNECT`, `SSH_AUTH`, `SSH_HOSTKEY`). */
  code: string;
  message: string;
}

/** One chat operation attempt's outcome. */
export interface ChatSendEvent {
  platform: string;
  kind: string;
  room: string;
  /** `sent` (delivered), `rate-limited` (waiting Retry-After, then again), `retry` (failed, trying again), `gave-up`. */
  outcome: 'sent' | 'rate-limited' | 'retry' | 'gave-up';
  retryAfterMs?: number;
  error?: string;
}

const NAMES = {
  step: 'triage:step',
  runEnd: 'triage:run-end',
  runQueued: 'triage:run-queued',
  sshConnectFailure: 'triage:ssh-connect-failure',
  chatSend: 'triage:chat-send',
} as const;

const channels = {
  step: channel(NAMES.step),
  runEnd: channel(NAMES.runEnd),
  runQueued: channel(NAMES.runQueued),
  sshConnectFailure: channel(NAMES.sshConnectFailure),
  chatSend: channel(NAMES.chatSend),
};

/** Tells operations a step finished. */
export function publishStep(e: StepEvent): void {
  if (channels.step.hasSubscribers) channels.step.publish(e);
}

/** Tells operations a run ended. */
export function publishRunEnd(e: RunEndEvent): void {
  if (channels.runEnd.hasSubscribers) channels.runEnd.publish(e);
}

/** Tells operations a run was queued. */
export function publishRunQueued(e: RunQueuedEvent): void {
  if (channels.runQueued.hasSubscribers) channels.runQueued.publish(e);
}

/** Tells operations an SSH connection failed; `err` is classified by {@link sshFailureReason}. */
export function publishSshConnectFailure(host: string, err: unknown): void {
  if (!channels.sshConnectFailure.hasSubscribers) return;
  const e = err as { code?: unknown; message?: unknown };
  channels.sshConnectFailure.publish({
    host,
    reason: sshFailureReason(err),
    code: typeof e?.code === 'string' ? e.code : 'SSH_CONNECT',
    message: typeof e?.message === 'string' ? e.message : String(err),
  } satisfies SshConnectFailureEvent);
}

/** Tells operations how a chat operation went. */
export function publishChatSend(e: ChatSendEvent): void {
  if (channels.chatSend.hasSubscribers) channels.chatSend.publish(e);
}

/** What each kind of event goes to; absent handlers are not subscribed. */
export interface OpsHandlers {
  step?: (e: StepEvent) => void;
  runEnd?: (e: RunEndEvent) => void;
  runQueued?: (e: RunQueuedEvent) => void;
  sshConnectFailure?: (e: SshConnectFailureEvent) => void;
  chatSend?: (e: ChatSendEvent) => void;
}

/** Subscribes the handlers; returns the function that unsubscribes them again. */
export function subscribeOps(h: OpsHandlers): () => void {
  const subs: [string, (m: unknown) => void][] = [];
  for (const key of Object.keys(NAMES) as (keyof typeof NAMES)[]) {
    const fn = h[key] as ((e: unknown) => void) | undefined;
    if (!fn) continue;
    const listener = (m: unknown) => fn(m);
    subscribe(NAMES[key], listener);
    subs.push([NAMES[key], listener]);
  }
  return () => {
    for (const [name, fn] of subs.splice(0)) unsubscribe(name, fn);
  };
}

/** Errno codes kept as they are in the `reason` label; any other becomes `network`. */
const ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EPIPE', 'EADDRNOTAVAIL']);

/**
 * A short, bounded label for why an SSH connection failed: the socket's
 * errno code when there is one (`ECONNREFUSED`), else `auth` (key refused),
 * `host-key` (unknown or changed key), `timeout` (no answer or no handshake
 * in time) or `handshake` (closed or broken during the handshake).
 */
export function sshFailureReason(err: unknown): string {
  const e = err as { code?: string; cause?: { code?: unknown; level?: unknown }; message?: string } | undefined;
  if (e?.code === 'SSH_AUTH') return 'auth';
  if (e?.code === 'SSH_HOSTKEY') return 'host-key';
  const errno = typeof e?.cause?.code === 'string' ? e.cause.code : undefined;
  if (errno) return ERRNO.has(errno) ? errno : 'network';
  if (e?.cause?.level === 'client-timeout' || /within \d+ ms/.test(e?.message ?? '')) return 'timeout';
  return 'handshake';
}
