/**
 * The generated parts of docs/: each is a block between two markers inside a
 * hand-written Markdown file,
 *
 *   <!-- generated:config-keys — npm run docs; do not edit by hand -->
 *   ...
 *   <!-- end generated:config-keys -->
 *
 * so the prose around a table stays hand-written while the table itself comes
 * from the code (the config schema, the CLI command table, the probe headers, the
 * built-in runbooks' findings). `npm run docs`
 * rewrites the blocks; test/docs/generated.test.ts fails when a committed file
 * is not what this module would write.
 *
 * A few files are generated whole ({@link WHOLE_FILES}), e.g. the Slack app
 * manifest.
 *
 * Deliberately left out: any block whose source is not code in this repository.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { TriageError } from '../errors.ts';
import { builtinRunbooksMarkdown, causeIndexMarkdown } from './cause-index.ts';
import { chatCommandsMarkdown } from './chat-commands.ts';
import { cliReferenceMarkdown } from './cli-reference.ts';
import { configReferenceMarkdown } from './config-reference.ts';
import { probeReferenceMarkdown } from './probe-reference.ts';
import { slackManifestYaml } from './slack-manifest.ts';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One generated block. */
export interface GeneratedBlock {
  /** Path from the repository root, e.g. `docs/config.md`. */
  file: string;
  /** Marker name, e.g. `config-keys`. */
  name: string;
  render(): string;
}

/** Every generated block. */
export const BLOCKS: readonly GeneratedBlock[] = [
  { file: 'docs/config.md', name: 'config-keys', render: () => configReferenceMarkdown() },
  { file: 'docs/cli.md', name: 'cli-commands', render: () => cliReferenceMarkdown() },
  { file: 'docs/chat.md', name: 'chat-commands', render: () => chatCommandsMarkdown() },
  { file: 'docs/runbooks.md', name: 'builtin-runbooks', render: () => builtinRunbooksMarkdown() },
  { file: 'docs/runbooks.md', name: 'probes', render: () => probeReferenceMarkdown() },
  { file: 'docs/causes.md', name: 'cause-index', render: () => causeIndexMarkdown() },
];

/** Files generated whole: path from the repository root, and their text. */
export const WHOLE_FILES: readonly { file: string; render(): string }[] = [{ file: 'slack-app-manifest.yaml', render: () => slackManifestYaml() }];

/** The command that regenerates every block. */
export const REGENERATE = 'npm run docs';

const begin = (name: string) => `<!-- generated:${name} — ${REGENERATE}; do not edit by hand -->`;
const end = (name: string) => `<!-- end generated:${name} -->`;

/** `text` with the block `name` replaced by `body`. Throws when the markers are missing. */
export function replaceBlock(text: string, file: string, name: string, body: string): string {
  const b = text.indexOf(begin(name));
  const e = text.indexOf(end(name));
  if (b < 0 || e < b) {
    throw new TriageError('USAGE', `${file} has no generated block "${name}"`, { fix: `put the lines\n${begin(name)}\n${end(name)}\nwhere the block belongs, then run ${REGENERATE}` });
  }
  return `${text.slice(0, b)}${begin(name)}\n${body.trim()}\n${text.slice(e)}`;
}

/** Each generated file (blocks or whole): what is on disk now and what it should be. */
export function renderDocs(root: string = REPO_ROOT): { file: string; current: string; expected: string }[] {
  const files = [...new Set(BLOCKS.map((b) => b.file))];
  const blocks = files.map((file) => {
    const current = readFileSync(`${root}/${file}`, 'utf8');
    let expected = current;
    for (const block of BLOCKS.filter((x) => x.file === file)) expected = replaceBlock(expected, file, block.name, block.render());
    return { file, current, expected };
  });
  const whole = WHOLE_FILES.map(({ file, render }) => ({ file, current: existsSync(`${root}/${file}`) ? readFileSync(`${root}/${file}`, 'utf8') : '', expected: render() }));
  return [...blocks, ...whole];
}
