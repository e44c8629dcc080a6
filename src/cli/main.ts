#!/usr/bin/env node
/**
 * The `consul-hotreload` command: a small dispatcher over subcommands, each in its own module and loaded
 * only when used.
 * @module
 */
import { readFileSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

import type { CommandIo } from './output.js';

/** Where a command writes; the process's streams by default, replaceable in tests. */
export type CliIo = Pick<CommandIo, 'stdout' | 'stderr'>;

/** One subcommand: a one-line summary for the help, and its runner, which resolves with the exit code. */
interface Command {
  readonly summary: string;
  run(argv: string[], io: CliIo): Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  dev: {
    summary: 'run an embedded Consul-compatible KV dev server',
    run: async (argv, io) => (await import('./dev.js')).runDev(argv, io),
  },
  get: {
    summary: 'print the value of a key',
    run: async (argv, io) => (await import('./get.js')).runGet(argv, io),
  },
  put: {
    summary: 'write a value to a key (optionally check-and-set)',
    run: async (argv, io) => (await import('./put.js')).runPut(argv, io),
  },
  delete: {
    summary: 'delete a key, or every key under a prefix with --recurse',
    run: async (argv, io) => (await import('./delete.js')).runDelete(argv, io),
  },
  keys: {
    summary: 'list the keys under a prefix',
    run: async (argv, io) => (await import('./keys.js')).runKeys(argv, io),
  },
  watch: {
    summary: 'print the changes of a key or prefix as they happen',
    run: async (argv, io) => (await import('./watch.js')).runWatch(argv, io),
  },
  services: {
    summary: 'list services, or the instances of one and their health',
    run: async (argv, io) => (await import('./services.js')).runServices(argv, io),
  },
  validate: {
    summary: 'check the config under a prefix against a zod schema',
    run: async (argv, io) => (await import('./validate.js')).runValidate(argv, io),
  },
};

/** The process's own stdout and stderr. */
export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/**
 * The `version` of the package.json beside the code: `../../package.json` from both `src/cli/main.ts`
 * (under tsx) and `dist/cli/main.js` (the published bin), which sit at the same depth.
 */
export function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  const { version } = JSON.parse(text) as { version?: unknown };
  if (typeof version !== 'string') throw new Error('package.json has no version');
  return version;
}

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(
    ([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`,
  );
  return [
    'Usage: consul-hotreload <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run "consul-hotreload <command> --help" for the options of a command,',
    'and "consul-hotreload --version" (-v) for the version.',
    '',
  ].join('\n');
}

/**
 * Runs the CLI with these arguments (without `node` and the script); resolves with the exit code:
 * 0 on success, 1 for a usage error or a failure (each command documents its own codes). `--version` (`-v`)
 * prints the package's version.
 */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout)(usage());
    return name === undefined ? 1 : 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout(`${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.stderr(`consul-hotreload: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 1;
  }
  return command.run(rest, io);
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    // npm links the bin through a symlink, so compare real paths.
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`consul-hotreload: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
