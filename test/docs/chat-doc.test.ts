/**
 * The Slack app manifest a user pastes into "Create app → From manifest"
 * works with this bot: it is YAML, declares a slash command for every chat
 * command the bot parses (and no other), sends them and button clicks to the
 * bot's one request URL, subscribes to exactly the events the Slack adapter
 * handles, and asks for every scope the adapter's Web API calls and events
 * need. docs/chat.md covers every chat command and role, and every scope and
 * event the manifest asks for.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROLES } from '../../src/bot/access.ts';
import { COMMAND_NAMES } from '../../src/bot/commands.ts';
import { SLACK_REQUEST_URL } from '../../src/docs/slack-manifest.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

// biome-ignore lint/suspicious/noExplicitAny: a parsed manifest is untyped YAML
const manifest = parse(read('slack-app-manifest.yaml')) as any;
const adapterSource = read('src/bot/slack/slack-adapter.ts');

/** The bot scope each Web API method the adapter calls needs (Slack's method docs). */
const SCOPE_OF_METHOD: Record<string, string> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.postEphemeral': 'chat:write',
  'chat.delete': 'chat:write',
  'files.uploadV2': 'files:write',
  'reactions.add': 'reactions:write',
  'conversations.info': 'channels:read',
  'users.info': 'users:read',
};

/** The bot scope each Events API event needs (Slack's event docs). */
const SCOPE_OF_EVENT: Record<string, string> = {
  app_mention: 'app_mentions:read',
  'message.channels': 'channels:history',
  'message.groups': 'groups:history',
  'message.im': 'im:history',
  reaction_added: 'reactions:read',
};

/** The events the adapter listens to: `app.event('app_mention', …)`. */
const handledEvents = [...new Set([...adapterSource.matchAll(/app\.event\(\s*['"]([\w.]+)['"]/g)].map((m) => m[1]!))].sort();

describe('slack-app-manifest.yaml', () => {
  it('declares a slash command for every chat command, and no other', () => {
    const declared = (manifest.features.slash_commands as { command: string }[]).map((c) => c.command).sort();
    expect(declared, 'run `npm run docs` to regenerate the manifest from src/bot/commands.ts').toEqual(COMMAND_NAMES.map((n) => `/${n}`).sort());
  });

  it('sends every command and every button click to the bot’s one request URL', () => {
    for (const c of manifest.features.slash_commands) expect(c.url, c.command).toBe(SLACK_REQUEST_URL);
    expect(manifest.settings.interactivity).toEqual({ is_enabled: true, request_url: SLACK_REQUEST_URL });
    expect(manifest.settings.event_subscriptions.request_url).toBe(SLACK_REQUEST_URL);
    expect(SLACK_REQUEST_URL).toMatch(/^https:\/\/YOUR-HOST\/slack\/events$/);
  });

  it('asks for the scope of every Web API method the Slack adapter calls', () => {
    const methods = [...new Set([...adapterSource.matchAll(/client\.(\w+)\.(\w+)\(/g)].map((m) => `${m[1]}.${m[2]}`))];
    expect(methods.length).toBeGreaterThan(0);
    const unknown = methods.filter((m) => !SCOPE_OF_METHOD[m]);
    expect(unknown, 'the adapter calls a method this test does not know: add its scope to SCOPE_OF_METHOD and to src/docs/slack-manifest.ts').toEqual([]);
    const needed = new Set(methods.map((m) => SCOPE_OF_METHOD[m]!));
    if (/app\.command\(/.test(adapterSource)) needed.add('commands');
    for (const e of handledEvents) needed.add(SCOPE_OF_EVENT[e]!);
    const granted = manifest.oauth_config.scopes.bot as string[];
    expect([...needed].filter((s) => !granted.includes(s)), 'add these bot scopes in src/docs/slack-manifest.ts, then `npm run docs`').toEqual([]);
  });

  it('subscribes to every event the Slack adapter handles (@Triage in a thread arrives as app_mention), and to no other', () => {
    expect(handledEvents).toContain('app_mention');
    const unknown = handledEvents.filter((e) => !SCOPE_OF_EVENT[e]);
    expect(unknown, 'the adapter handles an event this test does not know: add its scope to SCOPE_OF_EVENT').toEqual([]);
    const subscribed = [...(manifest.settings.event_subscriptions?.bot_events ?? [])].sort();
    expect(subscribed, 'set SLACK_BOT_EVENTS in src/docs/slack-manifest.ts to the events the adapter handles, then `npm run docs`').toEqual(handledEvents);
  });
});

describe('docs/chat.md', () => {
  const doc = read('docs/chat.md');

  it('explains every chat command (the generated command table is current)', () => {
    expect(COMMAND_NAMES.filter((n) => !doc.includes(`| \`/${n}`)), 'run `npm run docs`').toEqual([]);
  });

  it('its "Not built yet" note matches the code: the on-call commands, while `triage bot` wires no on-call side', () => {
    const core = read('src/bot/core.ts');
    const bot = read('src/bot/bot.ts');
    // Commands the core sends to the on-call side (or answers "not set up" itself).
    const onCallCommands = [...core.matchAll(/^\s+(\w+): (?:notSetUp|oncall<)/gm)].map((m) => m[1]!).sort();
    const wired = /oncall/i.test(bot);
    const note = /\*\*Not built yet:\*\*([^\n]*(?:\n(?!\n)[^\n]*)*)/.exec(doc)?.[1];
    const fix = 'update the "**Not built yet:**" note in docs/chat.md and "Not built yet" in docs/config.md: src/bot/core.ts or src/bot/bot.ts changed';
    if (wired) {
      expect(note, fix).toBeUndefined();
    } else {
      const listed = [...(note ?? '').split('answer')[0]!.matchAll(/`\/(\w+)`/g)].map((m) => m[1]!).sort();
      expect(listed, fix).toEqual(onCallCommands);
    }
  });

  it('names every bot scope and event the Slack manifest asks for', () => {
    const scopes = manifest.oauth_config.scopes.bot as string[];
    const events = (manifest.settings.event_subscriptions?.bot_events ?? []) as string[];
    expect([...scopes, ...events].filter((x) => !doc.includes(`\`${x}\``)), 'add them to the Slack section of docs/chat.md').toEqual([]);
  });

  it('explains every access role', () => {
    expect(ROLES.filter((r) => !doc.includes(`\`${r}\``))).toEqual([]);
  });
});
