import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { TriageError, TriageErrors } from '../src/errors.ts';
import {
  clearRegisteredSecrets,
  describeSecret,
  isSecretName,
  looksRandom,
  Redactor,
  redact,
  redactDeep,
  redactErrorLines,
  registerSecret,
} from '../src/redact.ts';

const R = '«redacted»';

/** Redacts, checks the secret is gone and redacting again changes nothing. */
function scrub(text: string, ...secrets: string[]): string {
  const out = redact(text);
  for (const s of secrets) expect(out, `leaked ${s}`).not.toContain(s);
  expect(redact(out)).toBe(out);
  return out;
}

afterEach(() => clearRegisteredSecrets());

describe('redacting values of secret-looking names', () => {
  it('handles env assignments, exports and quotes, keeping the name', () => {
    expect(scrub('DB_PASSWORD=hunter2', 'hunter2')).toBe(`DB_PASSWORD=${R}`);
    expect(scrub('export JWT_SECRET="s3cr3t value"', 's3cr3t', 'value')).toBe(`export JWT_SECRET="${R}"`);
    expect(scrub("API_KEY='abc123'", 'abc123')).toBe(`API_KEY='${R}'`);
    expect(scrub('  GITHUB_TOKEN = tok123', 'tok123')).toBe(`  GITHUB_TOKEN = ${R}`);
    expect(scrub('mysql -uroot --password=pw-1234 -h db', 'pw-1234')).toBe(`mysql -uroot --password=${R} -h db`);
  });

  it('keeps the neighbours of a secret on the same line', () => {
    expect(scrub('DB_PASSWORD=hunter2 PORT=8000', 'hunter2')).toBe(`DB_PASSWORD=${R} PORT=8000`);
    expect(scrub('Environment=SESSION_SECRET=abcdef NODE_ENV=production', 'abcdef')).toBe(
      `Environment=SESSION_SECRET=${R} NODE_ENV=production`,
    );
  });

  it('takes a whole env line when the value has spaces (env output, .env files)', () => {
    const env = 'HOME=/root\nDB_PASSWORD=correct horse battery\nPORT=8000\n';
    expect(scrub(env, 'correct', 'horse', 'battery')).toBe(`HOME=/root\nDB_PASSWORD=${R}\nPORT=8000\n`);
  });

  it('handles NUL-separated /proc/PID/environ dumps', () => {
    const environ = 'PATH=/usr/bin\0PWD=/srv/app\0STRIPE_SECRET=sk live 123\0NODE_ENV=production\0';
    expect(scrub(environ, 'sk live 123')).toBe(`PATH=/usr/bin\0PWD=/srv/app\0STRIPE_SECRET=${R}\0NODE_ENV=production\0`);
  });

  it('handles YAML, JSON, escaped JSON and docker inspect env lists', () => {
    expect(scrub('database:\n  password: my pass word\n  host: db', 'my pass')).toBe(
      `database:\n  password: ${R}\n  host: db`,
    );
    expect(scrub('{"user": "app", "password": "p@ss\\"word", "port": 5432}', 'p@ss', 'ss\\"w')).toBe(
      `{"user": "app", "password": "${R}", "port": 5432}`,
    );
    expect(scrub('{"apiKey":"k-123","n":1}', 'k-123')).toBe(`{"apiKey":"${R}","n":1}`);
    expect(scrub('log: {\\"clientSecret\\":\\"cs-999\\"}', 'cs-999')).toBe(`log: {\\"clientSecret\\":\\"${R}\\"}`);
    expect(scrub('"Env": ["DB_PASSWORD=two words", "PORT=8000"]', 'two words')).toBe(
      `"Env": ["DB_PASSWORD=${R}", "PORT=8000"]`,
    );
    expect(scrub("{'auth_token': 'xyz789'}", 'xyz789')).toBe(`{'auth_token': '${R}'}`);
    expect(scrub('config.password => "rubyhash"', 'rubyhash')).toBe(`config.password => "${R}"`);
  });

  it('keeps empty values, null and $VAR references, which say something useful', () => {
    expect(scrub('DB_PASSWORD=')).toBe('DB_PASSWORD=');
    expect(scrub('{"token": null, "secret": ""}')).toBe('{"token": null, "secret": ""}');
    const ref = 'password: $' + '{DB_PASSWORD}'; // a reference to a secret, not a secret
    expect(scrub(ref)).toBe(ref);
  });

  it('walks into nested objects instead of swallowing them', () => {
    expect(scrub('{"credentials": {"user": "bob", "password": "pw9"}}', 'pw9')).toBe(
      `{"credentials": {"user": "bob", "password": "${R}"}}`,
    );
  });
});

