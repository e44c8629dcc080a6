/**
 * Client configuration: explicit options > `CONSUL_*` environment variables (the Go client's set, consul-semantics §5) >
 * defaults. Resolved once, at client construction; nothing else in the library reads the environment.
 * @module
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type InspectOptions, inspect } from 'node:util';
import type { Dispatcher } from 'undici';
import { ConfigurationError, errorText, InvalidArgumentError } from '../errors.js';
import { type Logger, resolveLogger } from '../logger.js';
import { MAX_TIMER_MS, timerLimitText } from './duration.js';

/** Read consistency mode (consul-semantics §1): `'default'` (leader), `'stale'` (any server), `'consistent'` (leader + quorum check). */
export type Consistency = 'default' | 'stale' | 'consistent';

/** TLS settings, used when the scheme is `https`. Each field falls back to its environment variable. */
export interface TlsOptions {
  /**
   * CA certificate(s) as PEM contents. Replaces the system roots when set.
   * @default contents of the file named by `CONSUL_CACERT`, else system roots
   */
  ca?: string | Buffer;
  /**
   * Directory of PEM CA files, read recursively at construction; added to `ca`.
   * @default `CONSUL_CAPATH`
   */
  caPath?: string;
  /**
   * Client certificate (PEM contents) for mutual TLS. Needs `key` too.
   * @default contents of the file named by `CONSUL_CLIENT_CERT`
   */
  cert?: string | Buffer;
  /**
   * Client private key (PEM contents) for mutual TLS. Needs `cert` too.
   * @default contents of the file named by `CONSUL_CLIENT_KEY`
   */
  key?: string | Buffer;
  /**
   * Server name for SNI and certificate verification; a `:port` suffix is stripped.
   * @default `CONSUL_TLS_SERVER_NAME`, else the address's host
   */
  servername?: string;
  /**
   * Verify the server certificate. `false` accepts any certificate (development only).
   * An unparseable `CONSUL_HTTP_SSL_VERIFY` logs a warning and keeps verification on — deliberately unlike the
   * Go client, which turns verification off for it.
   * @default `CONSUL_HTTP_SSL_VERIFY` (Go ParseBool forms), else `true`
   */
  verify?: boolean;
}

