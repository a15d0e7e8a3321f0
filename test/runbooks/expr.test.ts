import { describe, expect, it } from 'vitest';
import { TriageError } from '../../src/errors.ts';
import { compileExpr, evaluateExpr, truthy } from '../../src/runbooks/expr.ts';

/** What a runbook sees after its first steps ran against a broken FastAPI service. */
const ctx = {
  target: { name: 'wushipay', port: 8000 },
  params: { disk_warn: 90, unit: 'wushipay.service' },
  service: { state: 'failed', pids: [1201, 1202], restarts: '3' },
  listen: { listening: false, pid: '1202', port: '8000' },
  disk: { use_pct: 93, mounts: ['/', '/var'] },
  logs: {
    errors: "Traceback (most recent call last):\nModuleNotFoundError: No module named 'fastapi'",
    lines: ['started', 'ModuleNotFoundError: fastapi', 'exited'],
  },
  empty: { list: [], text: '  \n', obj: {} },
};

const ev = (src: string, c: Record<string, unknown> = ctx) => evaluateExpr(src, c);

function syntaxError(src: string): TriageError {
  try {
    compileExpr(src);
  } catch (err) {
    expect(err).toBeInstanceOf(TriageError);
    expect((err as TriageError).code).toBe('EXPR_INVALID');
    return err as TriageError;
  }
  throw new Error(`expected ${JSON.stringify(src)} to be rejected`);
}

