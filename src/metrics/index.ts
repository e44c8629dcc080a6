/**
 * `consul-hotreload/metrics`: OpenTelemetry metrics for a Watcher (docs/metrics.md). Needs the optional peer
 * dependency `@opentelemetry/api`; the main entry never loads it.
 * @module
 */

export type {
  InstrumentedWatcher,
  InstrumentWatcherOptions,
  WatcherInstrumentation,
} from './opentelemetry.js';
export { instrumentWatcher } from './opentelemetry.js';