/** Options of {@link ConsulClient}. Every field is optional; see each for its environment variable. */
export interface ConsulClientOptions {
  /**
   * Agent address: `'host:port'`, `'http://host:port[/prefix]'`, `'https://host:port[/prefix]'` or
   * `'unix:///path.sock'`. A path after `http(s)://host:port` becomes a URL prefix (reverse proxies);
   * `https://` forces TLS, `http://` never turns TLS off when `ssl` asks for it (consul-semantics §5).
   * @default `CONSUL_HTTP_ADDR`, else `'127.0.0.1:8500'`
   */
  address?: string;
  /**
   * ACL token, sent only in the `X-Consul-Token` header. An empty string counts as not set (Go rule).
   * @default `CONSUL_HTTP_TOKEN`
   */
  token?: string;
  /**
   * File holding the ACL token, read once at construction and trimmed; wins over `token` when its
   * content is non-empty (Go rule). Unreadable → ConfigurationError.
   * @default `CONSUL_HTTP_TOKEN_FILE`
   */
  tokenFile?: string;
  /**
   * HTTP basic auth as `'user:pass'` (split at the first `:`; no colon means user only).
   * @default `CONSUL_HTTP_AUTH`
   */
  auth?: string;
  /**
   * Use HTTPS.
   * @default `CONSUL_HTTP_SSL` (Go ParseBool forms; unparseable → warning, stays HTTP), else `false`
   */
  ssl?: boolean;
  /** TLS settings; see {@link TlsOptions}. Ignored (with a warning) when the scheme is HTTP. */
  tls?: TlsOptions;
  /**
   * Datacenter, sent as `?dc=` on every request. Unknown → UnknownDatacenterError.
   * @default the agent's datacenter (no parameter sent)
   */
  datacenter?: string;
  /**
   * Namespace (Consul Enterprise), sent as `?ns=` only when set; Consul CE answers 400 to it (consul-semantics §1).
   * @default `CONSUL_NAMESPACE`, else none
   */
  namespace?: string;
  /**
   * Admin partition (Consul Enterprise), sent as `?partition=` only when set.
   * @default `CONSUL_PARTITION`, else none
   */
  partition?: string;
  /**
   * Maximum number of sockets to the agent. Each open blocking query holds one; Consul caps a client IP
   * at 200 concurrent connections (consul-semantics §7).
   * @default 64
   */
  connections?: number;
  /**
   * Negotiate HTTP/2 over TLS (ALPN). No effect over plain HTTP.
   * @default false
   */
  allowH2?: boolean;
  /**
   * Client-side timeout of non-blocking requests, in ms. Blocking reads use their own
   * (wait + wait/16 + 7 s + 2 s). At most 2147483647 (about 24.8 days, the longest a Node.js timer waits).
   * @default 30_000
   */
  requestTimeout?: number;
  /**
   * Largest response body accepted, in bytes; a larger one is abandoned with ResponseTooLargeError.
   * @default 67_108_864 (64 MiB)
   */
  maxResponseBytes?: number;
  /**
   * An undici dispatcher to send requests through (a MockAgent in tests, a shared Agent). The client then
   * uses it as is: connection, TLS and `connections` options are not applied, and `close()` does not close it.
   * @default a dispatcher of the client's own, closed by `close()`
   */
  dispatcher?: Dispatcher;
  /**
   * The environment to read `CONSUL_*` variables from.
   * @default `process.env`
   */
  env?: Record<string, string | undefined>;
  /**
   * Receives configuration warnings (an unparseable `CONSUL_HTTP_SSL`, TLS options over HTTP…).
   * @default no logging
   */
  logger?: Logger;
}

/** TLS settings after resolution. `key` is a getter over a private field, so logging the config cannot print it. */
export interface ResolvedTlsOptions {
  /** CA certificates (PEM), or undefined for the system roots. */
  ca: Array<string | Buffer> | undefined;
  /** Client certificate (PEM), set together with `key`. */
  cert: string | Buffer | undefined;
  /** Client private key (PEM). A getter over a private field: never enumerated, inspected or serialised. */
  readonly key: string | Buffer | undefined;
  /** SNI / verified server name, port stripped. */
  servername: string | undefined;
  /** Whether the server certificate is verified. */
  verify: boolean;
}

/** Basic-auth credentials from `auth` / `CONSUL_HTTP_AUTH`. */
export interface BasicAuth {
  username: string;
  password: string;
}

/**
 * The configuration a client runs with. `token` and `auth` (and `tls.key`) are getters over private fields, so
 * that `JSON.stringify`, `console.log`, `util.inspect` with `showHidden` or a logger given the whole object never
 * prints them.
 */
export interface ResolvedClientConfig {
  /** Where the agent is, for messages: `'http://127.0.0.1:8500'`, `'https://consul:8501/proxy'`, `'unix:///run/consul.sock'`. */
  address: string;
  /** `'http'` or `'https'`. */
  scheme: 'http' | 'https';
  /** URL origin given to undici, e.g. `'http://127.0.0.1:8500'`; `'http://localhost'` for a unix socket. */
  origin: string;
  /** URL path prefix from the address (`'/proxy'`), or `''`. */
  pathPrefix: string;
  /** Unix socket path, or undefined for TCP. */
  socketPath: string | undefined;
  /** ACL token, or undefined. Hidden (a getter over a private field). */
  readonly token?: string | undefined;
  /** Basic-auth credentials, or undefined. Hidden (a getter over a private field). */
  readonly auth?: BasicAuth | undefined;
  /** TLS settings (used only when `scheme` is `'https'`). */
  tls: ResolvedTlsOptions;
  /** `?dc=` value, when set. */
  datacenter?: string;
  /** `?ns=` value, when set. */
  namespace?: string;
  /** `?partition=` value, when set. */
  partition?: string;
  /** Maximum sockets to the agent. */
  connections: number;
  /** HTTP/2 over TLS. */
  allowH2: boolean;
  /** Timeout of non-blocking requests, ms. */
  requestTimeout: number;
  /** Largest accepted response body, bytes. */
  maxResponseBytes: number;
  /** Injected dispatcher (not owned by the client), or undefined. */
  dispatcher: Dispatcher | undefined;
}