describe('a runbook author writing conditions', () => {
  it('evaluates the conditions from the built-in runbooks', () => {
    expect(ev("service.state != 'active' && !listen.listening")).toBe(true);
    expect(ev('disk.use_pct > params.disk_warn')).toBe(true);
    expect(ev('listen.pid in service.pids')).toBe(true);
    expect(ev("logs.errors =~ 'ModuleNotFoundError'")).toBe(true);
    expect(ev("logs.errors !~ 'ModuleNotFoundError'")).toBe(false);
  });

  it('follows the documented precedence, lowest to highest', () => {
    expect(ev('1 + 2 * 3')).toBe(7);
    expect(ev('(1 + 2) * 3')).toBe(9);
    expect(ev('10 - 4 - 3')).toBe(3); // left-associative
    expect(ev('-2 * 3 + 10 % 4')).toBe(-4);
    expect(ev('true || false && false')).toBe(true); // && binds tighter than ||
    expect(ev('(true || false) && false')).toBe(false);
    expect(ev('1 + 1 == 2 && 3 > 2')).toBe(true);
    expect(ev('1 < 2 == true')).toBe(true); // comparison before equality
    expect(ev('!listen.listening == true')).toBe(true); // unary ! before ==
    expect(ev("'ab' + 'c' in 'xabcx'")).toBe(true); // + before in
  });

  it('short-circuits && and || and always yields booleans', () => {
    // The right side would throw (invalid regex) if it were evaluated.
    const bad = { re: '(' };
    expect(ev('false && x =~ re', bad)).toBe(false);
    expect(ev('true || x =~ re', bad)).toBe(true);
    expect(() => ev('true && x =~ re', bad)).toThrow(TriageError);
    expect(ev("'yes' && 1")).toBe(true);
    expect(ev('0 || null')).toBe(false);
  });

  it('reads missing paths as null instead of throwing', () => {
    expect(ev('nothing')).toBeNull();
    expect(ev('service.nothing.deeper.still')).toBeNull();
    expect(ev('listen.pid.x')).toBeNull(); // a string has no properties
    expect(ev('nothing == null')).toBe(true);
    expect(ev('len(nothing)')).toBe(0);
  });

  it('indexes lists with numeric path segments', () => {
    expect(ev('disk.mounts.1')).toBe('/var');
    expect(ev('disk.mounts.7')).toBeNull();
    expect(ev('logs.lines.1 =~ "fastapi"')).toBe(true);
  });

  it('never reaches the prototype chain', () => {
    expect(ev('constructor')).toBeNull();
    expect(ev('constructor.name')).toBeNull();
    expect(ev('__proto__')).toBeNull();
    expect(ev('service.__proto__.toString')).toBeNull();
    expect(ev('service.toString')).toBeNull();
    expect(ev('disk.mounts.length')).toBeNull(); // own but not enumerable; use len()
    expect(ev('target.prototype')).toBeNull();
    // Even an own "__proto__" key (as JSON.parse creates) stays unreadable.
    expect(ev('x.__proto__', JSON.parse('{"x": {"__proto__": {"polluted": 1}}}'))).toBeNull();
  });

  it('compares numeric strings from command output with numbers', () => {
    expect(ev('listen.port == target.port')).toBe(true); // '8000' == 8000
    expect(ev("listen.port == '8000.0'")).toBe(true);
    expect(ev('service.restarts >= 3')).toBe(true);
    expect(ev("'2' < '10'")).toBe(true); // numeric, not alphabetical
    expect(ev("'b' > 'a'")).toBe(true); // plain strings compare as strings
    expect(ev("'abc' > 1")).toBe(false); // mixed: false, not an error
    expect(ev('null < 1')).toBe(false);
    expect(ev("'0x10' == 16")).toBe(false); // only decimal strings count as numbers
    expect(ev("true == 'true'")).toBe(false);
  });

  it('treats null as equal only to null and compares lists element-wise', () => {
    expect(ev('null == null')).toBe(true);
    expect(ev('missing == missing')).toBe(true);
    expect(ev('null == 0')).toBe(false);
    expect(ev("null == ''")).toBe(false);
    expect(ev('null != false')).toBe(true);
    expect(ev("[1, '2'] == ['1', 2]")).toBe(true);
    expect(ev('[1, 2] == [1, 2, 3]')).toBe(false);
    expect(ev('service.pids == [1201, 1202]')).toBe(true);
  });

  it('matches regexes with multi-line mode and searches lists line by line', () => {
    expect(ev("logs.errors =~ '^ModuleNotFoundError: No module named'")).toBe(true);
    expect(ev("logs.errors =~ '\\d{3}'")).toBe(false);
    expect(ev("listen.port =~ '^\\d+$'")).toBe(true);
    expect(ev("logs.lines =~ '^exited$'")).toBe(true);
    expect(ev("missing =~ '^$'")).toBe(true); // null matches as ''
    expect(ev("'x' =~ missing")).toBe(false); // no pattern, no match
  });

  it('rejects an invalid regex at evaluation when it comes from data', () => {
    const err = (() => {
      try {
        ev('logs.errors =~ params.re', { logs: ctx.logs, params: { re: '[unclosed' } });
      } catch (e) {
        return e as TriageError;
      }
    })();
    expect(err?.code).toBe('EXPR_INVALID');
    expect(err?.message).toContain('[unclosed');
  });

  it('supports in on lists, strings and null', () => {
    expect(ev('1202 in service.pids')).toBe(true);
    expect(ev("'1201' in service.pids")).toBe(true);
    expect(ev('9999 in service.pids')).toBe(false);
    expect(ev("'fastapi' in logs.errors")).toBe(true);
    expect(ev("'django' in logs.errors")).toBe(false);
    expect(ev("'x' in missing")).toBe(false);
    expect(ev("missing in 'abc'")).toBe(false);
    expect(ev("'a' in ['a', 'b']")).toBe(true);
  });

  it('does arithmetic that never produces NaN or Infinity', () => {
    expect(ev('1.5 + 2')).toBe(3.5);
    expect(ev("'port ' + 8000")).toBe('port 8000');
    expect(ev("'8000' + 1")).toBe('80001'); // a string on either side concatenates
    expect(ev("service.restarts * 2")).toBe(6); // numeric strings work in - * / %
    expect(ev('10 / 4')).toBe(2.5);
    expect(ev('10 / 0')).toBeNull();
    expect(ev('10 % 0')).toBeNull();
    expect(ev('missing + 1')).toBeNull();
    expect(ev('missing - 1')).toBeNull();
    expect(ev("'abc' * 2")).toBeNull();
    expect(ev('-listen.port')).toBe(-8000);
    expect(ev('service.pids + [3]')).toEqual([1201, 1202, 3]);
  });

  it('parses literals: numbers, both quote styles with escapes, keywords and lists', () => {
    expect(ev('42')).toBe(42);
    expect(ev('0.25')).toBe(0.25);
    expect(ev("'it\\'s'")).toBe("it's");
    expect(ev('"say \\"hi\\""')).toBe('say "hi"');
    expect(ev("'a\\nb'")).toBe('a\nb');
    expect(ev("'\\d+'")).toBe('\\d+'); // unknown escapes keep the backslash for regexes
    expect(ev('true')).toBe(true);
    expect(ev('null')).toBeNull();
    expect(ev("['a', 1, null, missing]")).toEqual(['a', 1, null, null]);
    expect(ev('[]')).toEqual([]);
  });
});

