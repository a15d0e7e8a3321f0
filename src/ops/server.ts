/**
 * The ops HTTP server of a bot or worker (`--metrics-port N`, off by
 * default): `GET /metrics` (Prometheus text format), `GET /healthz` (200
 * while the process answers) and `GET /readyz` (200 or 503 with each
 * readiness check as JSON). Anything else is 404; methods other than GET
 * and HEAD are 405.
 *
 * It binds `--metrics-host` (default 127.0.0.1: nothing is exposed beyond
 * the machine unless asked; a container sets 0.0.0.0). It serves no secret:
 * labels are runbook, step and cause names, readiness details are Triage's
 * own words, and both pass the redactor anyway.
 *
 * Deliberately left out: TLS and auth (put it behind the network policy or
 * a proxy, as with any exporter), and keep-alive tuning.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TriageError } from '../errors.ts';
import { redact } from '../redact.ts';
import type { OpsMetrics } from './metrics.ts';
import type { Readiness } from './readiness.ts';

/** Options for {@link startOpsServer}. */
export interface OpsServerOptions {
  /** Port to listen on; 0 picks a free one (tests). */
  port: number;
  /** Default `127.0.0.1`. */
  host?: string;
  metrics: OpsMetrics;
  readiness: Readiness;
  /** Where a failed request is logged. */
  onError?: (err: Error) => void;
}

/** A listening ops server. */
export interface OpsServer {
  /** The port it listens on (the one picked, for port 0). */
  port: number;
  host: string;
  close(): Promise<void>;
}

/** Starts the server; `USAGE` (exit 2) when the port cannot be bound. */
export async function startOpsServer(o: OpsServerOptions): Promise<OpsServer> {
  const host = o.host ?? '127.0.0.1';
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    void (async () => {
      if (path === '/healthz') return send(200, 'text/plain', 'ok\n');
      if (path === '/readyz') {
        const r = await o.readiness.check();
        return send(r.ready ? 200 : 503, 'application/json', `${redact(JSON.stringify(r))}\n`);
      }
      if (path === '/metrics') {
        const m = await o.metrics.text();
        return send(200, m.contentType, m.body);
      }
      send(404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
    })().catch((e: unknown) => {
      o.onError?.(e instanceof Error ? e : new Error(String(e)));
      if (!res.headersSent) send(500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new TriageError('USAGE', `cannot serve metrics on ${host}:${o.port}: ${e.code ?? e.message}`, {
          fix: e.code === 'EADDRINUSE' ? 'another process uses that port: pick another --metrics-port (each process on a machine needs its own)' : 'check --metrics-host and --metrics-port',
        }),
      ),
    );
    server.listen(o.port, host, () => resolve());
  });
  server.on('error', (e) => o.onError?.(e));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    host,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