/** Defaults, resolved once. */
export const CLIENT_DEFAULTS = {
  address: '127.0.0.1:8500',
  connections: 64,
  allowH2: false,
  requestTimeout: 30_000,
  maxResponseBytes: 64 * 1024 * 1024,
} as const;

/** Environment variables read, with the Go client's names (consul-semantics §5). */
export const ENV = {
  address: 'CONSUL_HTTP_ADDR',
  token: 'CONSUL_HTTP_TOKEN',
  tokenFile: 'CONSUL_HTTP_TOKEN_FILE',
  auth: 'CONSUL_HTTP_AUTH',
  ssl: 'CONSUL_HTTP_SSL',
  sslVerify: 'CONSUL_HTTP_SSL_VERIFY',
  caCert: 'CONSUL_CACERT',
  caPath: 'CONSUL_CAPATH',
  clientCert: 'CONSUL_CLIENT_CERT',
  clientKey: 'CONSUL_CLIENT_KEY',
  tlsServerName: 'CONSUL_TLS_SERVER_NAME',
  namespace: 'CONSUL_NAMESPACE',
  partition: 'CONSUL_PARTITION',
} as const;

const OPERATION = 'config';

/**
 * Resolves client options against the environment and defaults: explicit options > `CONSUL_*` > defaults.
 * Files named by options or variables (token file, CA, client cert/key) are read here, once.
 *
 * @throws InvalidArgumentError when an option has the wrong type or range (the message names it)
 * @throws ConfigurationError when the address, a file or a TLS pair cannot be used
 */
export function resolveClientConfig(options: ConsulClientOptions = {}): ResolvedClientConfig {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('ConsulClient options must be an object', { operation: OPERATION });
  }
  validateOptionTypes(options);
  const env = options.env ?? process.env;
  const logger = resolveLogger(options.logger);
  const fromEnv = (name: string): string | undefined => {
    const value = env[name];
    // Go client rule: an empty variable counts as unset.
    return value === undefined || value === '' ? undefined : value;
  };

  const addressSource = options.address !== undefined ? 'the address option' : ENV.address;
  const rawAddress = options.address ?? fromEnv(ENV.address) ?? CLIENT_DEFAULTS.address;
  const parsed = parseAddress(rawAddress, addressSource);

  let ssl = options.ssl;
  if (ssl === undefined) {
    const text = fromEnv(ENV.ssl);
    if (text !== undefined) {
      ssl = parseGoBool(text);
      if (ssl === undefined) {
        logger.warn({ variable: ENV.ssl }, `${ENV.ssl} is not a boolean (1/0, t/f, true/false); using HTTP`);
      }
    }
  }
  // consul-semantics §5: `https://` forces TLS; `http://` never turns off TLS that `ssl` asked for.
  const scheme: 'http' | 'https' = parsed.scheme === 'https' || ssl === true ? 'https' : 'http';

  const token = resolveToken(options, fromEnv);
  const authText = nonEmpty(options.auth) ?? fromEnv(ENV.auth);
  const tls = resolveTls(options.tls ?? {}, fromEnv, logger);
  if (scheme === 'http' && options.tls !== undefined) {
    logger.warn({ address: rawAddress }, 'tls options are ignored because the Consul address uses HTTP');
  }

  const host = parsed.socketPath === undefined ? parsed.host : 'localhost';
  const origin = `${scheme}://${host}`;
  const address =
    parsed.socketPath === undefined
      ? `${scheme}://${parsed.host}${parsed.pathPrefix}`
      : `unix://${parsed.socketPath}`;

  const config: ResolvedClientConfig = Object.assign(
    new ClientSecrets(token, authText === undefined ? undefined : parseBasicAuth(authText)),
    {
      address,
      scheme,
      origin,
      pathPrefix: parsed.pathPrefix,
      socketPath: parsed.socketPath,
      tls,
      connections: options.connections ?? CLIENT_DEFAULTS.connections,
      allowH2: options.allowH2 ?? CLIENT_DEFAULTS.allowH2,
      requestTimeout: options.requestTimeout ?? CLIENT_DEFAULTS.requestTimeout,
      maxResponseBytes: options.maxResponseBytes ?? CLIENT_DEFAULTS.maxResponseBytes,
      dispatcher: options.dispatcher,
    },
  );
  const datacenter = nonEmpty(options.datacenter);
  const namespace = nonEmpty(options.namespace) ?? fromEnv(ENV.namespace);
  const partition = nonEmpty(options.partition) ?? fromEnv(ENV.partition);
  if (datacenter !== undefined) config.datacenter = datacenter;
  if (namespace !== undefined) config.namespace = namespace;
  if (partition !== undefined) config.partition = partition;
  return config;
}

