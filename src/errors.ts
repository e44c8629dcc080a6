/**
 * Every error this library throws or emits is a {@link ConsulError} with a stable {@link ConsulError.code}.
 * The code is the contract; the message is for people. Messages name the operation and the Consul key and
 * say what to do; they never contain the ACL token.
 *
 * The codes are listed in docs/errors.md.
 * @module
 */

/** Stable error codes. New codes may be added; existing ones never change meaning. */
export type ConsulErrorCode =
  | 'CONSUL_INVALID_ARGUMENT'
  | 'CONSUL_CONFIG_INVALID'
  | 'CONSUL_ACL_DENIED'
  | 'CONSUL_RATE_LIMITED'
  | 'CONSUL_SERVER_ERROR'
  | 'CONSUL_NO_LEADER'
  | 'CONSUL_UNKNOWN_DATACENTER'
  | 'CONSUL_BAD_REQUEST'
  | 'CONSUL_VALUE_TOO_LARGE'
  | 'CONSUL_TXN_TOO_LARGE'
  | 'CONSUL_TRANSPORT'
  | 'CONSUL_TIMEOUT'
  | 'CONSUL_MALFORMED_RESPONSE'
  | 'CONSUL_RESPONSE_TOO_LARGE'
  | 'CONSUL_ABORTED'
  | 'CONSUL_CLOSED'
  | 'CONFIG_VALIDATION';

/** Where an error happened. Every field but `operation` is optional. */
export interface ErrorDetails {
  /** The operation that failed: `'kv.get'`, `'kv.list'`, `'kv.keys'`, `'kv.put'`, `'kv.delete'`, `'txn'`, `'watch'`… */
  operation: string;
  /** The Consul key or prefix the operation was about, when there is one. */
  key?: string | undefined;
  /** HTTP status of Consul's answer, when there was one. */
  status?: number | undefined;
  /** The underlying error (an undici error, a JSON SyntaxError…). */
  cause?: unknown;
}

const BRAND = Symbol.for('consul-hotreload.ConsulError');

/**
 * Base class of every error in this library.
 *
 * Use {@link isConsulError} rather than `instanceof` when two copies of the library may be loaded.
 */
export class ConsulError extends Error {
  override name = 'ConsulError';
  /** Stable machine-readable code; see docs/errors.md. */
  readonly code: ConsulErrorCode;
  /** The operation that failed, e.g. `'kv.list'`. */
  readonly operation: string;
  /** The Consul key or prefix concerned, if any. */
  readonly key: string | undefined;
  /** HTTP status from Consul, if an answer arrived. */
  readonly status: number | undefined;
  /** Whether repeating the same read later may succeed (network trouble, 429, 5xx, timeouts). */
  readonly retryable: boolean;

  constructor(code: ConsulErrorCode, message: string, details: ErrorDetails, retryable = false) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.operation = details.operation;
    this.key = details.key;
    this.status = details.status;
    this.retryable = retryable;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** True for any error made by this library, even by another loaded copy of it. */
export function isConsulError(value: unknown): value is ConsulError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** A bad argument or option, thrown at the call that received it (an invalid key, a negative wait…). */
export class InvalidArgumentError extends ConsulError {
  override name = 'InvalidArgumentError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_INVALID_ARGUMENT', message, details);
  }
}

/** The client configuration (options or `CONSUL_*` environment variables) cannot be used. */
export class ConfigurationError extends ConsulError {
  override name = 'ConfigurationError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_CONFIG_INVALID', message, details);
  }
}

/** Consul answered 403: the token is unknown (`ACL not found`) or lacks a permission. */
export class AclDeniedError extends ConsulError {
  override name = 'AclDeniedError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_ACL_DENIED', message, details);
  }
}

/** Consul answered 429: too many connections from this IP, or a request-rate limit. Retry with backoff. */
export class RateLimitedError extends ConsulError {
  override name = 'RateLimitedError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_RATE_LIMITED', message, details, true);
  }
}

/**
 * Consul answered with a 5xx status. Reads may be retried; `code` is `CONSUL_NO_LEADER` when the cluster
 * has no leader, `CONSUL_SERVER_ERROR` otherwise.
 */
