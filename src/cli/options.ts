/**
 * The connection flags every command shares (`--address`, `--token`, TLS…), turned into
 * {@link ConsulClientOptions}; and the strict command-line parsing the commands use. Unset flags fall back to
 * the `CONSUL_*` variables through the client's own configuration (src/consul/config.ts), so the CLI and the
 * library read the environment the same way.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ConsulClient } from '../consul/client.js';
import { type ConsulClientOptions, resolveClientConfig, type TlsOptions } from '../consul/config.js';
import { MAX_TIMER_MS, parseDuration } from '../consul/duration.js';
import { errorText, InvalidArgumentError } from '../errors.js';
import { type CommandIo, EXIT, printError, stderrLogger, UsageError } from './output.js';

/** Option definitions for node:util `parseArgs`. */
export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** The flags every command accepts: the connection flags, `--timeout` and `--help`. */
export const CONNECTION_OPTIONS = {
  address: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  datacenter: { type: 'string' },
  namespace: { type: 'string' },
  partition: { type: 'string' },
  'ca-file': { type: 'string' },
  'client-cert': { type: 'string' },
  'client-key': { type: 'string' },
  'tls-server-name': { type: 'string' },
  'insecure-skip-verify': { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionsConfig;

/** The values of {@link CONNECTION_OPTIONS} after parsing; every one may be absent. */
export interface ConnectionValues {
  address?: string | undefined;
  token?: string | undefined;
  'token-file'?: string | undefined;
  datacenter?: string | undefined;
  namespace?: string | undefined;
  partition?: string | undefined;
  'ca-file'?: string | undefined;
  'client-cert'?: string | undefined;
  'client-key'?: string | undefined;
  'tls-server-name'?: string | undefined;
  'insecure-skip-verify'?: boolean | undefined;
  timeout?: string | undefined;
}

/** How long a command waits for Consul when `--timeout` is not given, in ms. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** Help text of the shared flags, placed in every command's `--help`. */
export const CONNECTION_HELP = `Connection options (each falls back to its CONSUL_* variable, like the library):
  --address <addr>         host:port, http(s)://host:port[/prefix] or unix:///path.sock
                           (CONSUL_HTTP_ADDR, default 127.0.0.1:8500)
  --token <token>          ACL token (CONSUL_HTTP_TOKEN); prefer --token-file, which keeps the
                           token out of the process list
  --token-file <file>      file holding the ACL token (CONSUL_HTTP_TOKEN_FILE)
  --datacenter <dc>        datacenter to query (default: the agent's)
  --namespace <ns>         namespace, Consul Enterprise (CONSUL_NAMESPACE)
  --partition <name>       admin partition, Consul Enterprise (CONSUL_PARTITION)
  --ca-file <file>         CA certificate (PEM) to verify Consul's certificate (CONSUL_CACERT)
  --client-cert <file>     client certificate (PEM) for mutual TLS (CONSUL_CLIENT_CERT)
  --client-key <file>      client private key (PEM) for mutual TLS (CONSUL_CLIENT_KEY)
  --tls-server-name <name> server name to verify the certificate against (CONSUL_TLS_SERVER_NAME)
  --insecure-skip-verify   do not verify Consul's certificate (CONSUL_HTTP_SSL_VERIFY=false)
  --timeout <duration>     give up when Consul has not answered within this time: milliseconds
                           or a Go duration such as 500ms, 5s, 1m (default 10s)
  -h, --help               show this help
Other variables: CONSUL_HTTP_SSL, CONSUL_HTTP_AUTH, CONSUL_CAPATH.
`;

/** What {@link parseCommandLine} returns for an options table `O`. */
export type StrictParse<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: true }>
>;

/**
 * Parses a command line strictly (unknown flags and missing values are errors) with positionals allowed.
 * @throws UsageError with node's message (it names the flag, never a value)
 */
export function parseCommandLine<O extends OptionsConfig>(argv: string[], options: O): StrictParse<O> {
  try {
    return parseArgs({
      args: joinNegativeValues(argv, options),
      options,
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * The frame every command but `dev` shares: parses `argv` strictly against `options`, prints `help` for
 * `--help`, runs `body` with the parse, and turns any failure into one `error:` line and its exit code
 * (see {@link printError}).
 */
export async function runCommand<O extends OptionsConfig>(
  name: string,
  argv: string[],
  io: CommandIo,
  options: O,
  help: string,
  body: (parsed: StrictParse<O>) => Promise<number>,
): Promise<number> {
  try {
    const parsed = parseCommandLine(argv, options);
    if ((parsed.values as { help?: unknown }).help === true) {
      io.stdout(help);
      return EXIT.ok;
    }
    return await body(parsed);
  } catch (error) {
    return printError(io, name, error);
  }
}

/**
 * `--timeout -5` as `--timeout=-5`: node's parseArgs calls a value starting with `-` ambiguous, which hides
 * the flag's own message ("must be a duration above 0"). Only a negative number is joined, only after a
 * string option; anything else starting with `-` is still a flag.
 */
function joinNegativeValues(argv: readonly string[], options: OptionsConfig): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (
      name !== undefined &&
      options[name]?.type === 'string' &&
      next !== undefined &&
      /^-[0-9.]/.test(next)
    ) {
      joined.push(`${arg}=${next}`);
      i++;
    } else joined.push(arg);
  }
  return joined;
}

/**
 * Checks the number of positional arguments and returns them.
 * @param names - the placeholders in order, e.g. `['<key>', '<value|@file>']`; one in brackets (`'[<prefix>]'`)
 *   is optional, so only the last ones may be
 * @throws UsageError naming what is missing, or how many were given too many
 */
export function requirePositionals(positionals: readonly string[], names: readonly string[]): string[] {
  const missing = names.slice(positionals.length).filter((name) => !name.startsWith('['));
  if (missing.length > 0) throw new UsageError(`missing ${missing.join(' ')}`);
  if (positionals.length > names.length) {
    // The extra arguments are not echoed: a misplaced token would land here.
    throw new UsageError(
      `expected ${names.join(' ')} only, got ${positionals.length - names.length} more argument(s)`,
    );
  }
  return [...positionals];
}

/**
 * Reads a duration flag: plain digits are milliseconds, anything else a Go duration (`'5s'`, `'1m30s'`).
 * @param allowZero - whether `0` is a meaningful value of this flag
 * @throws UsageError when it is not a duration (above 0 unless `allowZero`)
 */
export function parseDurationFlag(
  text: string | undefined,
  flag: string,
  fallbackMs: number,
  allowZero = false,
): number {
  if (text === undefined) return fallbackMs;
  let ms: number;
  try {
    ms = parseDuration(/^[0-9]+$/.test(text) ? Number(text) : text, flag);
  } catch (error) {
    // A duration, but longer than a timer can wait: say so rather than "must be a duration".
    if (error instanceof InvalidArgumentError && error.message.includes(' must be at most ')) {
      throw new UsageError(
        `${flag} must be at most ${MAX_TIMER_MS} ms (about 24.8 days); got ${JSON.stringify(text)}`,
      );
    }
    ms = Number.NaN;
  }
  if (!(ms > 0 || (allowZero && ms === 0))) {
    throw new UsageError(
      `${flag} must be a duration${allowZero ? '' : ' above 0'}: milliseconds or a Go duration such as 500ms, 5s or 1m; got ${JSON.stringify(text)}`,
    );
  }
  return ms;
}

/**
 * Reads an unsigned integer flag (`--flags`, `--cas`).
 * @throws UsageError when it is not a non-negative safe integer
 */
export function parseUnsignedFlag(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(value)) {
    throw new UsageError(`${flag} must be a non-negative integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

/**
 * Reads a flag whose value must be one of `choices`.
 * @throws UsageError listing the choices
 */
export function parseChoiceFlag<C extends string>(
  text: string | undefined,
  flag: string,
  choices: readonly C[],
  fallback: C,
): C {
  if (text === undefined) return fallback;
  if ((choices as readonly string[]).includes(text)) return text as C;
  throw new UsageError(`${flag} must be one of ${choices.join(', ')}; got ${JSON.stringify(text)}`);
}

/**
 * Turns the connection flags into client options: PEM files are read here, `CONSUL_*` variables come from
 * `io.env`. The result is resolved once at once, so a bad address or an unreadable token file fails before
 * anything is sent, and configuration warnings (an unparseable `CONSUL_HTTP_SSL`, TLS flags over HTTP) are
 * printed once on stderr.
 *
 * @throws Error when a PEM file cannot be read
 * @throws ConfigurationError / InvalidArgumentError from the client configuration
 */
export async function connectionOptions(
  values: ConnectionValues,
  io: CommandIo,
): Promise<ConsulClientOptions> {
  const options: ConsulClientOptions = {};
  if (io.env !== undefined) options.env = io.env;
  if (values.address !== undefined) options.address = values.address;
  if (values.token !== undefined) options.token = values.token;
  if (values['token-file'] !== undefined) options.tokenFile = values['token-file'];
  if (values.datacenter !== undefined) options.datacenter = values.datacenter;
  if (values.namespace !== undefined) options.namespace = values.namespace;
  if (values.partition !== undefined) options.partition = values.partition;

  const tls: TlsOptions = {};
  const ca = await readPem(values['ca-file'], '--ca-file');
  const cert = await readPem(values['client-cert'], '--client-cert');
  const key = await readPem(values['client-key'], '--client-key');
  if (ca !== undefined) tls.ca = ca;
  if (cert !== undefined) tls.cert = cert;
  if (key !== undefined) tls.key = key;
  if (values['tls-server-name'] !== undefined) tls.servername = values['tls-server-name'];
  if (values['insecure-skip-verify'] === true) tls.verify = false;
  // Only when a TLS flag was given: unset fields then still fall back to CONSUL_CACERT and the rest.
  if (Object.keys(tls).length > 0) options.tls = tls;

  resolveClientConfig({ ...options, logger: stderrLogger(io) });
  return options;
}

/** The agent's address as messages name it (`http://127.0.0.1:8500`), from resolved client options. */
export function consulAddress(options: ConsulClientOptions): string {
  return resolveClientConfig(options).address;
}

/**
 * Runs `use` with a client built from the connection flags (see {@link connectionOptions}), each request
 * bounded by `--timeout`, and closes the client afterwards, whether `use` resolved or threw.
 * @throws UsageError for a bad `--timeout`; what {@link connectionOptions} or `use` throws
 */
export async function withConsulClient<T>(
  values: ConnectionValues,
  io: CommandIo,
  use: (client: ConsulClient) => Promise<T>,
): Promise<T> {
  const requestTimeout = parseDurationFlag(values.timeout, '--timeout', DEFAULT_TIMEOUT_MS);
  const client = new ConsulClient({ ...(await connectionOptions(values, io)), requestTimeout });
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

async function readPem(path: string | undefined, flag: string): Promise<Buffer | undefined> {
  if (path === undefined) return undefined;
  try {
    return await readFile(path);
  } catch (error) {
    throw new Error(`cannot read ${flag} ${path}: ${errorText(error)}`);
  }
}
