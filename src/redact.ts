/**
 * Secret redaction. Everything Triage prints, posts to chat, logs or stores
 * passes through a {@link Redactor} first: {@link redact} (text) and
 * {@link redactDeep} (JSON-like data) use the process-wide
 * {@link defaultRedactor}; a run uses its own scope ({@link Redactor.scope}).
 * Secrets become `«redacted»`; the key names, URL hosts and header schemes
 * around them stay, so the output is still useful for diagnosis.
 *
 * A run scope does two things the process-wide redactor does not:
 * - it learns: a value it redacts once (`JWT_SECRET=abc…` in an env dump, a
 *   URL password, a Bearer token, a secret param) is registered for the rest
 *   of the run, so the same value is also caught bare, in a capture, a
 *   summary, a finding title or evidence, and in its base64, base64url,
 *   URL-encoded and hex forms;
 * - it guesses: long random-looking strings (hex of 32+ characters, mixed
 *   case base64 of 20+) are redacted whatever their name, unless the step
 *   declares the field `safe`. Guessing needs the step's context, so only
 *   the engine does it; display layers re-redact without guessing.
 *
 * Every pattern is linear in the input: no nested quantifiers, and patterns
 * that scan runs of characters only start at the beginning of a run.
 *
 * Deliberately left out: secrets passed as separate words after short flags
 * (`-p x`), Kubernetes-style `name: X` / `value: Y` pairs, encodings of a
 * secret nobody registered or labelled, and guessing for callers without a
 * run scope. Steps whose output is secret as a whole set `secretOutput`.
 */

/** The replacement for every secret. */
export const REDACTED = '«redacted»';

// ---------------------------------------------------------------------------
// Secret names

/** Name parts that make a name secret wherever they appear. */
const SECRET_PARTS = new Set([
  'secret',
  'secrets',
  'token',
  'tokens',
  'password',
  'passwords',
  'passwd',
  'pwd',
  'pass',
  'passphrase',
  'credential',
  'credentials',
  'creds',
  'auth',
  'authorization',
  'signature',
  'salt',
  'cookie',
  'cookies',
  'session',
  'dsn',
  'apikey',
  'privatekey',
  'accesskey',
  'secretkey',
  'bearer',
]);

/** Glued words: PGPASSWORD, AUTHTOKEN, APIKEY. */
const SECRET_SUFFIXES = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'privatekey',
  'accesskey',
  'secretkey',
  'credentials',
];

/** A last part that makes the name describe a secret rather than hold one: TOKEN_TTL, PASSWORD_FILE, AUTH_MODE. */
const METADATA_LAST = new Set([
  'timeout',
  'ttl',
  'expiry',
  'expires',
  'expiration',
  'lifetime',
  'age',
  'type',
  'kind',
  'class',
  'mode',
  'enabled',
  'disabled',
  'enable',
  'disable',
  'required',
  'count',
  'length',
  'len',
  'size',
  'min',
  'max',
  'rounds',
  'file',
  'path',
  'dir',
  'location',
  'name',
  'id',
  'user',
  'username',
  'login',
  'email',
  'url',
  'uri',
  'endpoint',
  'host',
  'port',
  'address',
  'header',
  'prefix',
  'format',
  'algorithm',
  'alg',
  'strategy',
  'provider',
  'driver',
  'store',
  'backend',
  'domain',
  'secure',
  'samesite',
  'httponly',
  'version',
  'policy',
  'interval',
  'limit',
  'issuer',
  'audience',
  'scope',
  'scopes',
  'realm',
]);

/** `X_KEY` is secret (API_KEY, SSH_KEY) unless X says it is an ordinary key. */
const ORDINARY_KEY_KINDS = new Set([
  'public',
  'pub',
  'host',
  'sort',
  'primary',
  'foreign',
  'partition',
  'cache',
  'routing',
  'idempotency',
  'hash',
  'range',
  'lookup',
  'group',
  'dedup',
  'dedupe',
  'unique',
  'shard',
  'row',
  'index',
  'map',
  'object',
  'composite',
  'redis',
  's3',
  'cursor',
  'message',
  'table',
]);

function nameParts(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .map((p) => p.replace(/[0-9]+$/, ''))
    .filter((p) => p !== '');
}

const NGINX_PASS = new Set(['proxy_pass', 'fastcgi_pass', 'uwsgi_pass', 'scgi_pass', 'grpc_pass', 'memcached_pass']);

function computeIsSecretName(name: string): boolean {
  const parts = nameParts(name);
  const joined = parts.join('_');
  // PWD/OLDPWD are the shell's working directory, in every environ dump.
  if (joined === 'pwd' || joined === 'oldpwd') return false;
  if (joined.endsWith('database_url')) return true;
  // nginx upstream directives (proxy_pass, fastcgi_pass, ...) name an address, not a password.
  if (NGINX_PASS.has(joined)) return false;
  if (parts.length > 1 && METADATA_LAST.has(parts[parts.length - 1])) return false;
  return parts.some((p, i) => {
    if (p === 'key' || p === 'keys') return i > 0 && i === parts.length - 1 && !ORDINARY_KEY_KINDS.has(parts[i - 1]);
    return SECRET_PARTS.has(p) || SECRET_SUFFIXES.some((s) => p.endsWith(s));
  });
}