/**
 * Go's `strconv.ParseBool`: `1, t, T, TRUE, true, True` → true; `0, f, F, FALSE, false, False` → false;
 * anything else → undefined.
 */
export function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}

interface ParsedAddress {
  scheme: 'http' | 'https' | undefined;
  /** `host:port` (or `host`, `[v6]:port`), for TCP. */
  host: string;
  pathPrefix: string;
  socketPath: string | undefined;
}

/** Parses an address the way the Go client does (consul-semantics §5). `source` names where it came from, for messages. */
function parseAddress(text: string, source: string): ParsedAddress {
  const separator = text.indexOf('://');
  if (separator >= 0) {
    const scheme = text.slice(0, separator);
    const rest = text.slice(separator + 3);
    if (scheme === 'unix') {
      if (rest === '')
        throw configError(`${source}: unix:// needs a socket path, e.g. unix:///run/consul.sock`);
      return { scheme: undefined, host: 'localhost', pathPrefix: '', socketPath: rest };
    }
    if (scheme !== 'http' && scheme !== 'https') {
      // The address itself is not echoed: it might carry credentials.
      throw configError(
        `Unknown protocol scheme: ${scheme} (in ${source}; use host:port, http://, https:// or unix:///path.sock)`,
      );
    }
    const slash = rest.indexOf('/');
    const hostPart = slash >= 0 ? rest.slice(0, slash) : rest;
    const prefix = slash >= 0 ? `/${rest.slice(slash + 1)}`.replace(/\/+$/, '') : '';
    return { scheme, host: checkHost(hostPart, source), pathPrefix: prefix, socketPath: undefined };
  }
  return { scheme: undefined, host: checkHost(text, source), pathPrefix: '', socketPath: undefined };
}

function checkHost(host: string, source: string): string {
  if (host.includes('@')) {
    throw configError(
      `${source}: credentials in the address are not supported; use CONSUL_HTTP_AUTH or the auth option`,
    );
  }
  let url: URL | undefined;
  try {
    url = new URL(`http://${host}`);
  } catch {
    url = undefined;
  }
  if (host === '' || url === undefined || url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw configError(`${source}: not a valid host[:port]: '${host}'`);
  }
  return host;
}

/** Token precedence: explicit level (tokenFile content, then token), then env level (same rule) (consul-semantics §5). */
function resolveToken(
  options: ConsulClientOptions,
  fromEnv: (name: string) => string | undefined,
): string | undefined {
  const explicit = readTokenFile(options.tokenFile, 'the tokenFile option') ?? nonEmpty(options.token);
  const token =
    explicit ?? readTokenFile(fromEnv(ENV.tokenFile), ENV.tokenFile) ?? fromEnv(ENV.token) ?? undefined;
  if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
    // Never echo the token: say only where it is wrong.
    throw configError('the ACL token contains spaces or non-ASCII characters; it cannot be sent in a header');
  }
  return token;
}

