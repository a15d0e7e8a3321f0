// `node --import ./record-imports.mjs ...`: appends the URL of every module the process
// resolves (ESM imports, including packages imported from ESM) to $TRIAGE_IMPORTS_FILE.
import { register } from 'node:module';

register('./record-imports-hooks.mjs', import.meta.url, { data: { file: process.env.TRIAGE_IMPORTS_FILE } });
