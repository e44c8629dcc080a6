/**
 * consul-hotreload: zero-restart configuration and feature flags from HashiCorp Consul KV.
 * This file is the whole public surface: named re-exports only.
 * @module
 */

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
  TxnOp,
  TxnResult,
  TxnVerb,
} from './consul/kv.js';
export { KVEntry } from './consul/kv.js';
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
