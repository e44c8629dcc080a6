/**
 * Balancer: picks one instance of a live service list per call (round-robin, weighted or random), ejects
 * instances the caller reports as failing for a while (passive outlier detection), and says so with a
 * typed error when none is left, unless panic mode is on.
 * @module
 */

import { checkTimerMs, parseDuration } from '../consul/duration.js';
import type { ServiceInstance } from '../consul/health.js';
import { InvalidArgumentError, NoHealthyInstanceError } from '../errors.js';
import type { ServiceList } from '../watch/watcher.js';

/**
 * How {@link Balancer.pick} chooses among the healthy instances:
 * - `'round-robin'`: each in turn, in the list's order;
 * - `'weighted'`: at random, in proportion to `Weights.Passing` (`Weights.Warning` for an instance whose
 *   status is `warning`); an instance of weight 0 is never picked;
 * - `'random'`: uniformly at random.
 */
export type BalancerStrategy = 'round-robin' | 'weighted' | 'random';

/** Options of {@link Balancer}. */
export interface BalancerOptions {
  /** @default 'round-robin' */
  strategy?: BalancerStrategy;
  /**
   * How long an instance passed to {@link Balancer.reportFailure} is left out: ms or a Go duration.
   * `0` turns ejection off (reports are ignored).
   * @default '30s'
   */
  ejectFor?: number | string;
  /**
   * The largest share, in percent, of the healthy listed instances that reports may eject at once (Envoy's
   * `max_ejection_percent`): past it a report is ignored, so a failure on the caller's side (its network, a
   * bad deploy of the caller) cannot empty the pool. One instance can always be ejected. `100` lets reports
   * eject every instance.
   * @default 50
   */
  maxEjectionPercent?: number;
  /**
   * When no instance is healthy (none listed as passing or warning, or all ejected), pick among every listed
   * instance but those in maintenance rather than throw, as Envoy's panic mode does. To reach `critical`
   * instances in panic, build the balancer on a list watched with `passing: false`.
   * @default false (pick() throws NoHealthyInstanceError)
   */
  panic?: boolean;
  /**
   * Randomness in [0, 1), for `weighted` and `random`; tests pass a fixed function.
   * @default Math.random
   */
  random?: () => number;
  /**
   * Clock in ms, for ejections.
   * @default Date.now
   */
  now?: () => number;
}

/** Defaults of {@link BalancerOptions}. */
export const BALANCER_DEFAULTS = {
  strategy: 'round-robin',
  ejectForMs: 30_000,
  maxEjectionPercent: 50,
  panic: false,
} as const;

const OPERATION = 'balancer';

function identity(instance: ServiceInstance): string {
  return `${instance.node}\u0000${instance.id}`;
}

/** Whether an instance may serve: `passing` or `warning` (a list's `warning` policy decides if those are listed). */
function isHealthy(instance: ServiceInstance): boolean {
  return instance.status === 'passing' || instance.status === 'warning';
}

function weightOf(instance: ServiceInstance): number {
  return instance.status === 'warning' ? instance.weights.warning : instance.weights.passing;
}

/**
 * Picks instances of a {@link ServiceList}. It reads the list's `instances` at every pick, and the list
 * replaces that array in one step per Consul answer, so a pick never sees half an update. It listens to the
 * list's `change` events (to forget ejections of instances that left) for as long as the list lives: make one
 * balancer per list, not one per request.
 *
 * @example
 * ```ts
 * const list = watcher.service('api');
 * await list.ready;
 * const balancer = new Balancer(list, { strategy: 'weighted' });
 * const { address, port } = balancer.pick();
 * ```
 */
export class Balancer {
  readonly #list: ServiceList;
  readonly #strategy: BalancerStrategy;
  readonly #ejectForMs: number;
  readonly #maxEjectionPercent: number;
  readonly #panic: boolean;
  readonly #random: () => number;
  readonly #now: () => number;
  /** Ejected instances by identity, with the time they come back. */
  readonly #ejected = new Map<string, number>();
  #next = 0;

  /** @throws InvalidArgumentError naming the option when an option cannot be used */
  constructor(list: ServiceList, options: BalancerOptions = {}) {
    const strategy = options.strategy ?? BALANCER_DEFAULTS.strategy;
    if (strategy !== 'round-robin' && strategy !== 'weighted' && strategy !== 'random') {
      throw invalid(`strategy must be 'round-robin', 'weighted' or 'random'; got ${String(strategy)}`);
    }
    for (const name of ['random', 'now'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') {
        throw invalid(`${name} must be a function`);
      }
    }
    const ejectForMs =
      options.ejectFor === undefined
        ? BALANCER_DEFAULTS.ejectForMs
        : checkTimerMs(parseDuration(options.ejectFor, 'ejectFor', OPERATION), 'ejectFor', OPERATION);
    this.#list = list;
    this.#strategy = strategy;
    this.#ejectForMs = ejectForMs;
    const maxEjectionPercent = options.maxEjectionPercent ?? BALANCER_DEFAULTS.maxEjectionPercent;
    if (typeof maxEjectionPercent !== 'number' || !(maxEjectionPercent >= 0 && maxEjectionPercent <= 100))
      throw invalid(`maxEjectionPercent must be a number from 0 to 100; got ${String(maxEjectionPercent)}`);
    this.#maxEjectionPercent = maxEjectionPercent;
    this.#panic = options.panic ?? BALANCER_DEFAULTS.panic;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    list.on('change', () => this.#forgetUnlisted());
  }