export class ServerError extends ConsulError {
  override name = 'ServerError';
  constructor(
    message: string,
    details: ErrorDetails,
    code: 'CONSUL_SERVER_ERROR' | 'CONSUL_NO_LEADER' = 'CONSUL_SERVER_ERROR',
  ) {
    super(code, message, details, true);
  }
}

/** Consul does not know the requested datacenter (`500 No path to datacenter`). Not retryable: fix the option. */
export class UnknownDatacenterError extends ConsulError {
  override name = 'UnknownDatacenterError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_UNKNOWN_DATACENTER', message, details);
  }
}

/** Consul refused the request as malformed (400, 405 and other 4xx without a class of their own). */
export class BadRequestError extends ConsulError {
  override name = 'BadRequestError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_BAD_REQUEST', message, details);
  }
}

/** A value or request body is over Consul's size limit (413, or caught before sending). */
export class ValueTooLargeError extends ConsulError {
  override name = 'ValueTooLargeError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_VALUE_TOO_LARGE', message, details);
  }
}

/** A transaction has more operations than Consul accepts (128). */
export class TxnTooLargeError extends ConsulError {
  override name = 'TxnTooLargeError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_TXN_TOO_LARGE', message, details);
  }
}

/** The request never got an answer: connection refused, reset, DNS or TLS failure. `cause` holds the socket error. */
export class TransportError extends ConsulError {
  override name = 'TransportError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_TRANSPORT', message, details, true);
  }
}

/** No complete answer within the client-side timeout; the request was abandoned. */
export class TimeoutError extends ConsulError {
  override name = 'TimeoutError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_TIMEOUT', message, details, true);
  }
}

/** Consul's answer could not be understood: not JSON, wrong shape, bad base64. */
export class MalformedResponseError extends ConsulError {
  override name = 'MalformedResponseError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_MALFORMED_RESPONSE', message, details, true);
  }
}

/** The answer's body exceeded the client's `maxResponseBytes`; it was abandoned unread. */
export class ResponseTooLargeError extends ConsulError {
  override name = 'ResponseTooLargeError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_RESPONSE_TOO_LARGE', message, details);
  }
}

/** The caller's `AbortSignal` fired. `cause` is the signal's reason. */
export class AbortedError extends ConsulError {
  override name = 'AbortedError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_ABORTED', message, details);
  }
}

/** The client, watcher or subscription was closed before the operation could finish. */
export class ClosedError extends ConsulError {
  override name = 'ClosedError';
  constructor(message: string, details: ErrorDetails) {
    super('CONSUL_CLOSED', message, details);
  }
}

/** One problem found while decoding or validating a config value. */
export interface ValidationIssue {
  /** The Consul key at fault (the full key, e.g. `config/app/db/port`). */
  key: string;
  /** Path inside the validated value, e.g. `['db', 'port']`; empty for the whole value. */
  path: ReadonlyArray<string | number>;
  /** What is wrong, in words. */
  message: string;
  /** What was expected, when known (e.g. `number`). */
  expected?: string | undefined;
  /** What was found, redacted when the key looks secret. */
  received?: string | undefined;
}

/**
 * What Consul holds could not be decoded or did not match the schema. The last good value keeps serving.
 *
 * The request itself worked; the data was refused. `issues` lists every problem at once, each naming its
 * Consul key.
 */
export class ConfigValidationError extends ConsulError {
  override name = 'ConfigValidationError';
  /** Every problem found, each with its Consul key. */
  readonly issues: readonly ValidationIssue[];

  constructor(operation: string, key: string, issues: readonly ValidationIssue[], cause?: unknown) {
    super('CONFIG_VALIDATION', formatValidationMessage(key, issues), { operation, key, cause });
    this.issues = issues;
  }
}

function formatValidationMessage(key: string, issues: readonly ValidationIssue[]): string {
  const lines = issues.map((issue) => {
    const path = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    const found = issue.received === undefined ? '' : ` (found ${issue.received})`;
    return `  - ${issue.key}${path}: ${issue.message}${found}`;
  });
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  return `invalid config under ${key}: ${count}; the last good value keeps serving\n${lines.join('\n')}`;
}
