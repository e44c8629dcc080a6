/**
 * Every error this library throws or emits is a {@link ConsulError} with a stable {@link ConsulError.code}.
 * The code is the contract; the message is for people. Messages name the operation and the Consul key and
 * say what to do; they never contain the ACL token.
 *
 * The codes are listed in docs/errors.md.
 * @module
 */
import { redactText } from './logger.js';

/** Stable error codes. New codes may be added; existing ones never change meaning. */
export type ConsulErrorCode =
  | 'CONSUL_INVALID_ARGUMENT'
  | 'CONSUL_CONFIG_INVALID'
  | 'CONSUL_ACL_DENIED'
  | 'CONSUL_UNAUTHORIZED'
  | 'CONSUL_PROXY_AUTH_REQUIRED'
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
  | 'CONSUL_CONFIG_VALIDATION'
  // services: registration
  | 'CONSUL_SERVICE_CONFLICT'
  | 'CONSUL_SERVICE_NOT_REGISTERED'
  // locks and leader election
  | 'CONSUL_LOCK_CONFLICT'
  | 'CONSUL_LOCK_LOST'
  // Service discovery
  | 'CONSUL_NO_HEALTHY_INSTANCE';

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

/** Brand of the pre-branding releases, still stamped so their `isConsulError` recognises our errors. */
const LEGACY_BRAND = Symbol.for('consul-hotreload.ConsulError');

/** The cross-copy brand of one error class: `Symbol.for('consul-hotreload.error.<Name>')`. */
function brandOf(name: string): symbol {
  return Symbol.for(`consul-hotreload.error.${name}`);
}

/** Classes registered by {@link branded}, mapped to their brand. */
const BRANDS = new WeakMap<object, symbol>();

/**
 * Brands a class: its prototype carries `Symbol.for('consul-hotreload.error.<Name>')`, which every instance
 * (and every subclass instance) inherits, so `instanceof` can test the brand instead of the prototype chain.
 */
function branded<C extends abstract new (...args: never[]) => ConsulError>(name: string, errorClass: C): C {
  const brand = brandOf(name);
  BRANDS.set(errorClass, brand);
  Object.defineProperty(errorClass.prototype, brand, { value: true });
  return errorClass;
}

/**
 * Base class of every error in this library. Each subclass declares its own stable {@link ConsulError.code}
 * and {@link ConsulError.retryable}.
 *
 * `instanceof` works across two loaded copies of the library (each class is branded with a `Symbol.for` key,
 * as undici does); {@link isConsulError} does too.
 */
export abstract class ConsulError extends Error {
  override name = 'ConsulError';
  /** Stable machine-readable code; see docs/errors.md. */
  abstract readonly code: ConsulErrorCode;
  /** Whether repeating the same read later may succeed (network trouble, 429, 5xx, timeouts). */
  abstract readonly retryable: boolean;
  /** The operation that failed, e.g. `'kv.list'`. */
  readonly operation: string;
  /** The Consul key or prefix concerned, if any. */
  readonly key: string | undefined;
  /** HTTP status from Consul, if an answer arrived. */
  readonly status: number | undefined;

  constructor(message: string, details: ErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.operation = details.operation;
    this.key = details.key;
    this.status = details.status;
  }