  /** An instance that left is forgotten: it comes back as a new registration, and the map never grows with churn. */
  #forgetUnlisted(): void {
    if (this.#ejected.size === 0) return;
    const listed = new Set(this.#list.instances.map(identity));
    for (const key of this.#ejected.keys()) if (!listed.has(key)) this.#ejected.delete(key);
  }

  /** The healthy instances a pick chooses from now: listed, passing or warning, not ejected. */
  get healthy(): ServiceInstance[] {
    const now = this.#now();
    return this.#list.instances.filter((instance) => isHealthy(instance) && !this.#isEjected(instance, now));
  }

  /**
   * One instance to send a request to.
   * @throws NoHealthyInstanceError when no instance is healthy and panic mode is off, or nothing is listed
   */
  pick(): ServiceInstance {
    let candidates = this.healthy;
    if (this.#strategy === 'weighted') candidates = candidates.filter((instance) => weightOf(instance) > 0);
    if (candidates.length === 0 && this.#panic) {
      candidates = this.#list.instances.filter((instance) => instance.status !== 'maintenance');
    }
    if (candidates.length === 0) throw this.#noneHealthy();
    if (this.#strategy === 'random') return candidates[this.#index(candidates.length)]!;
    if (this.#strategy === 'weighted') return this.#weighted(candidates);
    const picked = candidates[this.#next % candidates.length]!;
    this.#next = (this.#next + 1) % Number.MAX_SAFE_INTEGER;
    return picked;
  }

  /**
   * Leaves the instance out of picks for `ejectFor` (counted from now; a second report restarts it). It
   * comes back by itself, or at once when Consul lists it as a new registration after it left. Returns false
   * when the report was ignored: ejection is off, or `maxEjectionPercent` of the healthy instances are out.
   */
  reportFailure(instance: ServiceInstance): boolean {
    if (this.#ejectForMs === 0) return false;
    const now = this.#now();
    if (!this.#isEjected(instance, now)) {
      const serving = this.#list.instances.filter(isHealthy);
      const out = serving.filter((candidate) => this.#isEjected(candidate, now)).length;
      const cap = Math.max(1, Math.floor((serving.length * this.#maxEjectionPercent) / 100));
      if (out >= cap) return false;
    }
    this.#ejected.set(identity(instance), now + this.#ejectForMs);
    return true;
  }

  /** Instances currently ejected, among those listed. */
  get ejected(): ServiceInstance[] {
    const now = this.#now();
    return this.#list.instances.filter((instance) => this.#isEjected(instance, now));
  }

  #isEjected(instance: ServiceInstance, now: number): boolean {
    const until = this.#ejected.get(identity(instance));
    if (until === undefined) return false;
    if (until > now) return true;
    this.#ejected.delete(identity(instance));
    return false;
  }

  #index(length: number): number {
    return Math.min(length - 1, Math.floor(this.#random() * length));
  }

  #weighted(candidates: readonly ServiceInstance[]): ServiceInstance {
    let total = 0;
    for (const instance of candidates) total += weightOf(instance);
    // Panic candidates may all weigh 0: fall back to a uniform pick among them.
    if (total === 0) return candidates[this.#index(candidates.length)]!;
    let point = this.#random() * total;
    for (const instance of candidates) {
      point -= weightOf(instance);
      if (point < 0) return instance;
    }
    return candidates[candidates.length - 1]!;
  }

  #noneHealthy(): NoHealthyInstanceError {
    const listed = this.#list.instances.length;
    const ejected = this.ejected.length;
    const service = this.#list.service;
    const why =
      listed === 0
        ? 'Consul lists no instance'
        : `${listed} listed, ${ejected} of them ejected after reported failures, the others not passing${this.#strategy === 'weighted' ? ' or of weight 0' : ''}`;
    return new NoHealthyInstanceError(
      `balancer ${service}: no healthy instance (${why}); retry later, or set panic: true to use every listed instance`,
      { operation: OPERATION, key: service },
    );
  }
}

function invalid(message: string): InvalidArgumentError {
  return new InvalidArgumentError(`Balancer: ${message}`, { operation: OPERATION });
}
