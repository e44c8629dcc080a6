/**
 * consul-hotreload/devserver: the embedded Consul-compatible dev server and its fault injection, for demos,
 * tests and outage rehearsal. A peer of the library, never built on it; kept out of the main entry so a
 * production `import { Watcher }` does not load it.
 * @module
 */
export type { CheckChangeEvent, HealthCheck, ServiceInstance } from './catalog.js';
export type { ActiveFault, Fault, FaultInjector, FaultRule } from './faults.js';
export { parseChaosSpec } from './faults.js';
export type {
  DevServer,
  DevServerAgent,
  DevServerBlockingKind,
  DevServerClock,
  DevServerEntry,
  DevServerKv,
  DevServerOptions,
  DevServerSeed,
  DevServerStats,
} from './server.js';
export { startDevServer } from './server.js';
export type { Session, SessionCheckStatus, SessionChecks, SessionStore } from './sessions.js';
