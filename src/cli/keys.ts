/**
 * `consul-hotreload keys [<prefix>]`: lists the keys under a prefix, one per line or as a JSON array.
 * @module
 */
import { checkNothingThereAnswer } from './agent-check.js';
import {
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  requirePositionals,
  runCommand,
  withConsulClient,
} from './options.js';
import { type CommandIo, EXIT, EXIT_CODES_HELP } from './output.js';

/** Help text of `consul-hotreload keys`. */
export const HELP = `Usage: consul-hotreload keys [options] [<prefix>]

List the Consul KV keys starting with <prefix> (a raw string match; default: every key), one
per line, sorted. No keys prints nothing and exits 0.

Options:
  --separator <sep>        fold the keys at the first <sep> after the prefix: with /, list one
                           level (keys, and folders ending in /)
  --json                   print a JSON array of the keys

${CONNECTION_HELP}
${EXIT_CODES_HELP}`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  separator: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Runs `consul-hotreload keys` with these arguments; resolves with the exit code. */
export function runKeys(argv: string[], io: CommandIo): Promise<number> {
  return runCommand('keys', argv, io, OPTIONS, HELP, async ({ values, positionals }) => {
    const [prefix = ''] = requirePositionals(positionals, ['[<prefix>]']);
    const { keys } = await withConsulClient(values, io, async (client) => {
      const answer = await client.kv.keys(prefix, {
        ...(values.separator === undefined ? {} : { separator: values.separator }),
        ...(io.signal === undefined ? {} : { signal: io.signal }),
      });
      // No keys is a 404 (consul-semantics §2), except for the empty prefix.
      if (answer.keys.length === 0)
        checkNothingThereAnswer(answer.index, client.config.address, 'kv.keys', prefix);
      return answer;
    });
    if (values.json === true) io.stdout(`${JSON.stringify(keys)}\n`);
    else io.stdout(keys.map((key) => `${key}\n`).join(''));
    return EXIT.ok;
  });
}
