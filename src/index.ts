/**
 * consul-hotreload: zero-restart configuration and feature flags from HashiCorp Consul KV.
 * This file is the whole public surface of the main entry: named re-exports only. The embedded dev server
 * and its fault injection are the `consul-hotreload/devserver` subpath (src/devserver/index.ts), so a
 * production `import { Watcher }` does not load them; the OpenFeature provider is `consul-hotreload/openfeature`.
 * @module
 */

export type {
  ConfigChangeEvent,
  ConfigEvents,
  ConfigListener,
  ConfigOptions,
  ConfigState,
  LoadOptions,
} from './config/config.js';
export { ConfigBinding, defineConfig } from './config/config.js';
export type {
  AppLayers,
  LayeredConfigChangeEvent,
  LayeredConfigEvents,
  LayeredConfigOptions,
} from './config/layered.js';
export { defineLayeredConfig, LayeredConfigBinding } from './config/layered.js';
export type { LayeredChange } from './config/layered-tree.js';
// --- services: registration (src/consul/agent.ts, src/services/) ---
export type {
  Agent,
  AgentCallOptions,
  AgentCheckDefinition,
  AgentDuration,
  AgentSelf,
  AgentService,
  AgentServiceDefinition,
  CheckStatus,
  MaintenanceOptions,
  RegisterOptions,
} from './consul/agent.js';
// Service discovery: health and catalog reads, live service lists, the balancer.
export type { Catalog, CatalogServicesOptions, CatalogServicesResult } from './consul/catalog.js';
export { ConsulClient } from './consul/client.js';
export type { Consistency, ConsulClientOptions, ResolvedClientConfig, TlsOptions } from './consul/config.js';
export { parseDuration } from './consul/duration.js';
export type {
  Health,
  HealthCheckInfo,
  HealthNode,
  HealthService,
  HealthServiceEntry,
  HealthServiceOptions,
  HealthServiceResult,
  InstanceStatus,
  ServiceInstance,
  ServiceWeights,
} from './consul/health.js';
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
// Sessions, locks and leader election.
export type { SessionApi, SessionBehavior, SessionCreateOptions, SessionInfo } from './consul/session.js';
export type { TxnOp, TxnResult, TxnVerb } from './consul/txn.js';
// Payloads of the diagnostics channels (docs/diagnostics.md).
export type {
  LockStateMessage,
  RequestFinishMessage,
  RequestStartMessage,
  ServiceChangeMessage,
  ServiceStateMessage,
  WatchChangeMessage,
  WatchErrorMessage,
  WatchStateMessage,
} from './diagnostics.js';
export type {
  ConsulErrorCode,
  ErrorDetails,
  LockLostCause,
  ServiceInstanceRef,
  ValidationIssue,
} from './errors.js';
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
  LockConflictError,
  LockLostError,
  MalformedResponseError,
  NoHealthyInstanceError,
  NoLeaderError,
  ProxyAuthRequiredError,
  RateLimitedError,
  ResponseTooLargeError,
  ServerError,
  ServiceConflictError,
  ServiceNotRegisteredError,
  TimeoutError,
  TransportError,
  TxnTooLargeError,
  UnauthorizedError,
  UnknownDatacenterError,
  ValueTooLargeError,
} from './errors.js';
export type {
  FlagChangeEvent,
  FlagEvents,
  FlagOptions,
  FlagReason,
  FlagType,
  FlagTypeOf,
  FlagValue,
  ParsedFlag,
  WidenFlag,
} from './flags/flag.js';
export { createFlag, Flag } from './flags/flag.js';
export type { LockClock } from './locks/clock.js';
export type { DemotedEvent, LeaderElectionEvents, LeaderElectionOptions } from './locks/leader-election.js';
export { LeaderElection, leaderElection } from './locks/leader-election.js';
export { Lock, lock } from './locks/lock.js';
export type {
  LockAcquiredEvent,
  LockEvents,
  LockLostEvent,
  LockOptions,
  LockState,
} from './locks/lock-options.js';
export { DEFAULT_LOCK_SESSION_NAME, LOCK_FLAG_VALUE } from './locks/lock-options.js';
export type { LogFn, Logger } from './logger.js';
export { Balancer, type BalancerOptions, type BalancerStrategy } from './services/balancer.js';
export type { HealthBody, HealthResponse } from './services/health-endpoint.js';
export { healthHandler, healthResponse } from './services/health-endpoint.js';
export type { ResolvedHealthReport } from './services/heartbeat.js';
export type {
  DeregisteredEvent,
  DrainingEvent,
  HealthChangeEvent,
  RegisteredEvent,
  RegistrationEvents,
  RegistrationState,
  ReregisteredEvent,
  ReregisterReason,
} from './services/registration.js';
export { registerService, ServiceRegistration } from './services/registration.js';
export type {
  HealthReport,
  HttpCheckOptions,
  RegisterServiceOptions,
  TcpCheckOptions,
} from './services/registration-options.js';
export type {
  Closable,
  CloseInOrderOptions,
  CloseResult,
  ShutdownHandle,
  ShutdownSignalOptions,
} from './services/shutdown.js';
export { closeInOrder, handleShutdownSignals } from './services/shutdown.js';
export { Subscription } from './watch/subscription.js';
export type {
  ChangeEvent,
  DebounceOptions,
  Decoder,
  InstanceChange,
  KeyChange,
  KvBudgetStats,
  LoopState,
  QueryStats,
  ServiceChangeEvent,
  ServiceEmptyEvent,
  ServiceListEvents,
  ServiceQueryStats,
  ServiceWatchOptions,
  StateEvent,
  SubscriptionEvents,
  SubscriptionState,
  UnknownKeysMode,
  WarningPolicy,
  WatchedEntry,
  WatcherCacheOptions,
  WatcherOptions,
  WatcherStats,
  WatchFormat,
  WatchOptions,
} from './watch/types.js';
export { ServiceList, Watcher } from './watch/watcher.js';
