/**
 * The generated parts of docs/ are what the code says today: the triage.yaml
 * key table comes from the zod schema, the command reference from the CLI's
 * command table. Change either and this fails until `npm run docs` is run.
 */
import { describe, expect, it } from 'vitest';
import { configKeys } from '../../src/docs/config-reference.ts';
import { REGENERATE, renderDocs, replaceBlock } from '../../src/docs/generate.ts';

describe('generated docs', () => {
  for (const { file, current, expected } of renderDocs()) {
    it(`${file} is current (regenerate with \`${REGENERATE}\`)`, () => {
      expect(current === expected, `${file} is out of date: run \`${REGENERATE}\` and commit the result`).toBe(true);
    });
  }

  it('every triage.yaml key has a description in the schema', () => {
    const undocumented = configKeys().filter((k) => !k.description).map((k) => k.path);
    expect(undocumented, 'add .describe("...") to these keys in src/config/schema.ts (or the src/config/ module that defines them), then run `npm run docs`').toEqual([]);
  });

  it('every triage.yaml key has an example (from examples/triage.yaml or the schema), except mappings whose keys follow', () => {
    const keys = configKeys();
    const missing = keys.filter((k) => !k.example && !keys.some((c) => c.path.startsWith(`${k.path}.`) || c.path.startsWith(`${k.path}[]`))).map((k) => k.path);
    expect(missing, 'add the key to examples/triage.yaml or .meta({ examples: [...] }) in src/config/schema.ts (or the src/config/ module that defines the key)').toEqual([]);
  });

  it('knows a key from the schema: a new one shows up in the table', () => {
    const paths = configKeys().map((k) => k.path);
    expect(paths).toEqual(expect.arrayContaining(['hosts.<name>.hostKey', 'targets.<name>.service.manager', 'chat.slack.appToken', 'schedules[].cron']));
  });

  it('refuses a file whose markers are missing, naming the fix', () => {
    expect(() => replaceBlock('# no markers\n', 'docs/x.md', 'config-keys', 'table')).toThrow(/no generated block "config-keys"/);
  });
});
