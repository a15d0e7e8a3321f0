/**
 * Reads nginx configuration as `nginx -T` prints it (each file after a
 * `# configuration file PATH:` line) and finds every `location` that
 * `proxy_pass`es somewhere, with the file it is in and where it points
 * (an `upstream` block resolved to its first server).
 *
 * Deliberately left out: evaluating `if`, `map` and variables, includes (the
 * dump already inlines the files), and anything but proxy_pass (fastcgi,
 * uwsgi and grpc upstreams are not proposed).
 */

/** One `location` that proxies to an app. */
export interface ProxiedLocation {
  /** The file the location is written in (the site file). */
  file: string;
  /** `server_name`s of the enclosing server block. */
  serverNames: string[];
  /** The URL prefix (`/api`); undefined for regex locations (`~ ^/api/`). */
  location: string | undefined;
  /** The proxy_pass value as written. */
  proxyPass: string;
  /** Where it points, when that is a fixed host and port. */
  upstream: { host: string; port: number } | undefined;
}

/** What one configuration dump holds. */
export interface NginxDump {
  /** Files in the order they appear. */
  files: string[];
  proxies: ProxiedLocation[];
}

const FILE_HEADER = /^# configuration file (.+):$/;

/** Splits a dump into files (a file listed twice is kept once) and finds the proxied locations. */
export function parseNginxDump(text: string): NginxDump {
  const files = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split('\n')) {
    const m = FILE_HEADER.exec(line);
    if (m) {
      const name = m[1]!;
      current = files.has(name) ? undefined : [];
      if (current) files.set(name, current);
      continue;
    }
    current?.push(line);
  }
  const upstreams = new Map<string, { host: string; port: number }>();
  const raw: Omit<ProxiedLocation, 'upstream'>[] = [];
  for (const [file, lines] of files) {
    const found = walk(tokenize(lines.join('\n')), file);
    raw.push(...found.proxies);
    for (const [name, server] of found.upstreams) if (!upstreams.has(name)) upstreams.set(name, server);
  }
  return { files: [...files.keys()], proxies: raw.map((p) => ({ ...p, upstream: resolveProxyPass(p.proxyPass, upstreams) })) };
}

type Token = string | { punct: '{' | '}' | ';' };

/** nginx's lexer, reduced: words, quoted strings, `{ } ;` and `#` comments. */
function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '{' || c === '}' || c === ';') {
      out.push({ punct: c });
      i++;
    } else if (c === '"' || c === "'") {
      let word = '';
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === '\\' && i + 1 < src.length) i++;
        word += src[i];
        i++;
      }
      i++;
      out.push(word);
    } else {
      let word = '';
      while (i < src.length && !/[\s{};]/.test(src[i]!)) {
        if (src[i] === '\\' && i + 1 < src.length) i++;
        word += src[i];
        i++;
      }
      out.push(word);
    }
  }
  return out;
}

interface Block {
  name: string;
  args: string[];
  serverNames?: string[];
}

function walk(tokens: Token[], file: string): { proxies: Omit<ProxiedLocation, 'upstream'>[]; upstreams: Map<string, { host: string; port: number }> } {
  const proxies: Omit<ProxiedLocation, 'upstream'>[] = [];
  const upstreams = new Map<string, { host: string; port: number }>();
  const stack: Block[] = [];
  let words: string[] = [];
  const nearest = (name: string) => [...stack].reverse().find((b) => b.name === name);
  for (const t of tokens) {
    if (typeof t === 'string') {
      words.push(t);
      continue;
    }
    if (t.punct === '{') {
      const [name = '', ...args] = words;
      stack.push({ name, args, ...(name === 'server' ? { serverNames: [] } : {}) });
    } else if (t.punct === '}') {
      stack.pop();
    } else {
      const [name, ...args] = words;
      const top = stack[stack.length - 1];
      if (name === 'server_name' && top?.name === 'server') top.serverNames?.push(...args);
      if (name === 'server' && top?.name === 'upstream' && top.args[0] && args[0] && !upstreams.has(top.args[0])) {
        const hp = hostPort(args[0], 80);
        if (hp) upstreams.set(top.args[0], hp);
      }
      if (name === 'proxy_pass' && args[0]) {
        const loc = nearest('location');
        proxies.push({
          file,
          serverNames: nearest('server')?.serverNames ?? [],
          location: loc ? locationPath(loc.args) : undefined,
          proxyPass: args[0],
        });
      }
    }
    words = [];
  }
  return { proxies, upstreams };
}

/** `location /api`, `location = /api`, `location ^~ /api` → `/api`; regex and named locations → undefined. */
function locationPath(args: string[]): string | undefined {
  const [a, b] = args;
  const path = a === '=' || a === '^~' ? b : a;
  return path?.startsWith('/') ? path : undefined;
}

/** `127.0.0.1:8000`, `[::1]:8000`, `localhost` (→ default port); unix sockets and variables → undefined. */
function hostPort(s: string, defaultPort: number): { host: string; port: number } | undefined {
  if (s.startsWith('unix:') || s.includes('$')) return undefined;
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(s);
  if (!m) return undefined;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function resolveProxyPass(value: string, upstreams: Map<string, { host: string; port: number }>): { host: string; port: number } | undefined {
  const m = /^(https?):\/\/([^/]+)/.exec(value);
  if (!m) return undefined;
  const authority = m[2]!;
  if (!authority.includes(':') && upstreams.has(authority)) return upstreams.get(authority);
  return hostPort(authority, m[1] === 'https' ? 443 : 80);
}
