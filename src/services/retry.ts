/**
 * Which failures of the registration retrying may fix soon (full-jitter delays of the shared `Backoff`)
 * and which wait the slow fixed delay.
 * @module
 */
import {
  AclDeniedError,
  type ConsulError,
  RateLimitedError,
  ServerError,
  ServiceConflictError,
  TimeoutError,
  TransportError,
} from '../errors.js';

/**
 * Whether retrying soon may work: the agent unreachable or slow, 5xx, 429, a malformed answer. A 403 or an ID
 * held by another instance are retried too, but only every `maxMs` (never a tight loop).
 */
export function isTransient(error: ConsulError): boolean {
  if (error instanceof AclDeniedError || error instanceof ServiceConflictError) return false;
  return (
    error instanceof TransportError ||
    error instanceof TimeoutError ||
    error instanceof ServerError ||
    error instanceof RateLimitedError ||
    error.retryable
  );
}
