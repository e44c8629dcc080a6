/**
 * Failing at once when the address is not a Consul agent, or when nothing listens there, instead of
 * reporting a missing key or waiting out `--timeout`.
 *
 * Consul sends its read headers, `X-Consul-Index` among them, on every KV read, 404 included, and the index
 * is never 0 (docs/consul-semantics.md §1.9, consul-semantics §3.2). A "nothing there" answer without it came from something
 * else: a web server, or a proxy that strips Consul's headers. Only such answers are judged: an answer that
 * parsed as KV entries is Consul's, even when a proxy dropped the header (the watcher copes, consul-semantics §4).
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { ConsulError } from '../errors.js';
import { AgentError } from './output.js';

/**
 * Throws when a "nothing there" answer (404: missing key, no keys) carried no `X-Consul-Index`.
 * @param index - the answer's index as the client read it: 0 or undefined when the header was missing
 * @throws AgentError `not a Consul agent at <address> (…)`
 */
export function checkNothingThereAnswer(
  index: number | undefined,
  address: string,
  operation: string,
  key: string,
): void {
  if (index !== undefined && index > 0) return;
  throw new AgentError(
    `not a Consul agent at ${address} (${operation} ${key}: answered 404 without the X-Consul-Index header Consul sends on every KV read; check the address option or CONSUL_HTTP_ADDR, or a proxy in front of Consul)`,
  );
}

/** Whether a request error is a refused connection: nothing listens at the address. */
export function isConnectionRefused(error: ConsulError): boolean {
  let cause: unknown = error.cause;
  // The socket error, possibly wrapped once more by undici.
  for (let depth = 0; depth < 3 && typeof cause === 'object' && cause !== null; depth++) {
    if ((cause as { code?: unknown }).code === 'ECONNREFUSED') return true;
    cause = (cause as { cause?: unknown }).cause;
  }
  return false;
}

/** The fields of a `consul-hotreload:request:finish` message read here (docs/diagnostics.md). */
interface RequestFinish {
  operation: string;
  status: number | undefined;
  resultIndex: number | undefined;
}

/** See {@link startupGuard}. */
export interface StartupGuard {
  /** Resolves with the error that should end the command now. Never rejects. */
  readonly failure: Promise<Error>;
  /** Hands over a request error that came before the first value. */
  error(error: ConsulError): void;
  /** Stops listening; call once the first value has arrived, or the command ends. */
  dispose(): void;
}

/**
 * Watches a watcher's first requests: a refused connection (through {@link StartupGuard.error}) or a 404
 * without `X-Consul-Index` (through the public `consul-hotreload:request:finish` channel, the engine
 * keeping answers' headers to itself) resolve `failure`. The channel is process-wide: the CLI runs one
 * command per process.
 */
export function startupGuard(address: string, key: string): StartupGuard {
  let fail: (error: Error) => void = () => {};
  const failure = new Promise<Error>((resolve) => {
    fail = resolve;
  });
  const onFinish = (message: unknown): void => {
    const { operation, status, resultIndex } = message as RequestFinish;
    if (status !== 404 || !operation.startsWith('kv.')) return;
    try {
      checkNothingThereAnswer(resultIndex, address, operation, key);
    } catch (error) {
      fail(error as Error);
    }
  };
  diagnosticsChannel.subscribe('consul-hotreload:request:finish', onFinish);
  return {
    failure,
    error(error) {
      if (isConnectionRefused(error)) fail(error);
    },
    dispose() {
      diagnosticsChannel.unsubscribe('consul-hotreload:request:finish', onFinish);
    },
  };
}