describe('truthy', () => {
  it('is false exactly for null, undefined, false, 0, NaN, empty string and empty list', () => {
    for (const v of [null, undefined, false, 0, Number.NaN, '', []]) expect(truthy(v)).toBe(false);
    for (const v of [true, 1, -1, 'false', '0', ' ', [0], {}]) expect(truthy(v)).toBe(true);
  });
});

describe('functions', () => {
  it('len, empty, count', () => {
    expect(ev('len(listen.port)')).toBe(4);
    expect(ev('len(service.pids)')).toBe(2);
    expect(ev('len(missing)')).toBe(0);
    expect(ev('empty(missing)')).toBe(true);
    expect(ev('empty(empty.list)')).toBe(true);
    expect(ev('empty(empty.text)')).toBe(true); // blank output counts as empty
    expect(ev('empty(empty.obj)')).toBe(true);
    expect(ev('empty(0)')).toBe(false);
    expect(ev('empty(service.pids)')).toBe(false);
    expect(ev('count(service.pids)')).toBe(2);
    expect(ev('count(missing)')).toBe(0);
    expect(ev('count(logs.errors)')).toBe(2); // a string counts its non-blank lines
  });

  it('num, str, lower', () => {
    expect(ev('num(listen.port)')).toBe(8000);
    expect(ev("num(' 42 ')")).toBe(42);
    expect(ev("num('eight')")).toBeNull();
    expect(ev('num(missing)')).toBeNull();
    expect(ev('str(8000)')).toBe('8000');
    expect(ev('str(missing)')).toBe('');
    expect(ev('str(service.pids)')).toBe('1201, 1202');
    expect(ev("lower('FAILED')")).toBe('failed');
  });

  it('contains, matches, any', () => {
    expect(ev('contains(service.pids, 1201)')).toBe(true);
    expect(ev("contains(logs.errors, 'fastapi')")).toBe(true);
    expect(ev("contains(missing, 'x')")).toBe(false);
    expect(ev("matches(service.state, '^fail')")).toBe(true);
    expect(ev("matches(service.state, '^act')")).toBe(false);
    expect(ev("any(logs.lines, 'ModuleNotFound')")).toBe(true);
    expect(ev("any(logs.lines, '^crashed')")).toBe(false);
    expect(ev("any(missing, '.')")).toBe(false);
  });

  it('first, last, join', () => {
    expect(ev('first(disk.mounts)')).toBe('/');
    expect(ev('last(disk.mounts)')).toBe('/var');
    expect(ev('first(empty.list)')).toBeNull();
    expect(ev('last(missing)')).toBeNull();
    expect(ev('join(disk.mounts)')).toBe('/, /var');
    expect(ev("join(disk.mounts, ' ')")).toBe('/ /var');
    expect(ev("join(missing, ',')")).toBe('');
  });

  it('default, max, min', () => {
    expect(ev('default(missing, 30)')).toBe(30);
    expect(ev('default(listen.listening, true)')).toBe(false); // false is a value, not missing
    expect(ev('max(1, 7, 3)')).toBe(7);
    expect(ev("max(service.pids, '5000')")).toBe(5000); // lists are flattened
    expect(ev('min(disk.use_pct, params.disk_warn)')).toBe(90);
    expect(ev("max(missing, 'x')")).toBeNull();
  });
});

