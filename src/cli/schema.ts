/** `triage schema`: prints the runbook JSON Schema, for editors. */
import { runbookJsonSchema } from '../runbooks/schema.ts';
import { type CliIO, parse } from './io.ts';
import { TriageError } from '../errors.ts';
import { usageOf } from './help.ts';

export async function schemaCommand(args: string[], io: CliIO): Promise<number> {
  const { positionals } = parse(args, 'schema');
  if (positionals.length) throw new TriageError('USAGE', `unexpected "${positionals[0]!.slice(0, 40)}"`, { fix: usageOf('schema') });
  io.out(JSON.stringify(runbookJsonSchema(), null, 2));
  return 0;
}
