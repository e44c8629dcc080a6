/**
 * `consul-hotreload dev`: runs the embedded Consul-compatible KV dev server until SIGINT/SIGTERM.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type FaultRule, parseChaosSpec } from '../devserver/faults.js';
import { type DevServer, type DevServerOptions, startDevServer } from '../devserver/server.js';
import { errorText } from '../errors.js';
import { type CommandIo, UsageError } from './output.js';

/** Help text of `consul-hotreload dev`, including the `--chaos` spec. */
export const DEV_USAGE = `Usage: consul-hotreload dev [options]

Run an embedded Consul-compatible dev server (KV HTTP API, blocking queries, /v1/txn,
agent, catalog, health and sessions) until interrupted (Ctrl-C / SIGTERM).

Options:
  --port <n>       TCP port (default 8500; 0 picks a free port)
  --host <addr>    interface to listen on (default 127.0.0.1)
  --seed <file>    JSON file with initial keys: {"key": value, ...} (non-strings are stored
                   as JSON) or the array written by \`consul kv export\` ([{key, flags, value}],
                   value in base64)
  --services <file> JSON file with an array of agent service definitions (the body of
                   PUT /v1/agent/service/register, with Check/Checks), registered at start
  --token <T>      turn ACLs on: every request must carry this token (X-Consul-Token,
                   Authorization: Bearer, or ?token=)
  --chaos <spec>   inject faults, consumed in order. The spec is a comma-separated list
                   of kind[=arg][:times]. Taken by KV reads:
                     status=<code>       answer with that HTTP status instead (e.g. 500, 429)
                     reset               send headers and half the body, then reset the connection
                     hang                never answer
                     malformed           answer 200 with a broken JSON body
                     index=<n|missing>   serve normally with X-Consul-Index replaced or removed
                     spurious            a blocking query returns at once, unchanged
                   Taken by the next request of any kind:
                     agent-restart       forget every service, check and session
                     no-leader=<dur>     writes and non-stale reads answer 500 No cluster leader
                                         for that long (500ms, 5s, 2m), then recover
                   Taken by the next HTTP/TCP check run:
                     check-hang          the target never answers; the check fails at its Timeout
                   times is a positive integer or "inf" (default 1).
                   Example: --chaos status=500:3,hang:1   (three 500s, then one hang)
  -h, --help       show this help
`;

/** Extra hooks for tests. */
export interface RunDevOptions {
  /** Stops the server when aborted, instead of waiting for SIGINT/SIGTERM. */
  stop?: AbortSignal;
  /** Called once the server listens, with its address. */
  onListening?: (address: string) => void;
}

function parsePort(text: string): number {
  if (!/^[0-9]+$/.test(text) || Number(text) > 65_535) {
    throw new UsageError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/** Reads the JSON file an option names (`--seed`, `--services`). */
async function readJsonFile(option: string, file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${option} file ${file}: ${errorText(error)}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${option} file ${file} is not JSON: ${errorText(error)}`);
  }
}

/** What `dev` was asked to do. */
interface DevCommand {
  readonly server: DevServerOptions;
  readonly chaos: FaultRule[];
}

/** Parses the arguments; throws {@link UsageError} for bad arguments, Error for an unreadable seed file. */
async function parseDevCommand(argv: string[]): Promise<DevCommand | 'help'> {
  const usage = (error: unknown) => new UsageError(error instanceof Error ? error.message : String(error));
  let values: ReturnType<typeof parseDevArgs>['values'];
  try {
    ({ values } = parseDevArgs(argv));
  } catch (error) {
    throw usage(error);
  }
  if (values.help === true) return 'help';
  const server: DevServerOptions = {
    port: values.port === undefined ? 8500 : parsePort(values.port),
    host: values.host ?? '127.0.0.1',
  };
  if (values.token !== undefined) {
    if (values.token === '') throw new UsageError('--token must not be empty');
    server.aclToken = values.token;
  }
  let chaos: FaultRule[] = [];
  try {
    if (values.chaos !== undefined) chaos = parseChaosSpec(values.chaos);
  } catch (error) {
    throw usage(error);
  }
  if (values.seed !== undefined) {
    server.seed = (await readJsonFile('--seed', values.seed)) as DevServerOptions['seed'];
  }
  // startDevServer() checks the shape and decodes each entry as the register endpoint does.
  if (values.services !== undefined) {
    server.services = (await readJsonFile('--services', values.services)) as unknown[];
  }
  return { server, chaos };
}

function parseDevArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: false,
    strict: true,
    options: {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      seed: { type: 'string' },
      services: { type: 'string' },
      token: { type: 'string' },
      chaos: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function waitForStop(stop: AbortSignal | undefined): Promise<string> {
  if (stop !== undefined) {
    return new Promise((resolve) => {
      if (stop.aborted) resolve('abort');
      else stop.addEventListener('abort', () => resolve('abort'), { once: true });
    });
  }
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/**
 * Runs `consul-hotreload dev` with these arguments; resolves with the exit code after a clean shutdown:
 * 0 after SIGINT/SIGTERM (or `hooks.stop`), 1 for bad arguments, an unreadable or invalid seed or
 * services file, or a port in use.
 */
export async function runDev(argv: string[], io: CommandIo, hooks: RunDevOptions = {}): Promise<number> {
  const fail = (error: unknown) =>
    io.stderr(`consul-hotreload dev: ${error instanceof Error ? error.message : String(error)}\n`);
  let command: DevCommand | 'help';
  try {
    command = await parseDevCommand(argv);
  } catch (error) {
    fail(error);
    if (error instanceof UsageError) io.stderr(`\n${DEV_USAGE}`);
    return 1;
  }
  if (command === 'help') {
    io.stdout(DEV_USAGE);
    return 0;
  }

  let server: DevServer;
  try {
    server = await startDevServer(command.server);
  } catch (error) {
    fail(error); // a bad seed or service definition, or the port is taken
    return 1;
  }
  for (const rule of command.chaos) server.faults.inject(rule);

  io.stdout(`consul-hotreload dev: Consul-compatible KV server listening on ${server.address}\n`);
  io.stdout(`consul-hotreload dev: agent API: ${server.address}/v1/agent/services\n`);
  io.stdout(`consul-hotreload dev: web page: ${server.address}/ui/\n`);
  const serviceCount = command.server.services?.length ?? 0;
  if (serviceCount > 0) io.stdout(`consul-hotreload dev: ${serviceCount} service(s) registered\n`);
  if (command.server.aclToken !== undefined) {
    io.stdout('consul-hotreload dev: ACLs on; requests need the --token value\n');
  }
  if (command.chaos.length > 0) {
    io.stdout(`consul-hotreload dev: ${command.chaos.length} chaos rule(s) armed\n`);
  }
  hooks.onListening?.(server.address);

  const reason = await waitForStop(hooks.stop);
  await server.close();
  io.stdout(`consul-hotreload dev: stopped (${reason})\n`);
  return 0;
}