const nameCache = new Map<string, boolean>();

/**
 * True when an env var or key name looks secret. Case-insensitive; looks at
 * name parts split on `_ - .`, spaces and camelCase, with trailing digits
 * dropped (`PASSWORD2`).
 *
 * Secret: SECRET, TOKEN, PASSWORD, PASSWD, PWD (not the shell's `PWD` /
 * `OLDPWD`), PASS, PASSPHRASE, CREDENTIAL(S), AUTH, AUTHORIZATION,
 * SIGNATURE, SALT, COOKIE, SESSION, DSN, DATABASE_URL, glued forms
 * (PGPASSWORD, AUTHTOKEN, APIKEY), and `…_KEY` as the last part after a
 * qualifier (API_KEY, PRIVATE_KEY, ACCESS_KEY) unless the qualifier names an
 * ordinary key (PUBLIC_KEY, SORT_KEY, CACHE_KEY…).
 *
 * Not secret: names whose last part describes the secret rather than holds it
 * (TOKEN_TTL, PASSWORD_FILE, AUTH_MODE, SESSION_TIMEOUT, JWT_SECRET_PATH),
 * a lone `KEY`, `KEY_…` (KEY_COUNT), KEYBOARD_LAYOUT, MONKEY, nginx's
 * `proxy_pass`/`fastcgi_pass`/… (an upstream address), and other
 * `*_URL` names (their credentials are redacted by value instead).
 */
export function isSecretName(name: string): boolean {
  let hit = nameCache.get(name);
  if (hit === undefined) {
    hit = computeIsSecretName(name);
    if (nameCache.size >= 5000) nameCache.clear();
    nameCache.set(name, hit);
  }
  return hit;
}

/**
 * `"JWT_SECRET is set (58 chars)"`: what a value looks like, without the
 * value. Says so when it has leading or trailing whitespace (a classic cause
 * of "wrong password"). `undefined` → "is not set"; `''` → "is set but empty".
 */
export function describeSecret(name: string, value: string | undefined): string {
  if (value === undefined) return `${name} is not set`;
  if (value === '') return `${name} is set but empty`;
  const n = [...value].length;
  const notes = [`${n} char${n === 1 ? '' : 's'}`];
  if (value.trim() === '') notes.push('only whitespace');
  else if (value.trim() !== value) notes.push('has leading or trailing whitespace');
  return `${name} is set (${notes.join(', ')})`;
}

// ---------------------------------------------------------------------------
// Registered literal secrets and their encodings

/** Shortest registered value: shorter ones would redact ordinary words. */
const MIN_SECRET = 6;
/** Shortest encoded form looked for (a 6-character secret's base64 is 8). */
const MIN_ENCODED = 8;

const toBase64Url = (s: string) => s.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/**
 * The forms a secret takes when a program encodes it: base64 (with and
 * without padding, and the part that survives inside a longer base64 string
 * at each of the three byte alignments, as in `Basic base64(user:secret)`),
 * base64url, URL encoding (upper and lower case escapes, `+` for spaces) and
 * hex (both cases).
 */
