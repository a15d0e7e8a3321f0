/**
 * `slack-app-manifest.yaml` at the repository root, generated from the chat
 * command table (`src/bot/commands.ts`) so Slack knows exactly the commands
 * the bot parses, with the same one-line help and usage.
 *
 * What the manifest asks for is what the Slack adapter uses: slash commands
 * (`commands`), posting, editing and private replies (`chat.postMessage`,
 * `chat.update`, `chat.postEphemeral` → `chat:write`) and step logs as files
 * (`files.uploadV2` → `files:write`), buttons (interactivity). Every request
 * goes to one URL, `https://YOUR-HOST/slack/events` (Bolt's HTTP receiver);
 * with Socket Mode the URLs are unused.
 *
 * Deliberately left out: event subscriptions and any scope to read messages —
 * Triage reacts to slash commands and button clicks only.
 */
import { stringify } from 'yaml';
import { COMMANDS } from '../bot/commands.ts';

/** Where Slack sends slash commands and clicks; replace YOUR-HOST. */
export const SLACK_REQUEST_URL = 'https://YOUR-HOST/slack/events';

/** Bot token scopes, each with the Web API methods that need it. */
export const SLACK_BOT_SCOPES: Record<string, string[]> = {
  commands: ['slash commands'],
  'chat:write': ['chat.postMessage', 'chat.update', 'chat.postEphemeral'],
  'files:write': ['files.uploadV2'],
};

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