describe('redacting well-known secret shapes', () => {
  it('JWTs', () => {
    const jwt =
      'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
    expect(scrub(`user token=${jwt} expired`, jwt, 'SflKxwRJ')).toBe(`user token=${R} expired`);
    expect(scrub(`cookie value ${jwt}`, jwt)).toBe(`cookie value ${R}`);
  });

  it('PEM private keys, including OPENSSH, RSA, EC, ENCRYPTED and JSON-escaped ones', () => {
    for (const label of ['', 'RSA ', 'EC ', 'OPENSSH ', 'ENCRYPTED ']) {
      const pem = `-----BEGIN ${label}PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x\nQk9Bq+/Zz==\n-----END ${label}PRIVATE KEY-----`;
      const out = scrub(`key file:\n${pem}\nnext line`, 'MIIEow', 'Qk9Bq');
      expect(out).toBe(`key file:\n-----BEGIN ${label}PRIVATE KEY-----\n${R}\n-----END ${label}PRIVATE KEY-----\nnext line`);
    }
    const json = '{"type": "service_account", "pk": "-----BEGIN PRIVATE KEY-----\\nMIIEvAIB\\n-----END PRIVATE KEY-----\\n"}';
    expect(scrub(json, 'MIIEvAIB')).toContain(`-----BEGIN PRIVATE KEY-----\\n${R}\\n-----END PRIVATE KEY-----`);
  });

  it('a PEM key cut off before its END line (head -c, truncated output)', () => {
    const text = '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nMIIEowIBAAKCAQEA7x\nQk9Bq+/Zz\nssh: exit 255';
    expect(scrub(text, 'MIIEow', 'Qk9Bq', 'ENCRYPTED')).toBe(`-----BEGIN RSA PRIVATE KEY-----\n${R}\nssh: exit 255`);
  });

  it('Authorization headers and Bearer/Basic credentials, keeping the scheme', () => {
    expect(scrub('Authorization: Bearer abc.def-123', 'abc.def-123')).toBe(`Authorization: Bearer ${R}`);
    expect(scrub('curl -H "Authorization: Basic dXNlcjpwYXNz" https://x', 'dXNlcjpwYXNz')).toBe(
      `curl -H "Authorization: Basic ${R}" https://x`,
    );
    expect(scrub('authorization: token ghs_not_a_real_token_but_long', 'ghs_not')).toBe(`authorization: token ${R}`);
    expect(scrub('Proxy-Authorization: opaque-value-42', 'opaque-value-42')).toBe(`Proxy-Authorization: ${R}`);
    expect(scrub('sent Bearer Zm9vYmFyYmF6cXV4 to upstream', 'Zm9vYmFyYmF6cXV4')).toBe(`sent Bearer ${R} to upstream`);
    expect(scrub('Cookie: sid=abc; theme=dark', 'sid=abc')).toBe(`Cookie: ${R}`);
  });

  it('passwords inside URLs, keeping user and host', () => {
    expect(scrub('connecting to postgres://app:s3cr3t@db:5432/app', 's3cr3t')).toBe(
      `connecting to postgres://app:${R}@db:5432/app`,
    );
    expect(scrub('mysql://root:p@ss@db/x', 'p@ss')).toBe(`mysql://root:${R}@db/x`);
    expect(scrub('REDIS=redis://:redispw@cache:6379/0', 'redispw')).toBe(`REDIS=redis://:${R}@cache:6379/0`);
    expect(scrub('amqp://guest:guestpw@mq:5672', 'guestpw')).toBe(`amqp://guest:${R}@mq:5672`);
    expect(scrub('git clone https://deploy:abcdef@github.com/o/r.git', 'abcdef')).toBe(
      `git clone https://deploy:${R}@github.com/o/r.git`,
    );
    expect(scrub('DATABASE_URL=postgres://app:s3cr3t@db/app', 's3cr3t')).toBe(`DATABASE_URL=${R}`);
  });

  it('Slack, Telegram, GitHub, AWS and sk- tokens', () => {
    const tokens = [
      'xoxb-1234567890-0987654321-AbCdEfGhIjKl',
      'xoxp-1234567890-abcdefghij',
      'xapp-1-A0123456789-1234567890-abcdef',
      '1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1',
      'ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789',
      'gho_aBcDeFgHiJkLmNoPqRsTuVwX',
      'AKIAIOSFODNN7EXAMPLE',
      'sk-proj-abcdefghijklmnop1234',
    ];
    for (const t of tokens) expect(scrub(`found ${t} in config`, t)).toBe(`found ${R} in config`);
    const tg = 'https://api.telegram.org/bot1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1/getMe';
    expect(scrub(tg, 'AAHdqTcvCH1v')).toBe(`https://api.telegram.org/bot${R}/getMe`);
    expect(scrub('Slack webhook https://hooks.slack.com/services/T000/B000/XXXXsecret', 'XXXXsecret')).toBe(
      `Slack webhook https://hooks.slack.com/services/${R}`,
    );
  });

  it('secret query parameters', () => {
    const url = 'GET /cb?user=bob&token=t0k3n&password=pw&api_key=k3y&secret=s3c&sig=5ig&page=2 HTTP/1.1';
    expect(scrub(url, 't0k3n', '=pw', 'k3y', 's3c', '5ig')).toBe(
      `GET /cb?user=bob&token=${R}&password=${R}&api_key=${R}&secret=${R}&sig=${R}&page=2 HTTP/1.1`,
    );
  });

  it('registered literal secrets wherever they appear', () => {
    registerSecret('correct-horse-42');
    registerSecret('short'); // too short: would redact ordinary words
    registerSecret('  padded-secret\n');
    expect(scrub('login failed for correct-horse-42 at short notice', 'correct-horse-42')).toBe(
      `login failed for ${R} at short notice`,
    );
    expect(scrub('read padded-secret from file', 'padded-secret')).toBe(`read ${R} from file`);
    clearRegisteredSecrets();
    expect(redact('correct-horse-42')).toBe('correct-horse-42');
  });

  it('ignores a registered value that is part of the replacement itself', () => {
    registerSecret('redacted');
    const once = redact('PASSWORD=x1 redacted');
    expect(redact(once)).toBe(once);
  });
});

