/**
 * Runs the agent's checks on an injectable clock: TTL expiry, HTTP and TCP probes on their staggered
 * interval with Consul's thresholds, and the reaper for `DeregisterCriticalServiceAfter` (consul-semantics §S2).
 * @module
 */
import type { Catalog, CheckChangeEvent, HealthCheck } from './catalog.js';
import { hungProbeResult, type ProbeResult, probeHttp, probeTcp, timeoutOf } from './check-probes.js';
import type { CheckSpec, CheckStatus } from './service-definition.js';

/** The clock the checks run on; tests pass one they drive. */
export interface DevServerClock {
  /** Milliseconds, like `Date.now()`. */
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options of {@link ChecksRunner}, resolved by the server. */
export interface ChecksRunnerOptions {
  readonly catalog: Catalog;
  readonly clock: DevServerClock;
  /** [0, 1) for the first-run stagger. */
  readonly random: () => number;
  /** consul-semantics §S2.6: how often the reaper looks (`check_reap_interval`). */
  readonly reapIntervalMs: number;
  /** consul-semantics §S2.6: the floor of `DeregisterCriticalServiceAfter` (`check_deregister_interval_min`). */
  readonly deregisterMinMs: number;
  /** Whether this run of the check's probe meets a target that hangs (consumes a `check-hang` fault). */
  readonly probeHangs?: (checkId: string) => boolean;
}

/** consul-semantics §S2.3: intervals below 1s are raised to 1s. */
export const MIN_INTERVAL_MS = 1000;
/** consul-semantics §S2.5: the agent keeps this much of a TTL update's output. */
const TTL_OUTPUT_MAX = 4096;

interface Running {
  timer: unknown;
  stopped: boolean;
  /** StatusHandler counters (consul-semantics §S2.4); they start at their thresholds. */
  successes: number;
  failures: number;
  /** The last output a TTL update gave, for the expiry text. */
  lastTtlOutput: string;
}

/** Truncates a TTL update's output the way the agent does (consul-semantics §S2.5). */
export function truncateTtlOutput(output: string): string {
  const bytes = Buffer.from(output, 'utf8');
  if (bytes.length <= TTL_OUTPUT_MAX) return output;
  return `${bytes.subarray(0, TTL_OUTPUT_MAX).toString('utf8')} ... (captured ${TTL_OUTPUT_MAX} of ${bytes.length} bytes)`;
}

/** The dev server's check runner. */
export class ChecksRunner {
  readonly #options: ChecksRunnerOptions;
  readonly #running = new Map<string, Running>();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #unsubscribe: () => void;
  #reapTimer: unknown;
  #closed = false;

  constructor(options: ChecksRunnerOptions) {
    this.#options = options;
    this.#unsubscribe = options.catalog.onCheckChange((event) => this.#onChange(event));
    this.#armReaper();
  }