describe('compiling', () => {
  it('lists the dotted paths an expression reads, once each, without functions or keywords', () => {
    const e = compileExpr("service.state != 'active' && len(disk.mounts) > 0 && service.state != null && x in params.list");
    expect(e.paths).toEqual(['service.state', 'disk.mounts', 'x', 'params.list']);
    expect(e.source).toContain('service.state');
  });

  it('caches by source text and evaluates against many contexts', () => {
    const a = compileExpr('svc.state == "active"');
    expect(compileExpr('svc.state == "active"')).toBe(a);
    expect(a.evaluate({ svc: { state: 'active' } })).toBe(true);
    expect(a.evaluate({ svc: { state: 'failed' } })).toBe(false);
    expect(a.evaluate({})).toBe(false);
  });

  it('names the column and what was expected on syntax errors', () => {
    const err = syntaxError('len(a.b, c');
    expect(err.message).toContain("expected ')' at column 11");
    expect(err.fix).toBeTruthy();
    expect(syntaxError('a ==').message).toMatch(/expected a value at column 5/);
    expect(syntaxError('(a || b').message).toMatch(/expected '\)' at column 8/);
    expect(syntaxError("['a', 'b'").message).toMatch(/expected '\]' at column 10/);
    expect(syntaxError('a = 1').message).toMatch(/expected '==' or '=~' at column 3/);
    expect(syntaxError('a & b').message).toMatch(/expected '&&' at column 3/);
    expect(syntaxError('a | b').message).toMatch(/expected '\|\|' at column 3/);
    expect(syntaxError("x == 'abc").message).toMatch(/unterminated string at column 6/);
    expect(syntaxError('a @ b').message).toMatch(/unexpected character '@' at column 3/);
  });

  it('rejects trailing garbage and empty expressions', () => {
    expect(syntaxError('service.state service.pids').message).toMatch(/column 15/);
    expect(syntaxError('1 2').message).toMatch(/expected an operator or the end at column 3/);
    expect(syntaxError('a )').message).toMatch(/column 3/);
    expect(syntaxError('').message).toMatch(/expected an expression at column 1/);
    expect(syntaxError('   ').message).toMatch(/expected an expression/);
  });

  it('rejects unknown functions and wrong argument counts before anything runs', () => {
    const err = syntaxError('exec("rm -rf /")');
    expect(err.message).toMatch(/unknown function 'exec' at column 1/);
    expect(err.fix).toContain('len');
    expect(syntaxError('x && constructor(1)').message).toMatch(/unknown function 'constructor' at column 6/);
    expect(syntaxError('a.b(1)').message).toMatch(/unknown function 'a\.b'/);
    expect(syntaxError('len()').message).toMatch(/len\(\) takes 1 argument at column 1, got 0/);
    expect(syntaxError('contains(a)').message).toMatch(/takes 2 arguments/);
    expect(syntaxError('max()').message).toMatch(/takes at least 1 argument/);
  });

  it('checks literal regexes at compile time', () => {
    expect(syntaxError("logs =~ '(unclosed'").message).toMatch(/invalid regular expression.*at column 9/);
    expect(syntaxError("matches(logs, '[')").message).toMatch(/invalid regular expression/);
    expect(syntaxError("any(logs, '*')").message).toMatch(/invalid regular expression/);
  });

  it('refuses keywords as path roots, deep nesting and oversized sources', () => {
    expect(syntaxError('null.x').message).toMatch(/'null' is a keyword/);
    expect(syntaxError(`${'('.repeat(100)}1${')'.repeat(100)}`).message).toMatch(/nesting deeper than 64 levels/);
    expect(syntaxError(`a == '${'x'.repeat(2000)}'`).message).toMatch(/limit 2000/);
    expect(compileExpr(`${'('.repeat(20)}1${')'.repeat(20)}`).evaluate({})).toBe(1);
  });

  it('rejects input that is not a string (a YAML number, say)', () => {
    expect(() => compileExpr(42 as unknown as string)).toThrow(/expected an expression string/);
  });
});