  /**
   * True when `value` carries this class's brand, whichever copy of the library made it. A class without a
   * brand of its own (a user's subclass) falls back to the prototype chain.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // `this` is the class on the right of `instanceof`, so one method serves every subclass.
    // biome-ignore lint/complexity/noThisInStatic: the class being tested is only known through `this`
    const brand = BRANDS.get(this);
    // biome-ignore lint/complexity/noThisInStatic: see above
    if (brand === undefined) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }
}
branded('ConsulError', ConsulError);
Object.defineProperty(ConsulError.prototype, LEGACY_BRAND, { value: true });

/** True for any error made by this library, even by another loaded copy of it. */
export function isConsulError(value: unknown): value is ConsulError {
  return (
    typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[LEGACY_BRAND] === true
  );
}

/** A bad argument or option, thrown at the call that received it (an invalid key, a negative wait…). */
export class InvalidArgumentError extends ConsulError {
  override name = 'InvalidArgumentError';
  override readonly code = 'CONSUL_INVALID_ARGUMENT';
  override readonly retryable = false;
}
branded('InvalidArgumentError', InvalidArgumentError);

/** The client configuration (options or `CONSUL_*` environment variables) cannot be used. */
export class ConfigurationError extends ConsulError {
  override name = 'ConfigurationError';
  override readonly code = 'CONSUL_CONFIG_INVALID';
  override readonly retryable = false;
}
branded('ConfigurationError', ConfigurationError);

/** Consul answered 403: the token is unknown (`ACL not found`) or lacks a permission. */
export class AclDeniedError extends ConsulError {
  override name = 'AclDeniedError';
  override readonly code = 'CONSUL_ACL_DENIED';
  override readonly retryable = false;
}
branded('AclDeniedError', AclDeniedError);

/** Consul, or a proxy in front of it, answered 401: the request's credentials (`CONSUL_HTTP_AUTH`, the `auth` option) were refused or missing. */
export class UnauthorizedError extends ConsulError {
  override name = 'UnauthorizedError';
  override readonly code = 'CONSUL_UNAUTHORIZED';
  override readonly retryable = false;
}
branded('UnauthorizedError', UnauthorizedError);

/** A proxy between this client and Consul answered 407: it wants credentials of its own (check the proxy settings). */
export class ProxyAuthRequiredError extends ConsulError {
  override name = 'ProxyAuthRequiredError';
  override readonly code = 'CONSUL_PROXY_AUTH_REQUIRED';
  override readonly retryable = false;
}
branded('ProxyAuthRequiredError', ProxyAuthRequiredError);

/** Consul answered 429: too many connections from this IP, or a request-rate limit. Retry with backoff. */
export class RateLimitedError extends ConsulError {
  override name = 'RateLimitedError';
  override readonly code = 'CONSUL_RATE_LIMITED';
  override readonly retryable = true;
}
branded('RateLimitedError', RateLimitedError);

/** Consul answered with a 5xx status (other than the cases below). Reads may be retried. */
export class ServerError extends ConsulError {
  override name = 'ServerError';
  override readonly code: 'CONSUL_SERVER_ERROR' | 'CONSUL_NO_LEADER' = 'CONSUL_SERVER_ERROR';
  override readonly retryable = true;

