/**
 * `consul-hotreload put <key> <value|@file>`: writes a value, optionally with flags or check-and-set.
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { PutOptions } from '../consul/kv.js';
import { errorText } from '../errors.js';
import {
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  parseUnsignedFlag,
  requirePositionals,
  runCommand,
  withConsulClient,
} from './options.js';
import { type CommandIo, EXIT, EXIT_CODES_HELP, UsageError } from './output.js';

/** Help text of `consul-hotreload put`. */
export const HELP = `Usage: consul-hotreload put [options] <key> <value|@file>

Write a value to a Consul KV key and print Consul's answer: true when written, false when a
check-and-set (--cas) found another ModifyIndex (exit code 1). A value starting with @ names
a file whose bytes are stored as they are.

Options:
  --flags <n>              unsigned integer stored with the value (default 0)
  --cas <index>            write only if the key's ModifyIndex is <index>; 0 writes only if
                           the key does not exist

${CONNECTION_HELP}
${EXIT_CODES_HELP}`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  flags: { type: 'string' },
  cas: { type: 'string' },
} as const;

/** Runs `consul-hotreload put` with these arguments; resolves with the exit code. */
export function runPut(argv: string[], io: CommandIo): Promise<number> {
  return runCommand('put', argv, io, OPTIONS, HELP, async ({ values, positionals }) => {
    const [key = '', valueArgument = ''] = requirePositionals(positionals, ['<key>', '<value|@file>']);
    const putOptions: PutOptions = {};
    const flags = parseUnsignedFlag(values.flags, '--flags');
    const cas = parseUnsignedFlag(values.cas, '--cas');
    if (flags !== undefined) putOptions.flags = flags;
    if (cas !== undefined) putOptions.cas = cas;
    if (io.signal !== undefined) putOptions.signal = io.signal;
    const written = await withConsulClient(values, io, async (client) =>
      client.kv.put(key, await readValue(valueArgument), putOptions),
    );
    io.stdout(`${written}\n`);
    return written ? EXIT.ok : EXIT.failed;
  });
}

/** `@path` → the file's bytes; anything else is the value itself. */
async function readValue(argument: string): Promise<string | Buffer> {
  if (!argument.startsWith('@')) return argument;
  const path = argument.slice(1);
  if (path === '') throw new UsageError('@ must be followed by a file name, e.g. @config.json');
  try {
    return await readFile(path);
  } catch (error) {
    throw new Error(`cannot read value file ${path}: ${errorText(error)}`);
  }
}
