/**
 * Bad "SSH hosts" on loopback, for the executor's error paths: a port that
 * accepts and never speaks, one that sends a banner then goes silent, one
 * that hangs up at once, one whose SYNs are dropped (a full accept queue),
 * and a TCP proxy in front of a real sshd whose connections a test can cut.
 *
 * Deliberately left out: anything beyond loopback, and firewall rules (they
 * would be global to the machine other tests share).
 */
import * as net from 'node:net';
import { freePort } from '../../src/net.ts';
import { spawnTracked, type TrackedChild, waitUntil } from './processes.ts';

export interface FaultyHost {
  address: string;
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  stop(): Promise<void>;
}

type Behaviour = 'silent' | 'banner-then-silent' | 'close-on-accept';

/** A TCP server on 127.0.0.1 that misbehaves as asked on every connection. */
export async function faultyServer(behaviour: Behaviour): Promise<FaultyHost> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((sock) => {
    accepted++;
    sock.on('error', () => {});
    if (behaviour === 'close-on-accept') {
      sock.destroy();
      return;
    }
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.resume(); // read and ignore whatever the client says
    if (behaviour === 'banner-then-silent') sock.write('SSH-2.0-OpenSSH_9.6 silent\r\n');
  });
  await listen(server);
  const port = (server.address() as net.AddressInfo).port;
  return {
    address: '127.0.0.1',
    port,
    accepted: () => accepted,
    stop: () => closeServer(server, sockets),
  };
}

/**
 * A port whose SYNs go unanswered: a listener (python3, which can listen
 * without accepting) with a backlog of 0 whose one queue slot is filled by a
 * connection we hold open. Further connects hang until the client gives up.
 */
export async function blackholedPort(): Promise<FaultyHost & { child: TrackedChild }> {
  const port = await freePort('127.0.0.1');
  const script = [
    'import socket, sys, time',
    's = socket.socket()',
    's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
    `s.bind(("127.0.0.1", ${port}))`,
    's.listen(0)',
    'time.sleep(600)',
  ].join('\n');
  const child = await spawnTracked('python3', ['-c', script]);
  // The first connection takes the only queue slot; the listener never accepts it, so it stays there.
  const filler = await waitUntil('the blackhole listener', async () => (await connectOnce(port)) ?? false, { timeoutMs: 5000 });
  return {
    address: '127.0.0.1',
    port,
    accepted: () => 0,
    child,
    async stop() {
      filler.destroy();
      await child.stop();
    },
  };
}
function connectOnce(port: number): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(undefined);
    }, 500);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

export interface CuttableProxy {
  address: string;
  port: number;
  /** Connections currently piped through. */
  live(): number;
  /** Destroys every piped connection at once (both sides), as a dropped network would. */
  cut(): void;
  /**
   * Stops forwarding in both directions but keeps both sockets open, as a
   * network partition would: neither end sees a FIN. `cut()` ends it.
   */
  freeze(): void;
  stop(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 in front of `target` whose connections can be cut mid-stream. */
export async function cuttableProxy(target: { address: string; port: number }): Promise<CuttableProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: target.address, port: target.port });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await listen(server);
  const port = (server.address() as net.AddressInfo).port;
  const cut = () => {
    for (const [a, b] of [...pairs]) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  const freeze = () => {
    for (const [a, b] of pairs) {
      a.unpipe(b);
      b.unpipe(a);
      a.pause();
      b.pause();
    }
  };
  return {
    address: '127.0.0.1',
    port,
    live: () => pairs.size,
    cut,
    freeze,
    async stop() {
      cut();
      await closeServer(server, new Set());
    },
  };
}

function listen(server: net.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}