  /**
   * @param code - deprecated: throw {@link NoLeaderError} instead of passing `'CONSUL_NO_LEADER'`; kept so
   * existing callers still compile
   */
  constructor(
    message: string,
    details: ErrorDetails,
    code: 'CONSUL_SERVER_ERROR' | 'CONSUL_NO_LEADER' = 'CONSUL_SERVER_ERROR',
  ) {
    super(message, details);
    this.code = code;
  }
}
branded('ServerError', ServerError);

/** Consul answered 500 `No cluster leader`. A {@link ServerError}; reads may be retried or sent with `stale`. */
export class NoLeaderError extends ServerError {
  override name = 'NoLeaderError';
  override readonly code = 'CONSUL_NO_LEADER';
}
branded('NoLeaderError', NoLeaderError);

/** Consul does not know the requested datacenter (`500 No path to datacenter`). Not retryable: fix the option. */
export class UnknownDatacenterError extends ConsulError {
  override name = 'UnknownDatacenterError';
  override readonly code = 'CONSUL_UNKNOWN_DATACENTER';
  override readonly retryable = false;
}
branded('UnknownDatacenterError', UnknownDatacenterError);

/** Consul refused the request as malformed (400, 405 and other 4xx without a class of their own). */
export class BadRequestError extends ConsulError {
  override name = 'BadRequestError';
  override readonly code = 'CONSUL_BAD_REQUEST';
  override readonly retryable = false;
}
branded('BadRequestError', BadRequestError);

/** A value or request body is over Consul's size limit (413, or caught before sending). */
export class ValueTooLargeError extends ConsulError {
  override name = 'ValueTooLargeError';
  override readonly code = 'CONSUL_VALUE_TOO_LARGE';
  override readonly retryable = false;
}
branded('ValueTooLargeError', ValueTooLargeError);

/** A transaction has more operations than Consul accepts (128). */
export class TxnTooLargeError extends ConsulError {
  override name = 'TxnTooLargeError';
  override readonly code = 'CONSUL_TXN_TOO_LARGE';
  override readonly retryable = false;
}
branded('TxnTooLargeError', TxnTooLargeError);

/** The request never got an answer: connection refused, reset, DNS or TLS failure. `cause` holds the socket error. */
export class TransportError extends ConsulError {
  override name = 'TransportError';
  override readonly code = 'CONSUL_TRANSPORT';
  override readonly retryable = true;
}
branded('TransportError', TransportError);

/** No complete answer within the client-side timeout; the request was abandoned. */
export class TimeoutError extends ConsulError {
  override name = 'TimeoutError';
  override readonly code = 'CONSUL_TIMEOUT';
  override readonly retryable = true;
}
branded('TimeoutError', TimeoutError);

/** Consul's answer could not be understood: not JSON, wrong shape, bad base64. */
export class MalformedResponseError extends ConsulError {
  override name = 'MalformedResponseError';
  override readonly code = 'CONSUL_MALFORMED_RESPONSE';
  override readonly retryable = true;
}
branded('MalformedResponseError', MalformedResponseError);

/** The answer's body exceeded the client's `maxResponseBytes`; it was abandoned unread. */
export class ResponseTooLargeError extends ConsulError {
  override name = 'ResponseTooLargeError';
  override readonly code = 'CONSUL_RESPONSE_TOO_LARGE';
  override readonly retryable = false;
}
branded('ResponseTooLargeError', ResponseTooLargeError);

/** The caller's `AbortSignal` fired. `cause` is the signal's reason. */
export class AbortedError extends ConsulError {
  override name = 'AbortedError';
  override readonly code = 'CONSUL_ABORTED';
  override readonly retryable = false;
}
branded('AbortedError', AbortedError);

/** The client, watcher or subscription was closed before the operation could finish. */
export class ClosedError extends ConsulError {
  override name = 'ClosedError';
  override readonly code = 'CONSUL_CLOSED';
  override readonly retryable = false;
}
branded('ClosedError', ClosedError);

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
  /** Was `CONFIG_VALIDATION` before 0.2; see docs/errors.md ("Changed"). */
  override readonly code = 'CONSUL_CONFIG_VALIDATION';
  /** The data is wrong, not the request: repeating the read gives the same answer until someone fixes it. */
  override readonly retryable = false;
  /** Every problem found, each with its Consul key. */
  readonly issues: readonly ValidationIssue[];

  constructor(operation: string, key: string, issues: readonly ValidationIssue[], cause?: unknown) {
    super(formatValidationMessage(key, issues), { operation, key, cause });
    this.issues = issues;
  }
}
branded('ConfigValidationError', ConfigValidationError);

function formatValidationMessage(key: string, issues: readonly ValidationIssue[]): string {
  const lines = issues.map((issue) => {
    const path = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    const found = issue.received === undefined ? '' : ` (found ${issue.received})`;
    return `  - ${issue.key}${path}: ${issue.message}${found}`;
  });
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  return `invalid config under ${key}: ${count}; the last good value keeps serving\n${lines.join('\n')}`;
}

/** The longest text {@link errorText} keeps, in characters. */
export const MAX_ERROR_TEXT = 300;

/** Options of {@link errorText}. */
export interface ErrorTextOptions {
  /**
   * Exact secrets to remove (the ACL token, a password, encoded credentials), also when wrapped or cut.
   * `Basic …`/`Bearer …` credentials and echoed token headers are removed whatever this holds.
   * @default []
   */
  secrets?: readonly string[];
  /**
   * Longest text kept, in characters; longer text is cut and ends with `…`.
   * @default {@link MAX_ERROR_TEXT} (300)
   */
  maxLength?: number;
  /**
   * Keep only the first line (a parser's or a user function's message may go on with a stack or the input).
   * @default false
   */
  firstLine?: boolean;
}

/** C0 controls, DEL, C1 controls (together `\p{Cc}`) and the bidi marks, embeddings, overrides and isolates. */
const UNSAFE_CHARS = /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/**
 * Foreign text made safe to quote inside one line of an error message: a server's body (Buffer or string)
 * or a caught error (its `message`). In this order: secrets removed ({@link ErrorTextOptions.secrets}, before
 * any cut so a secret straddling it cannot leak), whitespace folded to single spaces, control characters and
 * bidi overrides escaped as `\uXXXX` (so a body cannot drive the terminal), then cut to `maxLength` with `…`.
 */
