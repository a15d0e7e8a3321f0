/** Picking a port for a server that will be started a moment later. */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const handedOut = new Set<number>();

/**
 * A port nothing listens on at `host` right now. Picked at random BELOW the
 * kernel's ephemeral range: a port the OS hands out for port 0 can be taken
 * by any outgoing connection (Redis, SSH, ...) before our server binds it.
 * Never the same port twice per process.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [lo, hi] = safeRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = lo + Math.floor(Math.random() * (hi - lo));
    if (handedOut.has(port)) continue;
    if (await canBind(host, port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no bindable port in ${lo}-${hi} on ${host}`);
}

/** True when `host:port` can be bound right now. */
export function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** [10000, start of the ephemeral range): ports the kernel does not pick by itself. */
function safeRange(): [number, number] {
  let start = 32768;
  try {
    start = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || start;
  } catch {
    /* not Linux: keep the IANA default */
  }
  return [10_000, Math.max(start, 12_000)];
}