  /** Starts (or restarts) running a check that was just registered. */
  start(check: HealthCheck): void {
    this.stop(check.checkId);
    const spec = check.spec;
    if (this.#closed || spec === undefined) return;
    const running: Running = {
      timer: undefined,
      stopped: false,
      successes: spec.successBeforePassing,
      failures: spec.failuresBeforeCritical,
      lastTtlOutput: '',
    };
    this.#running.set(check.checkId, running);
    if (spec.type === 'ttl') {
      this.#armTtl(check.checkId, running, spec);
      return;
    }
    if (spec.type !== 'http' && spec.type !== 'tcp') return;
    const intervalMs = Math.max(spec.intervalMs, MIN_INTERVAL_MS);
    // consul-semantics §S2.3: the first run comes after a random stagger in [0, interval).
    this.#schedule(check.checkId, running, spec, Math.floor(this.#options.random() * intervalMs));
  }

  /** Stops running a check (deregistered or replaced). */
  stop(checkId: string): void {
    const running = this.#running.get(checkId);
    if (running === undefined) return;
    running.stopped = true;
    this.#options.clock.clearTimeout(running.timer);
    this.#running.delete(checkId);
  }

  /** A TTL update arrived (consul-semantics §S2.5): set the status and re-arm the expiry. */
  updateTtl(checkId: string, status: CheckStatus, output: string): void {
    const truncated = truncateTtlOutput(output);
    this.#options.catalog.updateCheck(checkId, status, truncated);
    const running = this.#running.get(checkId);
    const spec = this.#options.catalog.check(checkId)?.spec;
    if (running === undefined || spec === undefined) return;
    running.lastTtlOutput = truncated;
    this.#armTtl(checkId, running, spec);
  }

  /** Resolves once every probe in flight now has written its result. */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** Runs one reaper pass now (consul-semantics §S2.6); returns the IDs of the services it removed. */
  reap(): string[] {
    const { catalog, clock, deregisterMinMs } = this.#options;
    const now = clock.now();
    const reaped: string[] = [];
    for (const check of catalog.checks()) {
      const afterMs = check.spec?.deregisterCriticalServiceAfterMs ?? 0;
      if (afterMs <= 0 || check.serviceId === '' || check.criticalSinceMs === undefined) continue;
      if (now - check.criticalSinceMs <= Math.max(afterMs, deregisterMinMs)) continue;
      if (catalog.deregisterService(check.serviceId)) reaped.push(check.serviceId);
    }
    return reaped;
  }

  /** Stops every timer; probes in flight finish but write nothing. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    this.#options.clock.clearTimeout(this.#reapTimer);
    for (const id of [...this.#running.keys()]) this.stop(id);
  }

  #armReaper(): void {
    if (this.#closed) return;
    this.#reapTimer = this.#options.clock.setTimeout(() => {
      this.reap();
      this.#armReaper();
    }, this.#options.reapIntervalMs);
  }

  #armTtl(checkId: string, running: Running, spec: CheckSpec): void {
    const { clock, catalog } = this.#options;
    clock.clearTimeout(running.timer);
    running.timer = clock.setTimeout(() => {
      if (running.stopped) return;
      // consul-semantics §S2.5: not re-armed until the next update.
      const output =
        running.lastTtlOutput === ''
          ? 'TTL expired'
          : `TTL expired (last output before timeout follows): ${running.lastTtlOutput}`;
      catalog.updateCheck(checkId, 'critical', output);
    }, spec.ttlMs);
  }

  #schedule(checkId: string, running: Running, spec: CheckSpec, delayMs: number): void {
    const { clock, probeHangs } = this.#options;
    running.timer = clock.setTimeout(() => {
      if (running.stopped) return;
      if (probeHangs?.(checkId) === true) {
        // The target never answers: the probe gives up at its Timeout, timed by the checks' clock.
        running.timer = clock.setTimeout(() => {
          if (running.stopped) return;
          this.#applyResult(checkId, running, spec, hungProbeResult(spec));
          this.#schedule(checkId, running, spec, Math.max(spec.intervalMs, MIN_INTERVAL_MS));
        }, timeoutOf(spec));
        return;
      }
      const probe = (spec.type === 'http' ? probeHttp(spec) : probeTcp(spec)).then((result) => {
        if (running.stopped) return;
        this.#applyResult(checkId, running, spec, result);
        this.#schedule(checkId, running, spec, Math.max(spec.intervalMs, MIN_INTERVAL_MS));
      });
      this.#inFlight.add(probe);
      void probe.finally(() => this.#inFlight.delete(probe));
    }, delayMs);
  }

  /** Consul's StatusHandler (consul-semantics §S2.4): thresholds before passing, warning and critical. */
  #applyResult(checkId: string, running: Running, spec: CheckSpec, result: ProbeResult): void {
    const { catalog } = this.#options;
    if (result.status !== 'critical') {
      running.successes++;
      running.failures = 0;
      if (running.successes >= spec.successBeforePassing)
        catalog.updateCheck(checkId, result.status, result.output);
      return;
    }
    running.failures++;
    running.successes = 0;
    if (running.failures >= spec.failuresBeforeCritical) {
      catalog.updateCheck(checkId, 'critical', result.output);
    } else if (running.failures >= spec.failuresBeforeWarning) {
      catalog.updateCheck(checkId, 'warning', result.output);
    }
  }

  #onChange(event: CheckChangeEvent): void {
    if (event.status === undefined) this.stop(event.checkId);
  }
}

/** The real clock. */
export const SYSTEM_CLOCK: DevServerClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, Math.min(ms, 2 ** 31 - 1)),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
