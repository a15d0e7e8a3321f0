/**
 * Reloading config and runbooks in place: a good new config is applied (new
 * targets, removed ones gone) and reaches components through the reload
 * hook and live views; a bad one is refused with the reason and the old one
 * stays. Readiness says not-ready until every part has said otherwise.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { Readiness } from '../../src/ops/readiness.ts';
import { LiveConfig, liveView } from '../../src/ops/reload.ts';
import { RunbookLibrary } from '../../src/runbooks/loader.ts';

let dir: string;
let file: string;
const write = (config: object | string) => writeFileSync(file, typeof config === 'string' ? config : stringify(config));
const read = async () => ({ loaded: await loadConfig({ file, env: {}, requireFile: true }), library: RunbookLibrary.load({}) });
const base = { hosts: { box: { address: 'local' } }, targets: { shop: { hosts: ['box'] } } };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'triage-reload-'));
  file = join(dir, 'triage.yaml');
  write(base);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('LiveConfig', () => {
  it('applies a config that gained a target and lost one, and tells its subscribers', async () => {
    const live = new LiveConfig(await read(), read);
    const seen: string[][] = [];
    live.onReload((next) => {
      seen.push(Object.keys(next.loaded.config.targets));
      return ['zone dmz is not served here'];
    });
    write({ ...base, targets: { cart: { hosts: ['box'] } } });
    const r = await live.reload();
    expect(r).toMatchObject({ applied: true, generation: 1, targets: 1, added: ['cart'], removed: ['shop'], warnings: ['zone dmz is not served here'] });
    expect(seen).toEqual([['cart']]);
    expect(Object.keys(live.current.loaded.config.targets)).toEqual(['cart']);
  });

  it('refuses a config that does not load, says why, and keeps the one in force', async () => {
    const live = new LiveConfig(await read(), read);
    let told = 0;
    live.onReload(() => {
      told++;
      return undefined;
    });
    write({ ...base, targets: { shop: { hosts: ['nosuchhost'] } } });
    const r = await live.reload();
    expect(r.applied).toBe(false);
    expect(r.reason).toMatch(/nosuchhost/);
    expect(r.generation).toBe(0);
    write('hosts: [unclosed');
    expect((await live.reload()).reason).toMatch(/YAML/);
    expect(told).toBe(0);
    expect(Object.keys(live.current.loaded.config.targets)).toEqual(['shop']);
  });

  it('refuses a move to another Redis without showing its password', async () => {
    const live = new LiveConfig(await read(), read);
    write({ ...base, redis: 'redis://127.0.0.1:6390' });
    const moved = await live.reload();
    expect(moved.applied).toBe(false);
    expect(moved.reason).toMatch(/names redis:\/\/127.0.0.1:6390, this process uses redis:\/\/127.0.0.1:6379; a reload cannot move a running process to another Redis/);
    // The password lives in $REDIS_URL (never inline); a reload that would switch to it names the URL without it.
    write(base);
    const withPassword = new LiveConfig(await read(), async () => ({
      loaded: await loadConfig({ file, env: { REDIS_URL: 'redis://app:planted-redis-pass@127.0.0.1:6390' }, requireFile: true }),
      library: RunbookLibrary.load({}),
    }));
    const r = await withPassword.reload();
    expect(r.applied).toBe(false);
    expect(r.reason).toMatch(/redis:\/\/app:«redacted»@127.0.0.1:6390/);
    expect(r.reason).not.toContain('planted-redis-pass');
  });

  it('a live view reads whatever config is in force, methods included', async () => {
    const live = new LiveConfig(await read(), read);
    const loaded = liveView(() => live.current.loaded);
    const library = liveView(() => live.current.library);
    expect(Object.keys(loaded.config.targets)).toEqual(['shop']);
    write({ ...base, targets: { ...base.targets, cart: { hosts: ['box'] } } });
    await live.reload();
    expect(Object.keys(loaded.config.targets)).toEqual(['shop', 'cart']);
    expect({ ...loaded }.file).toBe(file);
    expect(library).toBeInstanceOf(RunbookLibrary);
    expect(library.get('502').name).toBe('502');
  });

  it('reloads asked for at once run one after the other, each reading the file afresh', async () => {
    const live = new LiveConfig(await read(), read);
    write({ ...base, targets: { ...base.targets, cart: { hosts: ['box'] } } });
    const [a, b] = await Promise.all([live.reload(), live.reload()]);
    expect([a.generation, b.generation]).toEqual([1, 2]);
    expect(b.added).toEqual([]);
  });
});

describe('Readiness', () => {
  it('is not ready until every expected part has reported, nor while a probe fails or hangs', async () => {
    const r = new Readiness(200);
    r.expect('chat', 'connecting');
    expect(await r.check()).toEqual({ ready: false, checks: { chat: { ready: false, detail: 'connecting' } } });
    r.set('chat', true, 'telegram');
    let redisUp = true;
    r.probe('redis', async () => (redisUp ? null : 'connection refused'));
    expect((await r.check()).ready).toBe(true);
    redisUp = false;
    expect(await r.check()).toEqual({ ready: false, checks: { chat: { ready: true, detail: 'telegram' }, redis: { ready: false, detail: 'connection refused' } } });
    r.probe('redis', () => new Promise(() => {}));
    expect((await r.check()).checks.redis).toEqual({ ready: false, detail: 'no answer within 200 ms' });
    r.probe('redis', async () => {
      throw new Error('ECONNREFUSED');
    });
    expect((await r.check()).checks.redis).toEqual({ ready: false, detail: 'ECONNREFUSED' });
  });
});
