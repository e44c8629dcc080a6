/**
 * `consul-hotreload delete <key>` and `delete --recurse <prefix>`: deletes a key, or every key under a prefix.
 * @module
 */
import {
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  requirePositionals,
  runCommand,
  withConsulClient,
} from './options.js';
import { type CommandIo, EXIT, EXIT_CODES_HELP, UsageError } from './output.js';

/** Help text of `consul-hotreload delete`. */
export const HELP = `Usage: consul-hotreload delete [options] <key>
       consul-hotreload delete --recurse [options] <prefix>

Delete a Consul KV key and print Consul's answer (true). A key that does not exist counts as
deleted. With --recurse, delete every key starting with <prefix> (a raw string match: app
also matches apple, so end a folder with /).

Deleting the whole KV store takes an explicit empty prefix: delete --recurse ''. Without
--recurse, an empty key is refused.

Options:
  --recurse                delete every key under <prefix> instead of one key

${CONNECTION_HELP}
${EXIT_CODES_HELP}`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  recurse: { type: 'boolean' },
} as const;

/** Runs `consul-hotreload delete` with these arguments; resolves with the exit code. */
export function runDelete(argv: string[], io: CommandIo): Promise<number> {
  return runCommand('delete', argv, io, OPTIONS, HELP, async ({ values, positionals }) => {
    const recurse = values.recurse === true;
    const [key = ''] = requirePositionals(positionals, [recurse ? '<prefix>' : '<key>']);
    if (key === '' && !recurse) {
      throw new UsageError(
        "the key must not be empty; to delete every key in the KV store, say so with --recurse ''",
      );
    }
    const deleted = await withConsulClient(values, io, (client) =>
      client.kv.delete(key, { recurse, ...(io.signal === undefined ? {} : { signal: io.signal }) }),
    );
    io.stdout(`${deleted}\n`);
    return deleted ? EXIT.ok : EXIT.failed;
  });
}