export function encodedForms(value: string): string[] {
  const out = new Set<string>();
  const buf = Buffer.from(value, 'utf8');
  const b64 = buf.toString('base64');
  out.add(b64);
  out.add(b64.replace(/=+$/, ''));
  out.add(toBase64Url(b64));
  for (const k of [0, 1, 2]) {
    // Characters fully determined by the secret's bytes when k bytes precede it.
    const enc = Buffer.concat([Buffer.alloc(k), buf, Buffer.alloc(3)]).toString('base64');
    const core = enc.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + buf.length)) / 6));
    out.add(core);
    out.add(toBase64Url(core));
  }
  const hex = buf.toString('hex');
  out.add(hex);
  out.add(hex.toUpperCase());
  const uri = encodeURIComponent(value);
  const strict = uri.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  for (const u of [uri, strict]) {
    out.add(u);
    out.add(u.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
    out.add(u.replace(/%20/g, '+'));
  }
  out.delete(value);
  return [...out].filter((s) => s.length >= MIN_ENCODED);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Longest value registered; longer ones (a whole key file) are redacted where found but not looked for elsewhere. */
const MAX_SECRET = 4096;
/** Longest value learned from output. */
const MAX_LEARNED = 512;
/** Values one redactor learns at most (a run that dumps megabytes of random data does not grow it without bound). */
const MAX_LEARNED_VALUES = 1000;

/** A value that would make redaction non-idempotent or erase the replacement itself. */
function unregistrable(value: string): boolean {
  return value.length < MIN_SECRET || value.length > MAX_SECRET || REDACTED.includes(value) || value.includes('«') || value.includes('»');
}

/**
 * Whether a value a pass found is worth learning for the rest of the run.
 * Short plain words and numbers are not (`PASSWORD=changeme`,
 * `TOKEN=missing`, `SESSION=12345`): learning them would redact the same word
 * in unrelated output. They are still redacted where they were found.
 */
function learnable(value: string): boolean {
  if (unregistrable(value) || value.length > MAX_LEARNED) return false;
  if (/^[A-Za-z]+$/.test(value) && value.length < 10) return false;
  if (/^\d+$/.test(value) && value.length < 10) return false;
  // Versions, dates, times and amounts (`528.0.0-0`, `2024-06-03 10:00`): a misnamed field, not a secret.
  if (/^[\d\s.,:;+~_/-]+$/.test(value) && (value.match(/\d/g)?.length ?? 0) < 12) return false;
  if (/^\d{4}-\d\d-\d\d[T ][\d:.]+(?:Z|[+-]\d\d:?\d\d)?$/.test(value)) return false;
  // Paths (`SSL_KEY=/etc/ssl/private/app.key`) name where a secret is, they are not one.
  if (/^(?:~|\.{1,2})?\/[\w.@/-]*$/.test(value) && /\/[a-z]{2,}/.test(value)) return false;
  // Short phrases are more often a misread label than a passphrase (`auth-plugin:amd64 (528.0.0-0`).
  if (/\s/.test(value) && value.length < 20) return false;
  return !/^[a-z]+(?:[ _-][a-z]+)*$/.test(value) || value.length >= 16;
}

// ---------------------------------------------------------------------------
// Passes over free text. Each takes `found`, told of every value it replaces.

type Found = (value: string) => void;

/** Well-known token shapes, replaced whole. */
const TOKEN_SHAPES: RegExp[] = [
  /(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,}/g, // Slack bot/user/app tokens
  /(?<![\w-])xapp-[A-Za-z0-9-]{10,}/g, // Slack app-level tokens
  /(?<![0-9:])[0-9]{6,12}:[A-Za-z0-9_-]{30,}/g, // Telegram bot tokens (also inside /bot<token>/ URLs)
  /(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{20,}/g, // GitHub
  /(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{20,}/g,
  /(?<![A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,}/g, // GitLab
  /(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])/g, // AWS access key ids
  /(?<![\w-])sk-[A-Za-z0-9_-]{17,}/g, // OpenAI-style keys
  /(?<![\w-])[rs]k_(?:live|test)_[A-Za-z0-9]{10,}/g, // Stripe
  /(?<![\w-])AIza[0-9A-Za-z_-]{35}/g, // Google API keys
  /(?<![\w-])npm_[A-Za-z0-9]{36}/g,
  /(?<![\w-])eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]*/g, // JWTs
];

function redactShapes(text: string, found: Found): string {
  let out = text;
  for (const re of TOKEN_SHAPES) {
    out = out.replace(re, (m) => {
      found(m);
      return REDACTED;
    });
  }
  return out;
}

/** Webhook URLs whose path is the secret: keep the host, drop the path. */
const WEBHOOKS: RegExp[] = [
  /(hooks\.slack\.com\/(?:services|workflows|triggers)\/)[A-Za-z0-9/_-]+/g,
  /(discord(?:app)?\.com\/api\/webhooks\/)[A-Za-z0-9/_-]+/g,
];

/** `scheme://user:password@host`: the lookbehind makes the scheme start only at the start of a word. */
const URL_PASSWORD = /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s:/?#@'"<>]*:)([^\s/'"<>]+)@/g;

/** An AWS access key id: the secret access key (40 base64 characters) usually sits on the same line, unnamed. */
const AWS_ID = /(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])/;
const AWS_LINE = /^[^\n]*$/gm;
const AWS_SECRET = /(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/g;

function redactAwsPairs(text: string, found: Found): string {
  if (!text.includes('AKIA') && !text.includes('ASIA')) return text;
  return text.replace(AWS_LINE, (line) =>
    AWS_ID.test(line)
      ? line.replace(AWS_SECRET, (m) => {
          found(m);
          return REDACTED;
        })
      : line,
  );
}

/**
 * A credential after the word that introduces it, in any case: `Bearer x`,
 * `bearer token x`, `Basic x`, `token x`, `api key x`, `access token x`,
 * `password x`, `secret x`. The word is kept.
 */
const CREDENTIAL_WORD =
  /(?<![\w-])((?:bearer|basic|token|api[ _-]?key|access[ _-]?token|auth[ _-]?token|secret|password|passwd|passphrase)(?:[ \t]+(?:token|key|is|was|of))?)([ \t]+)([^\s'"`<>()[\]{},;]{8,})/gi;

function looksLikeCredential(word: string): boolean {
  // Keeps prose ("Basic authentication", "password authentication failed") and paths while catching base64 and tokens.
  if (word.startsWith('/') || word === REDACTED) return false;
  return /[0-9+/=._~!@#$%^&*-]/.test(word) || /[A-Z]/.test(word.slice(1));
}

function redactCredentialWords(text: string, found: Found): string {
  return text.replace(CREDENTIAL_WORD, (all, word: string, space: string, cred: string) => {
    const value = cred.replace(/[.:]+$/, '');
    if (!looksLikeCredential(value) || value.includes(REDACTED)) return all;
    found(value);
    return `${word}${space}${REDACTED}${cred.slice(value.length)}`;
  });
}

const PEM_BEGIN = /-----BEGIN ([A-Z0-9 ]{0,40}?)PRIVATE KEY-----/g;
/** Lines after an unterminated BEGIN that still look like key material or PEM headers. */
const PEM_TAIL = /(?:(?:\r?\n|\\n)(?:[A-Za-z0-9+/=]+|«redacted»|(?:Proc-Type|DEK-Info|Comment):[^\n\\]*)?(?=\r?\n|\\n|$))*/y;

function redactPem(text: string): string {
  if (!text.includes('PRIVATE KEY-----')) return text;
  let out = '';
  let last = 0;
  // Next END position per marker, so many unterminated BEGINs don't rescan the text each time.
  const nextEnd = new Map<string, number>();
  PEM_BEGIN.lastIndex = 0;
  for (let m = PEM_BEGIN.exec(text); m; m = PEM_BEGIN.exec(text)) {
    const bodyStart = m.index + m[0].length;
    const endMarker = `-----END ${m[1]}PRIVATE KEY-----`;
    let end = nextEnd.get(endMarker);
    if (end === undefined || (end >= 0 && end < bodyStart)) {
      end = text.indexOf(endMarker, bodyStart);
      nextEnd.set(endMarker, end);
    }
    let resume: number;
    let body: string;
    if (end >= 0) {
      body = text.slice(bodyStart, end);
      resume = end + endMarker.length;
    } else {
      PEM_TAIL.lastIndex = bodyStart;
      PEM_TAIL.exec(text);
      body = text.slice(bodyStart, PEM_TAIL.lastIndex);
      resume = PEM_TAIL.lastIndex;
    }
    const nl = body.includes('\n') ? '\n' : body.includes('\\n') ? '\\n' : ' ';
    out += text.slice(last, bodyStart) + nl + REDACTED + (end >= 0 ? nl + endMarker : '');
    last = resume;
    PEM_BEGIN.lastIndex = resume;
  }
  return out + text.slice(last);
}

// ---------------------------------------------------------------------------
// NAME=value, NAME: value, "name": "value", ?name=value

/** A name (started only at the start of a word), its closing quote, and the separator. */
const KV = /(?<![\w./-])(-{0,2}[A-Za-z_][\w.-]*)(\\?["']?)([ \t]*(?:=>|[:=])[ \t]*)/g;

const DOUBLE_QUOTED = /"(?:[^"\\\n\r\0]|\\.)*"?/y;
const SINGLE_QUOTED = /'[^'\n\r\0]*'?/y;
const ESCAPED_QUOTED = /\\"(?:[^"\\\n\r\0]|\\[^"])*(?:\\")?/y;
/** Words up to the end of the line, stopping before a following `NAME=` (as in `A=x B=y`). */
const LINE_VALUE = /[^\s\0]+(?:[ \t]+(?![A-Za-z_][\w.-]*=)[^\s\0]+)*/y;
const IN_DOUBLE_QUOTES = /[^\n\r\0"]+/y;
const IN_SINGLE_QUOTES = /[^\n\r\0']+/y;
const WORD_VALUE = /[^\s\0&;,"']+/y;
const COLON_VALUE = /[^\n\r\0,}]+/y;

/** Query parameters that are secret although their names say little. */
const QUERY_SECRETS = new Set(['sig', 'key', 'code']);

/** Values that are kept because they carry no secret and help diagnosis: `env:NAME` / `file:PATH` are references to a secret, as `${VAR}` is. */
const KEEP_VALUE = /^(?:null|nil|none|true|false|undefined|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|env:[A-Za-z_][A-Za-z0-9_]*|file:[~./][^\s]*|«redacted»)$/i;

function atLineStart(text: string, index: number): boolean {
  const from = Math.max(0, index - 24);
  const before = text.slice(from, index);
  const re = from === 0 ? /(?:^|[\n\r\0])[ \t]*(?:-[ \t]+)?(?:export[ \t]+)?$/ : /[\n\r\0][ \t]*(?:-[ \t]+)?(?:export[ \t]+)?$/;
  return re.test(before);
}

function matchAt(re: RegExp, text: string, at: number): number {
  re.lastIndex = at;
  return re.exec(text) ? re.lastIndex : at;
}

/** Where the secret is inside the value at `at`: [start, end) of the part to replace, and where the value ends. */
function locateValue(
  text: string,
  at: number,
  sep: string,
  lineStart: boolean,
  openQuote: string | undefined,
): { start: number; end: number; next: number } | null {
  const c = text[at];
  if (c === undefined || c === '{' || c === '[') return null; // nested objects: their own keys are checked
  if (c === '"' || c === "'") {
    const next = matchAt(c === '"' ? DOUBLE_QUOTED : SINGLE_QUOTED, text, at);
    const closed = next - at >= 2 && text[next - 1] === c;
    return { start: at + 1, end: closed ? next - 1 : next, next };
  }
  if (c === '\\' && text[at + 1] === '"') {
    const next = matchAt(ESCAPED_QUOTED, text, at);
    const closed = next - at >= 4 && text.slice(next - 2, next) === '\\"';
    return { start: at + 2, end: closed ? next - 2 : next, next };
  }
  // Inside a quoted string ("DB_PASSWORD=a b" in docker inspect), the value runs to the closing quote.
  const re =
    openQuote === '"'
      ? IN_DOUBLE_QUOTES
      : openQuote === "'"
        ? IN_SINGLE_QUOTES
        : sep.includes(':')
          ? COLON_VALUE
          : lineStart
            ? LINE_VALUE
            : WORD_VALUE;
  const next = matchAt(re, text, at);
  let end = next;
  while (end > at && (text[end - 1] === ' ' || text[end - 1] === '\t')) end--;
  return end > at ? { start: at, end, next } : null;
}

function redactPairs(text: string, found: Found): string {
  let out = '';
  let last = 0;
  KV.lastIndex = 0;
  for (let m = KV.exec(text); m; m = KV.exec(text)) {
    const [whole, name, closeQuote, sepRaw] = m;
    const sep = sepRaw.trim();
    const prev = text[m.index - 1];
    const inQuery = (prev === '?' || prev === '&') && sep === '=';
    if (!isSecretName(name) && !(inQuery && QUERY_SECRETS.has(name.toLowerCase()))) continue;
    const at = m.index + whole.length;
    const lineStart = sep === '=' && !inQuery && atLineStart(text, m.index);
    const openQuote = !closeQuote && (prev === '"' || prev === "'") ? prev : undefined;
    const loc = locateValue(text, at, sep, lineStart, openQuote);
    if (!loc) continue;
    let start = loc.start;
    const value = text.slice(start, loc.end);
    if (value === '' || KEEP_VALUE.test(value)) {
      KV.lastIndex = loc.next;
      continue;
    }
    if (/authorization$/i.test(name)) {
      // Keep the scheme: "Authorization: Bearer «redacted»" says which kind of credential was sent.
      const scheme = /^[A-Za-z][\w-]*[ \t]+/.exec(value);
      if (scheme) start += scheme[0].length;
      if (text.slice(start, loc.end) === REDACTED) {
        KV.lastIndex = loc.next;
        continue;
      }
    }
    found(text.slice(start, loc.end));
    out += text.slice(last, start) + REDACTED;
    last = loc.end;
    KV.lastIndex = loc.next;
  }
  return out + text.slice(last);
}

// ---------------------------------------------------------------------------
// Guessing: random-looking strings under any name

/** A run of base64/base64url/hex characters (padding only at its end), started only at the start of a run. */
const RANDOM_RUN = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{20,}={0,2}(?![A-Za-z0-9+/_=-])/g;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Public things that look random and help diagnosis: host key fingerprints, SSH public keys, content digests. */
const PUBLIC_BEFORE = /(?:SHA256:|SHA1:|MD5:|sha256:|sha384:|sha512:|sha1:|md5:|(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+|sk-(?:ssh|ecdsa)[\w@.-]*)[ \t]+)$/;
const DIGEST_RUN = /^(?:sha(?:1|256|384|512)|md5)-/i;
/** `name=`, `name: `, `"name": "` just before a value. */
const NAME_BEFORE = /([A-Za-z_][\w.-]*)["']?[ \t]*(?:=>|[:=])[ \t]*["']?$/;

function charClass(c: string): number {
  if (c >= 'a' && c <= 'z') return 0;
  if (c >= 'A' && c <= 'Z') return 1;
  if (c >= '0' && c <= '9') return 2;
  return 3;
}

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

/** Share of neighbouring characters of different kinds (lower, upper, digit, symbol): about 0.65 for random base64, under 0.3 for identifiers and paths. */
function transitions(s: string): number {
  let t = 0;
  for (let i = 1; i < s.length; i++) if (charClass(s[i - 1]!) !== charClass(s[i]!)) t++;
  return s.length > 1 ? t / (s.length - 1) : 0;
}

/**
 * Whether a run of base64/hex characters looks like a random secret.
 *
 * - hex: 32 characters or more (`openssl rand -hex`, HMAC keys, session
 *   ids), except exactly 40, the length of a git commit id, which deploy
 *   diagnosis needs and which is rarely a secret today;
 * - UUIDs are kept: they are request, trace and object ids in nearly every
 *   log, and a UUID used as a key is caught by its name instead;
 * - base64/base64url: 20 characters or more (separators `-` `_` ignored)
 *   with upper case, lower case and digits mixed the way random text mixes
 *   them (entropy ≥ 3.5 bits/char and ≥ 40 % class changes between
 *   neighbours); identifiers (`Python3HTTPServerHandler`), pod names, paths
 *   and timestamps mix far less;
 * - one-case letters with digits (base32, base36): one segment of 24 or
 *   more with ≥ 20 % digits and the same mixing.
 */
export function looksRandom(run: string): boolean {
  const core = run.replace(/=+$/, '');
  if (core.length < 20 || UUID.test(core) || DIGEST_RUN.test(core)) return false;
  if (/^[0-9a-fA-F]+$/.test(core)) return core.length >= 32 && core.length !== 40 && /\d/.test(core) && /[a-fA-F]/.test(core) && entropy(core) >= 3;
  const bare = core.replace(/[-_]/g, '');
  if (bare.length < 20) return false;
  const mixed = transitions(bare) >= 0.4 && entropy(bare) >= 3.5;
  const lower = /[a-z]/.test(bare);
  const upper = /[A-Z]/.test(bare);
  const digits = (bare.match(/[0-9]/g) ?? []).length;
  if (lower && upper && digits > 0) return mixed;
  if (!digits || digits / bare.length < 0.2) return false;
  const longest = core.split(/[-_/+]/).reduce((a, s) => Math.max(a, s.length), 0);
  return longest >= 24 && transitions(bare) >= 0.3 && entropy(bare) >= 3.5;
}

function redactRandom(text: string, found: Found, safe: ReadonlySet<string> | undefined): string {
  RANDOM_RUN.lastIndex = 0;
  return text.replace(RANDOM_RUN, (run: string, at: number) => {
    const before = text.slice(Math.max(0, at - 80), at);
    if (PUBLIC_BEFORE.test(before) || DIGEST_RUN.test(run)) return run;
    if (safe?.size) {
      const name = NAME_BEFORE.exec(before)?.[1];
      if (name && safe.has(name.toLowerCase())) return run;
    }
    // A path is judged segment by segment (/srv/app/releases/20240603/x keeps its shape); base64 has slashes too, but rarely a plain word between them.
    if (run.length <= 1024 && (run.startsWith('/') || (run.includes('/') && run.split('/').some((seg) => /^[a-z]{3,}$/.test(seg))))) {
      return run.replace(/[^/]+/g, (seg) => {
        if (!looksRandom(seg)) return seg;
        found(seg);
        return REDACTED;
      });
    }
    if (!looksRandom(run)) return run;
    found(run);
    return REDACTED;
  });
}

// ---------------------------------------------------------------------------
// The redactor

/** Options for {@link Redactor.redact} and {@link Redactor.redactDeep}. */
export interface RedactOptions {
  /**
   * Field names whose values are not secrets even when they look random (a
   * step's `safe:` list, e.g. `trace_id`, `commit`): a value right after
   * `name=`, `name: ` or `"name": ` in text, or under that key in data, is
   * not guessed at. Secret names, registered values and known token shapes
   * are redacted all the same. Case-insensitive.
   */
  safe?: Iterable<string>;
  /** Guess at random-looking strings (when the redactor does). Default true. */
  guess?: boolean;
}

/** Options for a {@link Redactor}. */
export interface RedactorOptions {
  /** Values registered with the parent are redacted here too (a run scope sees the process's chat tokens). */
  parent?: Redactor;
  /** Register every value a pass redacts, for the rest of this redactor's life (run scopes). Default false. */
  learn?: boolean;
  /** Redact random-looking strings whatever their name (see {@link looksRandom}). Default false. */
  guess?: boolean;
}

const noop: Found = () => {};

/**
 * Owns a set of registered secret values and redacts text and data with them
 * and with the pattern passes. One lives for the process
 * ({@link defaultRedactor}: chat tokens, no learning, no guessing); each run
 * gets a {@link Redactor.scope} that learns and guesses and is dropped with
 * the run.
 *
 * Deliberately left out: sharing learned values between processes. A run
 * whose hosts are served by several workers learns per worker; what each
 * stores is already redacted.
 */
export class Redactor {
  private readonly values = new Set<string>();
  private readonly needles = new Set<string>();
  private version = 0;
  private learned = 0;
  private compiled: { stamp: string; re: RegExp | null } | undefined;

  constructor(private readonly opts: RedactorOptions = {}) {}

  /** A child for one run: sees this redactor's values, learns its own, guesses at random strings. Drop it when the run ends. */
  scope(): Redactor {
    return new Redactor({ parent: this, learn: true, guess: true });
  }

  /**
   * Registers a literal secret value (a resolved chat token, a secret param,
   * a DB password) to be redacted wherever it appears, with its base64,
   * base64url, URL-encoded and hex forms ({@link encodedForms}). Values
   * shorter than 6 characters are ignored (they would redact ordinary
   * words); a value with surrounding whitespace is also registered trimmed,
   * and a URL-encoded one also decoded.
   */
  register(value: string): void {
    if (typeof value !== 'string') return;
    this.add(value);
    this.add(value.trim());
  }

  /**
   * Registers a value found in output, unless it is a short plain word, a
   * number, a version, a date or a path (which a misnamed field would
   * otherwise erase from the whole run).
   */
  learn(value: string): void {
    if (typeof value === 'string') this.learnAll([value]);
  }

  /** How many values this redactor registered itself (not its parent's). */
  get size(): number {
    return this.values.size;
  }

  /** Forgets this redactor's own values. */
  clear(): void {
    this.values.clear();
    this.needles.clear();
    this.learned = 0;
    this.version++;
  }

  /**
   * Replaces secrets in free text with `«redacted»`. Idempotent. Catches, in
   * this order: registered values and their encodings; PEM private key
   * blocks (also truncated ones, and `\n`-escaped ones inside JSON); AWS
   * secret access keys on a line with an access key id; well-known token
   * shapes (Slack, Telegram, GitHub, GitLab, AWS key ids, `sk-…`, Stripe,
   * Google, npm, JWTs) and Slack/Discord webhook paths; passwords in URLs
   * (`scheme://user:«redacted»@host`); credentials after the word that
   * introduces them, in any case (`Bearer x`, `bearer token x`, `Basic x`,
   * `token x`, `api key x`, `password x`); values of secret-looking names
   * in `NAME=value`, `NAME: value`, `"name": "value"`, `name => value` and
   * `?name=value` forms; and, when this redactor guesses, random-looking
   * strings ({@link looksRandom}) not under a `safe` name.
   *
   * Values of secret names: a quoted value is replaced inside its quotes; a
   * `NAME: value` value runs to the end of the line (or `,` / `}`); a
   * `NAME=value` value runs to the end of the line when it starts the line
   * (env files, `env` output, NUL-separated `/proc/PID/environ`), else to
   * the next whitespace, `&`, `;` or `,`. `null`, `true`, `false`, empty
   * values and `${VAR}` / `env:NAME` / `file:PATH` references are kept,
   * since they hold no secret and help diagnosis.
   */
  redact(text: string, o: RedactOptions = {}): string {
    if (typeof text !== 'string' || text === '') return text;
    const learned: string[] = [];
    const found: Found = this.opts.learn ? (v) => learned.push(v) : noop;
    let out = this.redactKnown(text);
    out = redactPem(out);
    out = redactAwsPairs(out, found);
    out = redactShapes(out, found);
    for (const re of WEBHOOKS) out = out.replace(re, `$1${REDACTED}`);
    out = out.replace(URL_PASSWORD, (_all, head: string, password: string) => {
      found(password);
      return `${head}${REDACTED}@`;
    });
    out = redactCredentialWords(out, found);
    out = redactPairs(out, found);
    if (this.opts.guess && o.guess !== false) out = redactRandom(out, found, lowerSet(o.safe));
    if (learned.length && this.learnAll(learned)) out = this.redactKnown(out);
    return out;
  }

  /**
   * For text Triage wrote itself (error messages and fixes that interpolate
   * paths, names and values): every pass but guessing, so host key
   * fingerprints and long ids named in a message stay.
   */
  redactMessage(text: string): string {
    return this.redact(text, { guess: false });
  }

  /**
   * Deep-redacts every string in a JSON-like value and returns a new value;
   * the input is not modified. Strings under a secret-looking key (see
   * {@link isSecretName}), including inside arrays under that key, are
   * replaced whole (and learned, in a run scope); strings under a `safe` key
   * are not guessed at; other strings go through {@link Redactor.redact}.
   *
   * Left as they are: numbers and booleans (even under secret keys), object
   * keys, and anything that is not an array or plain object (Dates, Maps,
   * class instances). A cycle is replaced by the string `[circular]`.
   */
  redactDeep<T>(value: T, o: RedactOptions = {}): T {
    const safe = lowerSet(o.safe);
    const learned: string[] = [];
    const walk = (v: unknown, secretKey: boolean, guess: boolean, ancestors: Set<object>): unknown => {
      if (typeof v === 'string') {
        if (secretKey && v !== '' && !KEEP_VALUE.test(v)) {
          if (this.opts.learn) learned.push(v);
          return REDACTED;
        }
        return this.redact(v, { guess: guess && o.guess !== false, safe });
      }
      if (v === null || typeof v !== 'object') return v;
      if (ancestors.has(v)) return '[circular]';
      if (!Array.isArray(v) && !isPlainObject(v)) return v;
      ancestors.add(v);
      const copy = Array.isArray(v)
        ? v.map((x) => walk(x, secretKey, guess, ancestors))
        : // fromEntries defines own properties, so a "__proto__" key stays data.
          Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, isSecretName(k), guess && !safe?.has(k.toLowerCase()), ancestors)]));
      ancestors.delete(v);
      return copy;
    };
    const out = walk(value, false, true, new Set()) as T;
    // A secret found under a secret key may also sit in a sibling string seen earlier.
    return learned.length && this.learnAll(learned) ? (walk(out, false, false, new Set()) as T) : out;
  }

  private add(value: string): boolean {
    if (unregistrable(value) || this.values.has(value)) return false;
    this.values.add(value);
    this.needles.add(value);
    for (const e of encodedForms(value)) if (!REDACTED.includes(e)) this.needles.add(e);
    this.version++;
    if (/%[0-9A-Fa-f]{2}/.test(value)) {
      try {
        this.add(decodeURIComponent(value));
      } catch {
        // not valid URL encoding: the value as written is registered
      }
    }
    return true;
  }

  private learnAll(values: string[]): boolean {
    let added = false;
    for (const v of values) {
      if (this.learned >= MAX_LEARNED_VALUES) break;
      if (learnable(v) && this.add(v)) {
        this.learned++;
        added = true;
      }
    }
    return added;
  }

  private stamp(): string {
    return `${this.opts.parent ? this.opts.parent.stamp() : ''}/${this.version}`;
  }

  private allNeedles(into: Set<string>): Set<string> {
    this.opts.parent?.allNeedles(into);
    for (const n of this.needles) into.add(n);
    return into;
  }

  private redactKnown(text: string): string {
    const stamp = this.stamp();
    if (this.compiled?.stamp !== stamp) {
      // Longest first, so a secret containing another is replaced whole.
      const all = [...this.allNeedles(new Set())].sort((a, b) => b.length - a.length);
      this.compiled = { stamp, re: all.length ? new RegExp(all.map(escapeRe).join('|'), 'g') : null };
    }
    return this.compiled.re ? text.replace(this.compiled.re, REDACTED) : text;
  }
}

function lowerSet(names: Iterable<string> | undefined): ReadonlySet<string> | undefined {
  if (!names) return undefined;
  const s = new Set<string>();
  for (const n of names) s.add(n.toLowerCase());
  return s.size ? s : undefined;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

// ---------------------------------------------------------------------------
// The process-wide redactor, for callers without a run

/** The process's redactor: chat tokens and config secrets are registered here; run scopes are its children. */
export const defaultRedactor = new Redactor();

/** {@link Redactor.redact} with the process-wide redactor (no learning, no guessing). */
export function redact(text: string): string {
  return defaultRedactor.redact(text);
}

/** {@link Redactor.redactDeep} with the process-wide redactor. */
export function redactDeep<T>(value: T): T {
  return defaultRedactor.redactDeep(value);
}

/** Registers a value with the process-wide redactor (see {@link Redactor.register}). Run secrets go to the run's scope instead. */
export function registerSecret(value: string): void {
  defaultRedactor.register(value);
}

/** For tests: forgets every value registered with the process-wide redactor. */
export function clearRegisteredSecrets(): void {
  defaultRedactor.clear();
}

/** What {@link redactErrorLines} needs of a TriageError (and of TriageErrors, which lists several). */
interface ErrorLike {
  file?: string;
  path?: string;
  toLine(): string;
  errors?: ErrorLike[];
}

/**
 * A TriageError as one line per problem (`file: path: message — fix`), with
 * the values in it redacted but not what Triage wrote around them. The
 * `file: path:` part is kept whole: `chat.slack.botToken` names a config key,
 * it holds no secret (redacting "what follows a token name" used to swallow
 * the whole message and its fix). The message and fix go through
 * {@link Redactor.redactMessage}, so an interpolated value is still caught.
 */
export function redactErrorLines(e: ErrorLike, r: Redactor = defaultRedactor): string[] {
  const list = e.errors?.length ? e.errors : [e];
  return list.map((one) => {
    const line = one.toLine();
    const where = [one.file, one.path].filter(Boolean).join(': ');
    const head = where && line.startsWith(`${where}: `) ? `${where}: ` : '';
    return head + r.redactMessage(line.slice(head.length));
  });
}

/**
 * An error for places that show it inside other text (a failed run's
 * summary, a chat reply): `message (at file: path) — fix`, values redacted.
 * The location goes in parentheses, where no later redaction can take
 * `privateKey: cannot read …` for a `name: value` pair and hide the reason.
 */
export function redactedErrorText(e: ErrorLike & { message: string; fix?: string }, r: Redactor = defaultRedactor): string {
  const list = (e.errors?.length ? e.errors : [e]) as (ErrorLike & { message: string; fix?: string })[];
  return list
    .map((one) => {
      const where = [one.file, one.path].filter(Boolean).join(': ');
      return `${r.redactMessage(one.message)}${where ? ` (at ${where})` : ''}${one.fix ? ` — ${r.redactMessage(one.fix)}` : ''}`;
    })
    .join('; ');
}
