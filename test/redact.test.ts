import { afterEach, describe, expect, it } from 'vitest';
import {
  clearRegisteredSecrets,
  describeSecret,
  isSecretName,
  redact,
  redactDeep,
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
    const withSecret = `${logLine.repeat(5000)}DB_PASSWORD=hunter2\n${logLine.repeat(5000)}`;
    expect(redact(withSecret)).not.toContain('hunter2');
  });
});
