/**
 * `consul-hotreload get <key>`: prints a key's value, or its whole entry as JSON.
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

/** Help text of `consul-hotreload get`. */
export const HELP = `Usage: consul-hotreload get [options] <key>

Print the value of a Consul KV key, followed by a newline (an empty value prints an empty line).
The value is printed even when the key's name looks secret (token, password…): it was asked
for by name, e.g. to pass it on in a script. watch and validate print such values as
"[redacted]".

Options:
  --json                   print the whole entry as JSON: key, value (UTF-8 text, null when
                           empty), flags, createIndex, modifyIndex, lockIndex, session, and the
                           index of the answer (X-Consul-Index)
  --base64                 print the value base64-encoded (binary values), also with --json

${CONNECTION_HELP}
${EXIT_CODES_HELP}`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  json: { type: 'boolean' },
  base64: { type: 'boolean' },
} as const;

/** Runs `consul-hotreload get` with these arguments; resolves with the exit code. */
export function runGet(argv: string[], io: CommandIo): Promise<number> {
  return runCommand('get', argv, io, OPTIONS, HELP, async ({ values, positionals }) => {
    const [key = ''] = requirePositionals(positionals, ['<key>']);
    const result = await withConsulClient(values, io, async (client) => {
      const answer = await client.kv.get(key, io.signal === undefined ? {} : { signal: io.signal });
      if (answer.entry === null) checkNothingThereAnswer(answer.index, client.config.address, 'kv.get', key);
      return answer;
    });
    const { entry } = result;
    if (entry === null) {
      io.stderr(`error: key ${key} does not exist (index ${result.index})\n`);
      return EXIT.failed;
    }
    const base64 = values.base64 === true;
    const value = base64 ? (entry.value?.toString('base64') ?? null) : entry.text();
    if (values.json === true) {
      const json = {
        key: entry.key,
        value,
        flags: entry.flags,
        createIndex: entry.createIndex,
        modifyIndex: entry.modifyIndex,
        lockIndex: entry.lockIndex,
        session: entry.session ?? null,
        index: result.index,
      };
      io.stdout(`${JSON.stringify(json, null, 2)}\n`);
    } else {
      io.stdout(`${value ?? ''}\n`);
    }
    return EXIT.ok;
  });
}