function readTokenFile(path: string | undefined, source: string): string | undefined {
  if (path === undefined || path === '') return undefined;
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (error) {
    // The fs error names the path, never the content, so it is a safe cause.
    throw configError(`Error loading token file: ${path} (from ${source}): ${errorText(error)}`, error);
  }
  const token = content.trim();
  return token === '' ? undefined : token;
}

function resolveTls(
  tls: TlsOptions,
  fromEnv: (name: string) => string | undefined,
  logger: ReturnType<typeof resolveLogger>,
): ResolvedTlsOptions {
  const caList: Array<string | Buffer> = [];
  const ca = tls.ca ?? readPemFile(fromEnv(ENV.caCert), ENV.caCert, 'CA file');
  if (ca !== undefined) caList.push(ca);
  const caPath = tls.caPath ?? fromEnv(ENV.caPath);
  if (caPath !== undefined)
    caList.push(...readCaDirectory(caPath, tls.caPath !== undefined ? 'tls.caPath' : ENV.caPath));

  const cert = tls.cert ?? readPemFile(fromEnv(ENV.clientCert), ENV.clientCert, 'client certificate');
  const key = tls.key ?? readPemFile(fromEnv(ENV.clientKey), ENV.clientKey, 'client key');
  if ((cert === undefined) !== (key === undefined)) {
    throw configError(
      `both client cert and client key must be provided (got only the ${cert === undefined ? 'key' : 'certificate'}; check tls.cert/tls.key or ${ENV.clientCert}/${ENV.clientKey})`,
    );
  }

  let verify = tls.verify;
  if (verify === undefined) {
    const text = fromEnv(ENV.sslVerify);
    if (text !== undefined) {
      verify = parseGoBool(text);
      if (verify === undefined) {
        // Deliberate difference from the Go client, which turns verification OFF for an unparseable value.
        logger.warn(
          { variable: ENV.sslVerify },
          `${ENV.sslVerify} is not a boolean (1/0, t/f, true/false); keeping TLS verification on`,
        );
      }
    }
  }

  const servername = stripPort(nonEmpty(tls.servername) ?? fromEnv(ENV.tlsServerName));
  return Object.assign(new TlsSecrets(key), {
    ca: caList.length > 0 ? caList : undefined,
    cert,
    servername,
    verify: verify ?? true,
  });
}

/** `'consul.local:8501'` → `'consul.local'`; `'[::1]:8501'` → `'::1'`; no port → unchanged. */
function stripPort(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d*)?$/.exec(name);
  if (bracketed) return bracketed[1];
  const colon = name.lastIndexOf(':');
  // More than one colon without brackets is a bare IPv6 address: no port to strip.
  if (colon >= 0 && name.indexOf(':') === colon) return name.slice(0, colon);
  return name;
}

function readPemFile(path: string | undefined, source: string, what: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (error) {
    throw configError(`Error loading ${what}: ${path} (from ${source}): ${errorText(error)}`, error);
  }
}

function readCaDirectory(dir: string, source: string): Buffer[] {
  const files: Buffer[] = [];
  const visit = (path: string): void => {
    if (statSync(path).isDirectory()) {
      for (const name of readdirSync(path).sort()) visit(join(path, name));
      return;
    }
    const content = readFileSync(path);
    if (!content.includes('-----BEGIN CERTIFICATE-----')) {
      throw configError(`Error loading CA path: ${path} (from ${source}) holds no PEM certificate`);
    }
    files.push(content);
  };
  try {
    visit(dir);
  } catch (error) {
    if (error instanceof ConfigurationError) throw error;
    throw configError(`Error loading CA path: ${dir} (from ${source}): ${errorText(error)}`, error);
  }
  if (files.length === 0) throw configError(`Error loading CA path: ${dir} (from ${source}) holds no files`);
  return files;
}

