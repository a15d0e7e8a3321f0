/**
 * Secret redaction. Everything Triage prints, posts to chat, logs or stores
 * passes through {@link redact} (text) or {@link redactDeep} (JSON-like data)
 * first. Secrets become `«redacted»`; the key names, URL hosts and header
 * schemes around them stay, so the output is still useful for diagnosis.
 *
 * Every pattern is linear in the input: no nested quantifiers, and patterns
 * that scan runs of characters only start at the beginning of a run.
 *
 * Deliberately left out: secrets passed as separate words (`--password x`,
 * `-p x`), Kubernetes-style `name: X` / `value: Y` pairs, URL-encoded or
 * base64-encoded copies of registered secrets, and high-entropy guessing of
 * unlabelled strings. Steps that may print such things set `secretOutput`.
 */

/** The replacement for every secret. */
const REDACTED = '«redacted»';

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
// Registered literal secrets

const registered = new Set<string>();
/** Longest first, so a secret containing another is replaced whole. */
let registeredSorted: string[] = [];

function addSecret(value: string): void {
  // A value that occurs inside the replacement itself would make redact() non-idempotent.
  if (value.length < 6 || REDACTED.includes(value) || registered.has(value)) return;
  registered.add(value);
  registeredSorted = [...registered].sort((a, b) => b.length - a.length);
}

/**
 * Registers a literal secret value (a resolved chat token, a DB password from
 * config) to be redacted wherever it appears. Values shorter than 6
 * characters are ignored (they would redact ordinary words); a value with
 * surrounding whitespace is also registered trimmed.
 */
export function registerSecret(value: string): void {
  if (typeof value !== 'string') return;
  addSecret(value);
  addSecret(value.trim());
}

/** For tests: forgets every registered secret. */
export function clearRegisteredSecrets(): void {
  registered.clear();
  registeredSorted = [];
}

// ---------------------------------------------------------------------------
// Passes over free text

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

/** Webhook URLs whose path is the secret: keep the host, drop the path. */
const WEBHOOKS: RegExp[] = [
  /(hooks\.slack\.com\/(?:services|workflows|triggers)\/)[A-Za-z0-9/_-]+/g,
  /(discord(?:app)?\.com\/api\/webhooks\/)[A-Za-z0-9/_-]+/g,
];

/** `scheme://user:password@host`: the lookbehind makes the scheme start only at the start of a word. */
const URL_PASSWORD = /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s:/?#@'"<>]*:)([^\s/'"<>]+)@/g;

const AUTH_SCHEME = /(?<![\w-])(Bearer|bearer|BEARER|Basic|basic|BASIC)([ \t]+)([A-Za-z0-9._~+/=-]{8,})/g;

function looksLikeCredential(word: string): boolean {
  // Keeps prose such as "Basic authentication" while catching base64 and tokens.
  return /[0-9+/=._~-]/.test(word) || /[A-Z]/.test(word.slice(1));
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

function redactRegistered(text: string): string {
  let out = text;
  for (const s of registeredSorted) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

// ---------------------------------------------------------------------------
// NAME=value, NAME: value, "name": "value", ?name=value

/** A name (started only at the start of a word), its closing quote, and the separator. */
const KV = /(?<![\w.-])(-{0,2}[A-Za-z_][\w.-]*)(\\?["']?)([ \t]*(?:=>|[:=])[ \t]*)/g;

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

/** Values that are kept because they carry no secret and help diagnosis. */
const KEEP_VALUE = /^(?:null|nil|none|true|false|undefined|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|«redacted»)$/i;

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

function redactPairs(text: string): string {
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
    out += text.slice(last, start) + REDACTED;
    last = loc.end;
    KV.lastIndex = loc.next;
  }
  return out + text.slice(last);
}

// ---------------------------------------------------------------------------
// Public API

/**
 * Replaces secrets in free text with `«redacted»`. Idempotent. Catches, in
 * this order: registered literal secrets; PEM private key blocks (also
 * truncated ones, and `\n`-escaped ones inside JSON); well-known token shapes
 * (Slack, Telegram, GitHub, GitLab, AWS key ids, `sk-…`, Stripe, Google, npm,
 * JWTs) and Slack/Discord webhook paths; passwords in URLs
 * (`scheme://user:«redacted»@host`); `Bearer`/`Basic` credentials; values of
 * secret-looking names in `NAME=value`, `NAME: value`, `"name": "value"`,
 * `name => value` and `?name=value` forms.
 *
 * Values of secret names: a quoted value is replaced inside its quotes; a
 * `NAME: value` value runs to the end of the line (or `,` / `}`); a
 * `NAME=value` value runs to the end of the line when it starts the line (env
 * files, `env` output, NUL-separated `/proc/PID/environ`), else to the next
 * whitespace, `&`, `;` or `,`. `null`, `true`, `false`, empty values and
 * `${VAR}` references are kept, since they hold no secret and help diagnosis.
 */
export function redact(text: string): string {
  if (typeof text !== 'string' || text === '') return text;
  let out = redactRegistered(text);
  out = redactPem(out);
  for (const re of TOKEN_SHAPES) out = out.replace(re, REDACTED);
  for (const re of WEBHOOKS) out = out.replace(re, `$1${REDACTED}`);
  out = out.replace(URL_PASSWORD, `$1${REDACTED}@`);
  out = out.replace(AUTH_SCHEME, (all, scheme: string, space: string, cred: string) =>
    looksLikeCredential(cred) ? `${scheme}${space}${REDACTED}` : all,
  );
  return redactPairs(out);
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function walk(value: unknown, secretKey: boolean, ancestors: Set<object>): unknown {
  if (typeof value === 'string') return secretKey && value !== '' && !KEEP_VALUE.test(value) ? REDACTED : redact(value);
  if (value === null || typeof value !== 'object') return value;
  if (ancestors.has(value)) return '[circular]';
  if (!Array.isArray(value) && !isPlainObject(value)) return value;
  ancestors.add(value);
  const copy = Array.isArray(value)
    ? value.map((v) => walk(v, secretKey, ancestors))
    : // fromEntries defines own properties, so a "__proto__" key stays data.
      Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, isSecretName(k), ancestors)]));
  ancestors.delete(value);
  return copy;
}

/**
 * Deep-redacts every string in a JSON-like value and returns a new value; the
 * input is not modified. Strings under a secret-looking key (see
 * {@link isSecretName}), including inside arrays under that key, are replaced
 * whole; other strings go through {@link redact}.
 *
 * Left as they are: numbers and booleans (even under secret keys), object
 * keys, and anything that is not an array or plain object (Dates, Maps, class
 * instances). A cycle is replaced by the string `[circular]`.
 */
export function redactDeep<T>(value: T): T {
  return walk(value, false, new Set()) as T;
}
