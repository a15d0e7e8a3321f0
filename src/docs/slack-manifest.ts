/**
 * `slack-app-manifest.yaml` at the repository root, generated from the chat
 * command table (`src/bot/commands.ts`) so Slack knows exactly the commands
 * the bot parses, with the same one-line help and usage.
 *
 * What the manifest asks for is what the Slack adapter uses: slash commands
 * (`commands`), posting, editing and private replies (`chat.postMessage`,
 * `chat.update`, `chat.postEphemeral` → `chat:write`) and step logs as files
 * (`files.uploadV2` → `files:write`), buttons (interactivity), and the one
 * event it handles, `app_mention` (`app_mentions:read`): Slack has no slash
 * commands in threads, so `@Triage note …` written in a thread is the
 * thread's command. Every request goes to one URL,
 * `https://YOUR-HOST/slack/events` (Bolt's HTTP receiver); with Socket Mode
 * the URLs are unused.
 *
 * Deliberately left out: every other event and any scope to read messages or
 * history — Triage sees only slash commands, button clicks and messages that
 * mention it.
 */
import { stringify } from 'yaml';
import { COMMANDS } from '../bot/commands.ts';

/** Where Slack sends slash commands, clicks and events; replace YOUR-HOST. */
export const SLACK_REQUEST_URL = 'https://YOUR-HOST/slack/events';

/** Bot token scopes, each with the Web API methods that need it. */
export const SLACK_BOT_SCOPES: Record<string, string[]> = {
  commands: ['slash commands'],
  'chat:write': ['chat.postMessage', 'chat.update', 'chat.postEphemeral'],
  'files:write': ['files.uploadV2'],
  'app_mentions:read': ['the app_mention event'],
};

/** Bot events the Slack adapter handles (`app.event(...)` in src/bot/slack/slack-adapter.ts), each sent to {@link SLACK_REQUEST_URL}. */
export const SLACK_BOT_EVENTS: readonly string[] = ['app_mention'];

/** The manifest as data. */
export function slackManifest(): Record<string, unknown> {
  return {
    display_information: {
      name: 'Triage',
      description: 'Incident diagnosis: /diagnose 502 <target> finds the root cause and the fix',
      background_color: '#1f2937',
    },
    features: {
      bot_user: { display_name: 'Triage', always_online: true },
      slash_commands: Object.entries(COMMANDS).map(([name, spec]) => {
        const hint = spec.usage.replace(/^\/\S+\s*/, '');
        return {
          command: `/${name}`,
          url: SLACK_REQUEST_URL,
          description: `${spec.help[0]!.toUpperCase()}${spec.help.slice(1)}`,
          ...(hint ? { usage_hint: hint } : {}),
          should_escape: false,
        };
      }),
    },
    oauth_config: { scopes: { bot: Object.keys(SLACK_BOT_SCOPES) } },
    settings: {
      event_subscriptions: { request_url: SLACK_REQUEST_URL, bot_events: [...SLACK_BOT_EVENTS] },
      interactivity: { is_enabled: true, request_url: SLACK_REQUEST_URL },
      org_deploy_enabled: false,
      socket_mode_enabled: false,
      token_rotation_enabled: false,
    },
  };
}

/** The manifest file's text. */
export function slackManifestYaml(): string {
  return [
    '# Slack app manifest for Triage. Generated from src/bot/commands.ts by `npm run docs`; do not edit by hand.',
    '# Slack: Your Apps → Create New App → From an app manifest → paste this file.',
    '# HTTP receiver: replace YOUR-HOST (every URL) with the public HTTPS address that reaches `triage bot` (chat.slack.port).',
    '# Socket Mode: set settings.socket_mode_enabled to true; the URLs are then unused. See docs/chat.md.',
    stringify(slackManifest(), { lineWidth: 0 }).trimEnd(),
    '',
  ].join('\n');
}