describe('leaving ordinary ops output alone', () => {
  it("keeps nginx's upstream directives, which name an address, not a password", () => {
    expect(redact('proxy_pass=http://127.0.0.1:8000')).toBe('proxy_pass=http://127.0.0.1:8000');
    expect(redact('fastcgi_pass=unix:/run/php/php-fpm.sock')).toBe('fastcgi_pass=unix:/run/php/php-fpm.sock');
    expect(redact('DB_PASS=hunter2')).toBe(`DB_PASS=${R}`);
  });

  const ordinary = [
    'PORT=8000',
    'NODE_ENV=production',
    'JWT_SECRET is set (58 chars)',
    "ModuleNotFoundError: No module named 'fastapi'",
    'Error: listen EADDRINUSE: address already in use 127.0.0.1:8000',
    '        proxy_pass http://127.0.0.1:8000;',
    'KEY_COUNT=12',
    'KEYBOARD_LAYOUT=us',
    'PWD=/srv/app',
    'TOKEN_TTL=3600',
    'AUTH_MODE=oauth',
    'PRIVATE_KEY_PATH=/etc/ssl/private/app.key',
    'TOKENIZERS_PARALLELISM=false',
    'FATAL:  password authentication failed for user "app"',
    'Basic authentication required',
    '● wushipay.service - Wushipay API\n   Active: failed (Result: exit-code) since Mon 2024-06-03 10:00:01 UTC',
    '127.0.0.1 - - [03/Jun/2024:10:00:01 +0000] "GET /health HTTP/1.1" 502 157 "-" "curl/8.5.0"',
    'upstream: "http://127.0.0.1:8000/api", host: "pay.example.com"',
    'tcp LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("nginx",pid=812,fd=6))',
    '/dev/sda1 50G 47G 3.0G 94% /',
    'a sort key: created_at',
  ];
  it.each(ordinary)('%s', (line) => {
    expect(redact(line)).toBe(line);
  });
});

