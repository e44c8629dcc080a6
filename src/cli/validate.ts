/**
 * `consul-hotreload validate --schema <module> <prefix>`: reads a config prefix once through the config
 * bindings and reports whether it matches a zod schema, with the same readable report `load()` gives.
 * @module
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as z from 'zod/v4';
import { defineConfig } from '../config/config.js';
import { errorText, isConsulError } from '../errors.js';
import type { UnknownKeysMode } from '../watch/types.js';
import { Watcher } from '../watch/watcher.js';
import { startupGuard } from './agent-check.js';
import {
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  connectionOptions,
  consulAddress,
  DEFAULT_TIMEOUT_MS,
  parseChoiceFlag,
  parseDurationFlag,
  requirePositionals,
  runCommand,
} from './options.js';
import { type CommandIo, EXIT, EXIT_CODES_HELP, stderrLogger, UsageError } from './output.js';

/** Help text of `consul-hotreload validate`. */
export const HELP = `Usage: consul-hotreload validate --schema <module> [options] <prefix>

Read the keys under a Consul prefix once, the way defineConfig().load() does, and check them
against a zod 4 schema. Prints "<prefix>: valid" (exit code 0), or every problem found, each
with its Consul key, schema path and the value found (secret-looking values redacted), then
exit code 1. A refused connection, or an address that answers but not as a Consul agent, fails
at once with exit code 2.

Options:
  --schema <module>        module exporting the schema as default or schema: .js/.mjs always;
                           .ts when the CLI runs under tsx (NODE_OPTIONS='--import tsx')
  --export <name>          take the schema from this export instead
  --format <f>             how each key's value is decoded: json, yaml or text (default json)
  --unknown-keys <mode>    keys the schema does not describe: warn (on stderr), error (a
                           problem) or ignore (default warn)

${CONNECTION_HELP}
${EXIT_CODES_HELP}`;

const FORMATS = ['json', 'yaml', 'text'] as const;
const UNKNOWN_KEYS_MODES: readonly UnknownKeysMode[] = ['warn', 'error', 'ignore'];

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  schema: { type: 'string' },
  export: { type: 'string' },
  format: { type: 'string' },
  'unknown-keys': { type: 'string' },
} as const;

/** Runs `consul-hotreload validate` with these arguments; resolves with the exit code. */
export function runValidate(argv: string[], io: CommandIo): Promise<number> {
  return runCommand('validate', argv, io, OPTIONS, HELP, async ({ values, positionals }) => {
    const [prefix = ''] = requirePositionals(positionals, ['<prefix>']);
    if (values.schema === undefined) throw new UsageError('missing --schema <module>');
    const format = parseChoiceFlag(values.format, '--format', FORMATS, 'json');
    const unknownKeys = parseChoiceFlag(values['unknown-keys'], '--unknown-keys', UNKNOWN_KEYS_MODES, 'warn');
    const startTimeout = parseDurationFlag(values.timeout, '--timeout', DEFAULT_TIMEOUT_MS);
    const schema = await importSchema(values.schema, values.export);
    // Our own watcher, without a logger: the retries before the timeout are summed up by its error.
    const connection = await connectionOptions(values, io);
    const watcher = new Watcher({ ...connection, startTimeout });
    try {
      const config = defineConfig({ prefix, schema, format, unknownKeys, watcher, logger: stderrLogger(io) });
      const guard = startupGuard(consulAddress(connection), config.prefix);
      config.on('error', (error) => guard.error(error));
      try {
        const loaded = config.load(io.signal === undefined ? {} : { signal: io.signal });
        // When the guard fails first, `close()` below ends the pending load.
        const failure = await Promise.race([loaded.then(() => undefined), guard.failure]);
        if (failure !== undefined) throw failure;
        io.stdout(`${config.prefix}: valid\n`);
        return EXIT.ok;
      } catch (error) {
        if (!isConsulError(error) || error.code !== 'CONSUL_CONFIG_VALIDATION') throw error;
        // The report's first line speaks of a running service ("the last good value keeps serving");
        // here only its list of problems applies.
        const [, ...problems] = error.message.split('\n');
        const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
        io.stdout(`${config.prefix}: invalid, ${count}\n${problems.join('\n')}\n`);
        return EXIT.failed;
      } finally {
        guard.dispose();
        await config.close();
      }
    } finally {
      await watcher.close();
    }
  });
}

/**
 * Imports `modulePath` (relative to the working directory) and returns its zod schema: the named export,
 * else `default`, else `schema`.
 * @throws Error when the module cannot be imported or exports no zod 4 schema there
 */
async function importSchema(modulePath: string, exportName: string | undefined): Promise<z.core.$ZodType> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(resolve(modulePath)).href)) as Record<string, unknown>;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const hint =
      code === 'ERR_UNKNOWN_FILE_EXTENSION'
        ? " (a .ts module needs the CLI to run under tsx: NODE_OPTIONS='--import tsx'; or compile it to .js)"
        : '';
    throw new Error(`cannot import --schema ${modulePath}: ${errorText(error, { firstLine: true })}${hint}`);
  }
  const names = exportName === undefined ? ['default', 'schema'] : [exportName];
  for (const name of names) {
    if (isZodSchema(module[name])) return module[name];
  }
  if (exportName !== undefined) {
    throw new Error(
      exportName in module
        ? `export ${exportName} of ${modulePath} is not a zod 4 schema`
        : `${modulePath} has no export named ${exportName}`,
    );
  }
  throw new Error(
    `${modulePath} exports no zod 4 schema as default or schema; name its export with --export <name>`,
  );
}

/** zod 4 schemas (classic and mini) carry their internals in `_zod`. */
function isZodSchema(value: unknown): value is z.core.$ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value;
}
