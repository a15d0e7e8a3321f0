/**
 * config.ts is a facade: the schema is in src/config/schema.ts.
 *
 * `triage.yaml` lives in `src/config/`, one concern per file:
 *
 * - `schema.ts`  — the zod schema of every key, and the config types;
 * - `load.ts`    — finding, reading and validating the file (`loadConfig`,
 *                  `parseConfig`), relative paths and the Redis default;
 * - `secrets.ts` — `env:NAME` / `file:PATH` references to values;
 * - `resolve.ts` — hosts and targets as executors and the engine need them;
 * - `lint.ts`    — checks that need the disk: key files and known_hosts;
 * - `../schema-errors.ts` — the zod-issue translator shared with runbooks.
 *
 * Add keys and checks there, not here: this file only re-exports them, so
 * every `import ... from '../config.ts'` keeps working.
 */
export * from './config/lint.ts';
export * from './config/load.ts';
export * from './config/redis.ts';
export * from './config/resolve.ts';
export * from './config/schema.ts';
export * from './config/secrets.ts';
