/**
 * consul-hotreload: zero-restart configuration and feature flags from HashiCorp Consul KV.
 * This file is the whole public surface: named re-exports only.
 * @module
 */

export type {
  ConfigChangeEvent,
  ConfigEvents,
  ConfigListener,
  ConfigOptions,
  ConfigState,
  LoadOptions,
  UnknownKeysMode,
  WatchChangeEvent,
  WatchSource,
  WatchSubscription,
} from './bindings/config.js';
export { ConfigBinding, defineConfig } from './bindings/config.js';
export type {
  FlagChangeEvent,
  FlagEvents,
  FlagOptions,
  FlagReason,
  FlagType,
  FlagTypeOf,
  FlagValue,
  WidenFlag,
} from './bindings/flag.js';
export { createFlag, Flag } from './bindings/flag.js';
export type { LkgEntry, LkgSnapshot, SavedLkgSnapshot } from './cache/lkg-file.js';
export { ConsulClient } from './consul/client.js';
export type { Consistency, ConsulClientOptions, ResolvedClientConfig, TlsOptions } from './consul/config.js';
export { parseDuration } from './consul/duration.js';
export type {
  DeleteOptions,
  KeysOptions,
  KV,
  KVGetResult,
  KVKeysResult,
  KVListResult,
  PutOptions,
  QueryMeta,
  ReadOptions,
} from './consul/kv.js';
export { KVEntry } from './consul/kv-entry.js';
export type { TxnOp, TxnResult, TxnVerb } from './consul/txn.js';
export type { Fault, FaultInjector, FaultRule } from './devserver/faults.js';
export { parseChaosSpec } from './devserver/faults.js';
export type {
  DevServer,
  DevServerEntry,
  DevServerKv,
  DevServerOptions,
  DevServerSeed,
  DevServerStats,
} from './devserver/server.js';
export { startDevServer } from './devserver/server.js';
export type { ConsulErrorCode, ErrorDetails, ValidationIssue } from './errors.js';
export {
  AbortedError,
  AclDeniedError,
  BadRequestError,
  ClosedError,
  ConfigurationError,
  ConfigValidationError,
  ConsulError,
  InvalidArgumentError,
  isConsulError,
  MalformedResponseError,
  RateLimitedError,
  ResponseTooLargeError,
  ServerError,
  TimeoutError,
  TransportError,
  TxnTooLargeError,
  UnknownDatacenterError,
  ValueTooLargeError,
} from './errors.js';
export type { LogFn, Logger } from './logger.js';
export type { Decoder, WatchFormat } from './watch/decode.js';
export type { LoopState } from './watch/loop.js';
export { Subscription } from './watch/subscription.js';
export type {
  ChangeEvent,
  DebounceOptions,
  KeyChange,
  QueryStats,
  StateEvent,
  SubscriptionEvents,
  SubscriptionState,
  WatchedEntry,
  WatcherOptions,
  WatcherStats,
  WatchOptions,
} from './watch/types.js';
export type { WatcherCacheOptions } from './watch/watcher.js';
export { Watcher } from './watch/watcher.js';