export function errorText(value: unknown, options: ErrorTextOptions = {}): string {
  const maxLength = options.maxLength ?? MAX_ERROR_TEXT;
  let text: string;
  if (value instanceof Uint8Array) {
    // At most 4 bytes per character: decoding more could not change what is kept.
    text = Buffer.from(value.buffer, value.byteOffset, value.byteLength)
      .subarray(0, maxLength * 4)
      .toString('utf8');
  } else {
    text = value instanceof Error ? value.message : String(value);
  }
  if (options.firstLine === true) text = text.split('\n', 1)[0] ?? '';
  text = redactText(text, options.secrets)
    .replace(/\s+/g, ' ')
    .trim()
    .replace(UNSAFE_CHARS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text.length > maxLength ? `${text.slice(0, maxLength)}…` : text;
}

// --- services: registration (src/consul/agent.ts, src/services/) ---

/** The service ID and the address and port of an instance, as the agent holds them. */
export interface ServiceInstanceRef {
  /** The service ID. */
  id: string;
  /** `Address` as registered (`''` when none was given). */
  address: string;
  /** `Port` as registered (0 when none was given). */
  port: number;
}

/**
 * The service ID is already registered on the agent by another instance (a different address or port), so
 * registering would silently take it over. Pick another ID, or pass `replace: true` to take it over on purpose.
 */
export class ServiceConflictError extends ConsulError {
  override name = 'ServiceConflictError';
  override readonly code = 'CONSUL_SERVICE_CONFLICT';
  override readonly retryable = false;
  /** The registration already on the agent. */
  readonly existing: ServiceInstanceRef;

  constructor(message: string, details: ErrorDetails, existing: ServiceInstanceRef) {
    super(message, details);
    this.existing = existing;
  }
}
branded('ServiceConflictError', ServiceConflictError);

/**
 * The agent does not know the service or check (a `404 Unknown service/check ID`), or the check is no longer
 * a TTL check (`500 … does not have associated TTL`): the agent restarted or someone replaced the
 * registration. A `ServiceRegistration` re-registers by itself; direct callers register again.
 */
export class ServiceNotRegisteredError extends ConsulError {
  override name = 'ServiceNotRegisteredError';
  override readonly code = 'CONSUL_SERVICE_NOT_REGISTERED';
  /** Repeating the same request gives the same answer until the service is registered again. */
  override readonly retryable = false;
}
branded('ServiceNotRegisteredError', ServiceNotRegisteredError);
// --- locks and leader election (src/consul/session.ts, src/locks/) ---

/**
 * The lock's key exists with flags other than the lock flag (`0x2ddccbc058a50c18`, the Go client's
 * `LockFlagValue`): something else uses the key, so the lock refuses to touch it (Go's `ErrLockConflict`).
 */
export class LockConflictError extends ConsulError {
  override name = 'LockConflictError';
  override readonly code = 'CONSUL_LOCK_CONFLICT';
  override readonly retryable = false;
}
branded('LockConflictError', LockConflictError);

/** Why a held lock was lost; see docs/locks.md. */
export type LockLostCause = 'session-changed' | 'session-invalidated' | 'key-deleted' | 'renew-failed';

/**
 * A held lock was lost: the key's `Session` changed, the session is gone, the key was deleted, or renewals
 * failed for a whole TTL. Stop the work the lock protected; acquiring again may succeed.
 */
export class LockLostError extends ConsulError {
  override name = 'LockLostError';
  override readonly code = 'CONSUL_LOCK_LOST';
  override readonly retryable = true;
  /** What ended the hold (`cause`, as on every error, is the underlying error when there is one). */
  readonly reason: LockLostCause;
  constructor(message: string, reason: LockLostCause, details: ErrorDetails) {
    super(message, details);
    this.reason = reason;
  }
}
branded('LockLostError', LockLostError);

// ---- Service discovery ----

/**
 * A balancer had no instance to pick: Consul lists none, or every listed one is failing or ejected after
 * reported failures (and panic mode is off). Retryable: instances come back as checks pass and ejections end.
 */
export class NoHealthyInstanceError extends ConsulError {
  override name = 'NoHealthyInstanceError';
  override readonly code = 'CONSUL_NO_HEALTHY_INSTANCE';
  override readonly retryable = true;
}
branded('NoHealthyInstanceError', NoHealthyInstanceError);