function parseBasicAuth(text: string): BasicAuth {
  const colon = text.indexOf(':');
  return colon < 0
    ? { username: text, password: '' }
    : { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

function validateOptionTypes(o: ConsulClientOptions): void {
  const fail = (name: string, expected: string): never => {
    throw new InvalidArgumentError(`ConsulClient option ${name} must be ${expected}`, {
      operation: OPERATION,
    });
  };
  for (const name of [
    'address',
    'token',
    'tokenFile',
    'auth',
    'datacenter',
    'namespace',
    'partition',
  ] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'string') fail(name, 'a string');
  }
  if (o.address !== undefined && o.address === '') fail('address', 'a non-empty string');
  for (const name of ['ssl', 'allowH2'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'boolean') fail(name, 'a boolean');
  }
  if (o.connections !== undefined && !(Number.isInteger(o.connections) && o.connections > 0)) {
    fail('connections', 'a positive integer');
  }
  if (o.requestTimeout !== undefined && !(Number.isFinite(o.requestTimeout) && o.requestTimeout > 0)) {
    fail('requestTimeout', 'a positive number of milliseconds');
  }
  if (o.requestTimeout !== undefined && o.requestTimeout > MAX_TIMER_MS) {
    fail('requestTimeout', `at most ${timerLimitText(o.requestTimeout)}`);
  }
  if (o.maxResponseBytes !== undefined && !(Number.isInteger(o.maxResponseBytes) && o.maxResponseBytes > 0)) {
    fail('maxResponseBytes', 'a positive integer');
  }
  if (o.dispatcher !== undefined && typeof o.dispatcher?.dispatch !== 'function') {
    fail('dispatcher', 'an undici Dispatcher');
  }
  if (o.env !== undefined && (typeof o.env !== 'object' || o.env === null)) fail('env', 'an object');
  if (o.tls !== undefined) {
    if (typeof o.tls !== 'object' || o.tls === null) fail('tls', 'an object');
    for (const name of ['ca', 'cert', 'key'] as const) {
      const value = o.tls[name];
      if (value !== undefined && typeof value !== 'string' && !Buffer.isBuffer(value)) {
        fail(`tls.${name}`, 'a PEM string or Buffer');
      }
    }
    for (const name of ['caPath', 'servername'] as const) {
      if (o.tls[name] !== undefined && typeof o.tls[name] !== 'string') fail(`tls.${name}`, 'a string');
    }
    if (o.tls.verify !== undefined && typeof o.tls.verify !== 'boolean') fail('tls.verify', 'a boolean');
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * The secret part of a resolved config. The values sit in private fields behind prototype getters, so they
 * are no own property of the config object: `Object.keys` and `JSON.stringify` never see them, and a custom
 * inspect keeps `console.log` and `util.inspect(config, { showHidden: true, getters: true })` from listing the
 * getters; `config.token` still works.
 */
class ClientSecrets {
  readonly #token: string | undefined;
  readonly #auth: BasicAuth | undefined;

  constructor(token: string | undefined, auth: BasicAuth | undefined) {
    this.#token = token;
    this.#auth = auth;
  }

  /** ACL token, or undefined. */
  get token(): string | undefined {
    return this.#token;
  }

  /** Basic-auth credentials, or undefined. */
  get auth(): BasicAuth | undefined {
    return this.#auth;
  }

  /** `util.inspect` (and so `console.log`) shows the public fields only, even with `showHidden` or `getters`. */
  [inspect.custom](_depth: number, options: InspectOptions, show: typeof inspect): string {
    return show({ ...this }, options);
  }
}

/** The TLS client key, hidden the same way as {@link ClientSecrets}. */
class TlsSecrets {
  readonly #key: string | Buffer | undefined;

  constructor(key: string | Buffer | undefined) {
    this.#key = key;
  }

  /** Client private key (PEM), or undefined. */
  get key(): string | Buffer | undefined {
    return this.#key;
  }

  /** See {@link ClientSecrets}: the public fields only. */
  [inspect.custom](_depth: number, options: InspectOptions, show: typeof inspect): string {
    return show({ ...this }, options);
  }
}

function configError(message: string, cause?: unknown): ConfigurationError {
  return new ConfigurationError(message, { operation: OPERATION, cause });
}
