/**
 * Every `node:diagnostics_channel` this library publishes on, created once here. Publishers check
 * `hasSubscribers` first, so nobody pays for an event nobody watches. Payloads are documented in
 * docs/diagnostics.md; none of them carries the ACL token.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';

/** A request to Consul is about to be sent. Payload: {@link RequestStartMessage}. */
export const requestStartChannel = diagnosticsChannel.channel('consul-hotreload:request:start');
/** A request to Consul finished (with an answer or an error). Payload: {@link RequestFinishMessage}. */
export const requestFinishChannel = diagnosticsChannel.channel('consul-hotreload:request:finish');
/** A watch applied a change. Payload: `{ key, index, changes }`. */
export const watchChangeChannel = diagnosticsChannel.channel('consul-hotreload:watch:change');
/** A watch met an error (transport, server, validation). Payload: {@link WatchErrorMessage}. */
export const watchErrorChannel = diagnosticsChannel.channel('consul-hotreload:watch:error');
/** A blocking query changed state, or its index went backwards. Payload: {@link WatchStateMessage}. */
export const watchStateChannel = diagnosticsChannel.channel('consul-hotreload:watch:state');

/** Payload of `consul-hotreload:watch:change`. */
export interface WatchChangeMessage {
  /** The watched key or prefix. */
  key: string;
  /** `X-Consul-Index` of the answer that brought the change. */
  index: number;
  changes: ReadonlyArray<{ key: string; type: 'added' | 'updated' | 'deleted' }>;
}

/**
 * Payload of `consul-hotreload:watch:change` for a service list (`Watcher.service()`): `key` is
 * `service:<name>`, each change's `key` is `<node>/<service ID>` (`updated` for a changed instance).
 */
export interface ServiceChangeMessage extends WatchChangeMessage {
  /** The watched service's name; only service lists set it. */
  service: string;
  /** How many instances the list holds after the change. */
  instances: number;
}

/** Payload of `consul-hotreload:watch:error`. */
export interface WatchErrorMessage {
  /** The watched key or prefix (or the query's key). */
  key: string;
  error: unknown;
}

/** Payload of `consul-hotreload:watch:state`. */
export interface WatchStateMessage {
  /** The key or prefix the blocking query reads (a root serves every subscription below it). */
  key: string;
  /** `'connecting'`, `'ready'`, `'stale'` or `'closed'`; `'index-reset'` when Consul's index went backwards. */
  state: 'connecting' | 'ready' | 'stale' | 'closed' | 'index-reset';
  previous: 'connecting' | 'ready' | 'stale' | 'closed';
  /** For `'index-reset'`: the index sent and the lower one Consul answered with. */
  fromIndex?: number;
  toIndex?: number;
}

/** Payload of `consul-hotreload:request:start`. */
export interface RequestStartMessage {
  /** `'kv.get'`, `'kv.list'`, … */
  operation: string;
  method: string;
  /** Path and query, without any token. */
  path: string;
  /** Blocking index sent, 0 when the request is not blocking. */
  index: number;
}

/** Payload of `consul-hotreload:request:finish`. */
export interface RequestFinishMessage extends RequestStartMessage {
  /** HTTP status, or undefined when no answer arrived. */
  status: number | undefined;
  /** `X-Consul-Index` of the answer, when present. */
  resultIndex: number | undefined;
  /** Body bytes received. */
  bytes: number;
  durationMs: number;
  error: Error | undefined;
}

/** A service registration changed state. Payload: {@link ServiceStateMessage}. */
export const serviceStateChannel = diagnosticsChannel.channel('consul-hotreload:service:state');
/** A lock was acquired, lost or released. Payload: {@link LockStateMessage}. */
export const lockStateChannel = diagnosticsChannel.channel('consul-hotreload:lock:state');

/**
 * Payload of `consul-hotreload:service:state`: one per `registered`, `reregistered`, `health`, `draining` and
 * `deregistered` event of a `ServiceRegistration`, with that event's fields.
 */
export interface ServiceStateMessage {
  /** The service instance's ID. */
  id: string;
  /** The service's name. */
  name: string;
  event: 'registered' | 'reregistered' | 'health' | 'draining' | 'deregistered';
  /** `reregistered`: why. */
  reason?: string;
  /** `health`: the status now and before (undefined for the first report). */
  status?: string;
  previous?: string | undefined;
  /** `draining`: how long the instance stays in maintenance before it is deregistered. */
  drainMs?: number;
  /** `deregistered`: false when the agent no longer knew the service. */
  removed?: boolean;
}

/** Payload of `consul-hotreload:lock:state`: one per `acquired` and `lost` event of a `Lock`, and per release. */
export interface LockStateMessage {
  /** The lock's key. */
  key: string;
  event: 'acquired' | 'lost' | 'released';
  /** The session that held (or now holds) the key. */
  session: string;
  /** `acquired`: the key's LockIndex. */
  lockIndex?: number;
  /** `lost`: why (see `LockLostReason`). */
  reason?: string;
}