describe('isSecretName', () => {
  it.each([
    'JWT_SECRET',
    'DB_PASSWORD',
    'PGPASSWORD',
    'MYSQL_PWD',
    'DB_PASS',
    'API_KEY',
    'apiKey',
    'x-api-key',
    'PRIVATE_KEY',
    'AWS_SECRET_ACCESS_KEY',
    'SLACK_BOT_TOKEN',
    'accessToken',
    'CREDENTIALS',
    'Authorization',
    'SLACK_SIGNING_SECRET',
    'X-Amz-Signature',
    'PASSWORD_SALT',
    'Set-Cookie',
    'SESSION',
    'SENTRY_DSN',
    'DATABASE_URL',
    'db.password',
    'PASSWORD2',
    'passphrase',
  ])('%s is secret', (name) => expect(isSecretName(name)).toBe(true));

  it.each([
    'PORT',
    'NODE_ENV',
    'KEYBOARD_LAYOUT',
    'MONKEY',
    'KEY_COUNT',
    'key',
    'PUBLIC_KEY',
    'SORT_KEY',
    'AWS_ACCESS_KEY_ID',
    'PWD',
    'OLDPWD',
    'TOKEN_TTL',
    'SESSION_TIMEOUT',
    'PASSWORD_FILE',
    'AUTH_USER',
    'SALT_ROUNDS',
    'REDIS_URL',
    'TOKENIZERS_PARALLELISM',
    'BYPASS_CACHE',
  ])('%s is not secret', (name) => expect(isSecretName(name)).toBe(false));
});

describe('describeSecret', () => {
  it('describes a value without showing it', () => {
    const jwt = 'x'.repeat(58);
    expect(describeSecret('JWT_SECRET', jwt)).toBe('JWT_SECRET is set (58 chars)');
    expect(describeSecret('JWT_SECRET', undefined)).toBe('JWT_SECRET is not set');
    expect(describeSecret('JWT_SECRET', '')).toBe('JWT_SECRET is set but empty');
    expect(describeSecret('PIN', '7')).toBe('PIN is set (1 char)');
  });

  it('points out stray whitespace, a common reason a secret "does not work"', () => {
    expect(describeSecret('DB_PASSWORD', 'hunter2\n')).toBe('DB_PASSWORD is set (8 chars, has leading or trailing whitespace)');
    expect(describeSecret('DB_PASSWORD', '   ')).toBe('DB_PASSWORD is set (3 chars, only whitespace)');
    expect(describeSecret('DB_PASSWORD', 'hunter2\n')).not.toContain('hunter2');
  });
});

describe('redactDeep', () => {
  it('walks nested objects and arrays, returning a new value', () => {
    const result = {
      step: 'env',
      output: 'DB_PASSWORD=hunter2\nPORT=8000',
      captures: { password: 'plain-pw', tokens: ['t-one', 't-two'], port: '8000', nested: [{ api_key: 'k1' }] },
      count: 3,
      ok: true,
      missing: null,
    };
    const out = redactDeep(result);
    expect(out).toEqual({
      step: 'env',
      output: `DB_PASSWORD=${R}\nPORT=8000`,
      captures: { password: R, tokens: [R, R], port: '8000', nested: [{ api_key: R }] },
      count: 3,
      ok: true,
      missing: null,
    });
    expect(result.captures.password).toBe('plain-pw'); // input untouched
    expect(JSON.stringify(out)).not.toMatch(/hunter2|plain-pw|t-one|k1/);
  });

  it('keeps a "__proto__" key as data and survives cycles', () => {
    const parsed = JSON.parse('{"__proto__": {"secret": "x1"}}');
    const out = redactDeep(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(JSON.stringify(out)).toBe(`{"__proto__":{"secret":"${R}"}}`);
    const loop: Record<string, unknown> = { name: 'a' };
    loop.self = loop;
    expect(redactDeep(loop)).toEqual({ name: 'a', self: '[circular]' });
  });

  it('passes strings and primitives straight through redact', () => {
    expect(redactDeep('token=abc123')).toBe(`token=${R}`);
    expect(redactDeep(42)).toBe(42);
    expect(redactDeep(null)).toBeNull();
  });
});

describe('large input', () => {
  it('handles 1 MB strings of ordinary and adversarial shapes', () => {
    const MB = 1 << 20;
    const logLine = '2024-06-03T10:00:01Z nginx[812]: 127.0.0.1 "GET /api?x=1 HTTP/1.1" 502 upstream=http://127.0.0.1:8000\n';
    const inputs = [
      logLine.repeat(Math.ceil(MB / logLine.length)),
      'a'.repeat(MB),
      'a.b-'.repeat(MB / 4),
      'eyJ'.repeat(MB / 3),
      'http://u:'.repeat(MB / 9),
      'PASSWORD='.repeat(MB / 9),
      `\nPASSWORD=${'a '.repeat(MB / 2)}`,
      '-----BEGIN RSA PRIVATE KEY-----\n'.repeat(MB / 32),
      '"'.repeat(MB),
    ];
    for (const input of inputs) expect(typeof redact(input)).toBe('string');
    // A run scope guesses and learns too: a megabyte of random base64 or of one letter must not blow up its registry.
    const random = randomBytes((MB * 3) / 4).toString('base64');
    for (const input of [...inputs, random, 'f'.repeat(MB), `${'a/'.repeat(MB / 2)}`]) {
      const run = new Redactor().scope();
      expect(typeof run.redact(input)).toBe('string');
      expect(run.size).toBeLessThanOrEqual(1000);
    }
    expect(new Redactor().scope().redact('f'.repeat(64))).toBe('f'.repeat(64));
    const withSecret = `${logLine.repeat(5000)}DB_PASSWORD=hunter2\n${logLine.repeat(5000)}`;
    expect(redact(withSecret)).not.toContain('hunter2');
  });
});

describe('a run scope: a value redacted once is redacted everywhere in the run', () => {
  it('learns a value from NAME=value and catches it bare, in captures and in later text', () => {
    const run = new Redactor().scope();
    const secret = 'Zt9#kq2LmP0w';
    expect(run.redact(`JWT_SECRET=${secret}\nPORT=8000`)).toBe(`JWT_SECRET=${R}\nPORT=8000`);
    expect(run.redact(`verify failed with key ${secret}`)).toBe(`verify failed with key ${R}`);
    expect(run.redactDeep({ jwt: secret, port: '8000' })).toEqual({ jwt: R, port: '8000' });
    expect(run.redact(`JWT secret is ${secret.length} chars`)).toBe('JWT secret is 12 chars');
  });

  it('learns from secret keys in data, URL passwords and Bearer tokens', () => {
    const run = new Redactor().scope();
    run.redactDeep({ api_token: 'tk-77aa88bb' });
    run.redact('postgres://app:pw%40home99@db:5432/app');
    run.redact('Authorization: Bearer QWxhZGRpbjpvcGVu');
    expect(run.redact('tk-77aa88bb pw@home99 pw%40home99 QWxhZGRpbjpvcGVu')).toBe(`${R} ${R} ${R} ${R}`);
  });

  it('does not learn short plain words, which would erase unrelated output', () => {
    const run = new Redactor().scope();
    expect(run.redact('DB_PASSWORD=missing\nTOKEN=12345')).toBe(`DB_PASSWORD=${R}\nTOKEN=${R}`);
    expect(run.redact('env_file=missing pid=12345')).toBe('env_file=missing pid=12345');
  });

  it('sees the values of its parent but keeps its own to itself, and forgets them when cleared', () => {
    const process = new Redactor();
    process.register('xoxb-parent-token-1');
    const a = process.scope();
    const b = process.scope();
    a.register('only-in-run-a');
    expect(a.redact('xoxb-parent-token-1 only-in-run-a')).toBe(`${R} ${R}`);
    expect(b.redact('only-in-run-a')).toBe('only-in-run-a');
    expect(process.redact('only-in-run-a')).toBe('only-in-run-a');
    a.clear();
    expect(a.redact('only-in-run-a')).toBe('only-in-run-a');
  });

  it('the process-wide redact() neither learns nor guesses', () => {
    redact('JWT_SECRET=Zt9kq2LmP0wQ');
    expect(redact('Zt9kq2LmP0wQ')).toBe('Zt9kq2LmP0wQ');
    expect(redact('trace_blob=9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c')).toBe('trace_blob=9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c');
  });
});

describe('encoded forms of a registered secret', () => {
  const secret = 'S3cr3t pw/+ä!';
  const b64 = Buffer.from(secret).toString('base64');
  const forms = {
    base64: b64,
    'base64 unpadded': b64.replace(/=+$/, ''),
    base64url: Buffer.from(secret).toString('base64url'),
    'URL-encoded': encodeURIComponent(secret),
    'URL-encoded, lower case': encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    'form-encoded': encodeURIComponent(secret).replace(/%20/g, '+'),
    hex: Buffer.from(secret).toString('hex'),
    'HEX': Buffer.from(secret).toString('hex').toUpperCase(),
  };
  it.each(Object.entries(forms))('%s', (_name, form) => {
    const r = new Redactor();
    r.register(secret);
    const out = r.redact(`value=${form};`);
    expect(out).not.toContain(form);
    expect(out).toContain(R);
  });

  it('inside a longer base64 string, at every byte alignment (Basic user:secret, JSON blobs)', () => {
    const r = new Redactor();
    r.register(secret);
    for (const prefix of ['', 'u:', 'ab:', 'user:', '{"pw":"']) {
      const blob = Buffer.from(`${prefix}${secret}","x":1}`).toString('base64');
      const out = r.redact(`blob ${blob} end`);
      // Whatever is left of the blob no longer decodes to the secret.
      for (const word of out.split(/\s+|«redacted»/)) expect(Buffer.from(word, 'base64').toString()).not.toContain(secret);
      expect(out).toContain(R);
    }
  });
});

describe('credentials after the word that introduces them, in any case', () => {
  it.each([
    ['bearer token abcDEF123456ghi', `bearer token ${R}`],
    ['BEARER abcDEF123456ghi', `BEARER ${R}`],
    ['sent Bearer Zm9vYmFyYmF6cXV4', `sent Bearer ${R}`],
    ['basic dXNlcjpwYXNzd29yZA==', `basic ${R}`],
    ['using token 8f7e6d5c4b3a2', `using token ${R}`],
    ['invalid api key sk_1234abcd5678', `invalid api key ${R}`],
    ['API-KEY Qw3rTy9876zz', `API-KEY ${R}`],
    ['the password is hunter2hunter2', `the password is ${R}`],
    ['AUTHORIZATION: token ghs_abcdefghij1234', `AUTHORIZATION: token ${R}`],
    ['x-api-key: 0123abcd4567efgh', `x-api-key: ${R}`],
  ])('%s', (line, expected) => expect(redact(line)).toBe(expected));

  it.each(['password authentication failed for user "app"', 'Basic authentication required', 'token expired at 10:00', 'the secret file /run/secrets/db_password is empty'])(
    'keeps prose: %s',
    (line) => expect(redact(line)).toBe(line),
  );
});

describe('AWS secret access keys', () => {
  it('a 40-character key on the line of its access key id, unnamed', () => {
    const line = 'AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY us-east-1';
    expect(redact(line)).toBe(`${R} ${R} us-east-1`);
    expect(redact('aws configure set default AKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).not.toContain('wJalrXUtn');
  });

  it('a run scope also catches one with no id nearby, by its randomness', () => {
    expect(new Redactor().scope().redact('secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ok')).not.toContain('wJalrXUtn');
  });
});

describe('guessing at random-looking strings (run scopes)', () => {
  const hex64 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
  const b64 = 'q8Zr2LxV0pKw7TnYb3Jc5Hs9Mf1Ga4Ud';
  it.each([
    [`trace_blob=${hex64}`, `trace_blob=${R}`],
    [`trace_blob=${b64}`, `trace_blob=${R}`],
    [`payload ${b64}== sent`, `payload ${R} sent`],
    ['k=9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c', `k=${R}`],
    [`{"blob": "${b64}"}`, `{"blob": "${R}"}`],
    ['upload /tmp/up_q8Zr2LxV0pKw7TnYb3Jc5Hs9/part', `upload /tmp/${R}/part`],
  ])('redacts %s', (line, expected) => expect(new Redactor().scope().redact(line)).toBe(expected));

  const ordinary = [
    'request 550e8400-e29b-41d4-a716-446655440000 failed',
    'deployed 9fceb02d0ae598e95dc970b74767f19372d61af8 to production',
    'commit 9fceb02',
    'image sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    'integrity sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==',
    'host key SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU',
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl web1',
    '127.0.0.1 - - [03/Jun/2024:10:00:01 +0000] "GET /api/v1/orders/20240603T100001Z/items HTTP/1.1" 502 157',
    '2024-06-03T10:00:01.123456789Z pid=481234 port=8000',
    'wushipay-api-production-worker-7d9f8c6b5-x2x9z',
    'location /srv/wushipay/releases/20240603100001/node_modules/.bin/uvicorn',
    'Python3HTTPServerRequestHandler AbstractAnnotationConfigDispatcherServletInitializer',
    'ERR_OSSL_EVP_UNSUPPORTED ModuleNotFoundError',
    'upstream: "http://127.0.0.1:8000/api/payments/callback", host: "pay.example.com"',
    'https://registry.npmjs.org/@types/node/-/node-20.11.30.tgz',
    'Jun 03 10:00:01 web1 systemd[1]: wushipay.service: Main process exited, code=exited, status=1/FAILURE',
    'total 1234567890123 bytes',
  ];
  it.each(ordinary)('keeps %s', (line) => expect(new Redactor().scope().redact(line)).toBe(line));

  it('a field the step declares safe keeps its value; secret names and registered values are still redacted', () => {
    const run = new Redactor().scope();
    const safe = ['trace_blob', 'blob'];
    expect(run.redact(`trace_blob=${hex64}`, { safe })).toBe(`trace_blob=${hex64}`);
    expect(run.redact(`TRACE_BLOB: ${hex64}`, { safe })).toBe(`TRACE_BLOB: ${hex64}`);
    expect(run.redactDeep({ blob: b64, other: b64 }, { safe })).toEqual({ blob: b64, other: R });
    expect(run.redact(`api_token=${hex64}`, { safe: ['api_token'] })).toBe(`api_token=${R}`);
  });

  it('looksRandom on its own', () => {
    expect(looksRandom(b64)).toBe(true);
    expect(looksRandom(hex64)).toBe(true);
    expect(looksRandom('9fceb02d0ae598e95dc970b74767f19372d61af8')).toBe(false);
    expect(looksRandom('Python3HTTPServerRequestHandler')).toBe(false);
  });
});

describe('error messages Triage wrote keep their reason and fix', () => {
  it('keeps the config path and the message; a value interpolated into it is still redacted', () => {
    const noKey = new TriageError('CONFIG_INVALID', "cannot read private key /home/ops/.ssh/deploy_key: ENOENT: no such file or directory, open '/home/ops/.ssh/deploy_key'", {
      file: '/etc/triage.yaml',
      path: 'hosts.web1.privateKey',
      fix: 'create a key with `ssh-keygen -t ed25519 -f /home/ops/.ssh/deploy_key`, or fix the path',
    });
    expect(redactErrorLines(noKey)).toEqual([noKey.toLine()]);
    const inline = new TriageError('SECRET_UNRESOLVED', 'secrets may not be written inline (line 12:15)', {
      file: '/etc/triage.yaml',
      path: 'chat.slack.botToken',
      fix: 'put it in an environment variable and write env:NAME (or file:/path)',
    });
    expect(redactErrorLines(inline)).toEqual([inline.toLine()]);
    const missing = new TriageError('CONFIG_INVALID', "missing required key 'signingSecret'", { path: 'chat.slack.signingSecret', fix: 'add signingSecret: env:SLACK_SIGNING_SECRET' });
    expect(redactErrorLines(missing)).toEqual(["chat.slack.signingSecret: missing required key 'signingSecret' — add signingSecret: env:SLACK_SIGNING_SECRET"]);
    const echoed = new TriageError('CONFIG_INVALID', 'expected text, got a number', { path: 'db.password', fix: 'quote the value, e.g. password: "81726354"' });
    expect(redactErrorLines(echoed)[0]).toBe(`db.password: expected text, got a number — quote the value, e.g. password: "${R}"`);
  });

  it('one line per problem of a TriageErrors', () => {
    const errs = new TriageErrors([
      new TriageError('CONFIG_INVALID', 'a', { path: 'chat.telegram.token' }),
      new TriageError('CONFIG_INVALID', 'b', { path: 'hosts.web1.passphrase' }),
    ]);
    expect(redactErrorLines(errs)).toEqual(['chat.telegram.token: a', 'hosts.web1.passphrase: b']);
  });
});
