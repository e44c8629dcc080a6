/**
 * `registerService()` and `ServiceRegistration`: one service instance kept registered on the local agent.
 * One loop registers (after checking the ID is not another instance's), heartbeats the TTL check, notices
 * when the agent forgot the service and registers it again, and retries failures with full-jitter backoff;
 * `close()` drains and deregisters on the same agent (consul-semantics §S7).
 * @module
 */
import { raceAbort, wait } from '../abort.js';
import { Backoff } from '../backoff.js';
import type { CheckStatus } from '../consul/agent.js';
import { ConsulClient } from '../consul/client.js';
import { type ServiceStateMessage, serviceStateChannel } from '../diagnostics.js';
import {
  AbortedError,
  BadRequestError,
  ClosedError,
  ConsulError,
  InvalidArgumentError,
  ServiceConflictError,
  ServiceNotRegisteredError,
  TransportError,
} from '../errors.js';
import { SafeEmitter } from '../events.js';
import { type Logger, resolveLogger } from '../logger.js';
import {
  evaluateHealth,
  HEARTBEATS_PER_TTL,
  heartbeatDelay,
  type ResolvedHealthReport,
} from './heartbeat.js';
import {
  type RegisterServiceOptions,
  type ResolvedRegistration,
  resolveRegistration,
} from './registration-options.js';
import { isTransient } from './retry.js';

/** Where a registration is in its life. */
export type RegistrationState =
  /** Not (yet, or no longer) known to hold a registration on the agent; the loop is trying. */
  | 'registering'
  /** Registered; heartbeats are running. */
  | 'registered'
  /** `close()` runs: maintenance on, drain, deregister. */
  | 'closing'
  /** Closed. */
  | 'closed'
  /** The agent refused the definition (400) or the ID is another instance's: nothing more is tried. */
  | 'failed';

/** Why the registration registered again. */
export type ReregisterReason =
  /** A heartbeat was answered `404 Unknown check ID`: the agent restarted or the service was removed. */
  | 'check-unknown'
  /** A heartbeat was answered `500 … does not have associated TTL`: someone re-registered the ID with other checks. */
  | 'check-not-ttl'
  /** Without a TTL check, the periodic read found the service gone. */
  | 'service-missing';

/** Payload of `registered`. */
export interface RegisteredEvent {
  id: string;
  name: string;
}

/** Payload of `reregistered`. */
export interface ReregisteredEvent {
  id: string;
  reason: ReregisterReason;
}

/** Payload of `health`: the status the heartbeat reports changed. */
export interface HealthChangeEvent {
  status: CheckStatus;
  output: string;
  /** undefined for the first report. */
  previous: CheckStatus | undefined;
}

/** Payload of `draining`. */
export interface DrainingEvent {
  id: string;
  drainMs: number;
}

/** Payload of `deregistered`. */
export interface DeregisteredEvent {
  id: string;
  /** false when the agent no longer knew the service (already reaped, or the agent restarted). */
  removed: boolean;
}

/** Events of a {@link ServiceRegistration}; each has one payload object. */
export interface RegistrationEvents {
  /** The first successful registration. */
  registered: (event: RegisteredEvent) => void;
  /** Registered again after the agent forgot the service (agent restart, reaped, replaced). */
  reregistered: (event: ReregisteredEvent) => void;
  /** The heartbeat's status changed (the app's health function decided). */
  health: (event: HealthChangeEvent) => void;
  /** A request failed; the loop retries (with full-jitter backoff, or every `retry.maxMs` for a 403). Also logged. */
  error: (error: ConsulError) => void;
  /** `close()` put the instance in maintenance and waits `drainMs` before deregistering. */
  draining: (event: DrainingEvent) => void;
  /** `close()` deregistered the service. */
  deregistered: (event: DeregisteredEvent) => void;
}

const MAINTENANCE_REASON = 'shutting down (consul-hotreload)';

/**
 * Registers a service instance on the local agent and keeps it registered until `close()`: see
 * {@link RegisterServiceOptions} for the defaults (TTL heartbeat every TTL/3, crash net of 1 minute).
 * Returns at once; {@link ServiceRegistration.ready} resolves on the first registration.
 *
 * @throws InvalidArgumentError listing every option Consul would refuse, before anything is sent
 * @throws ConfigurationError when the client configuration cannot be used
 */
export function registerService(options: RegisterServiceOptions): ServiceRegistration {
  return new ServiceRegistration(options);
}

/** One registered service instance; made by {@link registerService}. */
export class ServiceRegistration extends SafeEmitter<RegistrationEvents> {
  /** The service ID used on the agent. */
  readonly id: string;
  /** The service name. */
  readonly name: string;
  /**
   * Resolves on the first successful registration. Rejects with BadRequestError (the agent refused the
   * definition), ServiceConflictError (another instance holds the ID), AclDeniedError (403; the loop keeps
   * retrying every `retry.maxMs`) or ClosedError (closed first). Never an unhandled rejection.
   */
  readonly ready: Promise<void>;
  readonly #options: ResolvedRegistration;
  readonly #client: ConsulClient;
  readonly #log: Required<Logger>;
  readonly #stop = new AbortController();
  readonly #delays: Backoff;
  readonly #loop: Promise<void>;
  #state: RegistrationState = 'registering';
  #everRegistered = false;
  /** The last registration attempt found the ID held by another instance (and none succeeded since). */
  #conflicted = false;
  #status: CheckStatus | undefined;
  #readyPending = true;
  #resolveReady!: () => void;
  #rejectReady!: (error: ConsulError) => void;
  #closing: Promise<void> | undefined;
  /** Why the loop is registering again, for the `reregistered` event. */
  #pendingReason: ReregisterReason | undefined;

  /** Use {@link registerService}. */
  constructor(options: RegisterServiceOptions) {
    super((event, error) =>
      this.#log.error({ event, error, service: this.id }, 'a registration event listener threw'),
    );
    this.#options = resolveRegistration(options);
    this.#log = resolveLogger(options.logger ?? options.consul?.logger);
    for (const warning of this.#options.warnings) this.#log.warn({ service: this.#options.id }, warning);
    this.#client = new ConsulClient(options.consul);
    this.id = this.#options.id;
    this.name = this.#options.name;
    this.#delays = new Backoff({
      minMs: this.#options.retryMinMs,
      maxMs: this.#options.retryMaxMs,
      random: this.#options.random,
    });
    this.ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {});
    this.#loop = this.#run();
  }

  /** Where the registration is in its life. */
  get state(): RegistrationState {
    return this.#state;
  }

  /** The status the last heartbeat reported; undefined before the first. */
  get status(): CheckStatus | undefined {
    return this.#status;
  }

  /** The TTL check's ID (`service:<id>:ttl`), or undefined without a TTL check. */
  get checkId(): string | undefined {
    return this.#options.ttlCheckId;
  }

  /**
   * Runs the app's health function now (bounded by TTL/3, a throw counted as critical), as a heartbeat
   * would; `passing` when there is none. Used by the health endpoint helper.
   */
  evaluateHealth(): Promise<ResolvedHealthReport> {
    const { health, ttlMs } = this.#options;
    return evaluateHealth(health, (ttlMs ?? 3000) / HEARTBEATS_PER_TTL);
  }

  /**
   * Leaves gracefully, bounded by `closeTimeout`: stops the heartbeats, turns maintenance on (the instance
   * leaves `?passing` answers at once), waits `drain`, deregisters on the same agent (a 404 counts as done),
   * then closes the client. Failures are reported (`error`, logger), never thrown. Idempotent: every call
   * returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Same as {@link ServiceRegistration.close}. */
  deregister(): Promise<void> {
    return this.close();
  }

  /** Same as {@link ServiceRegistration.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The one loop: register when needed, then heartbeat (or resync), until stopped or failed. */
  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    let registered = false;
    while (!signal.aborted) {
      let delayMs: number;
      let justRegistered = false;
      try {
        if (!registered) {
          const again = this.#everRegistered;
          await this.#register(signal);
          registered = true;
          justRegistered = true;
          this.#onRegistered(again);
        }
        await this.#beat(signal);
        this.#delays.reset();
        delayMs = this.#nextBeatMs();
      } catch (error) {
        if (signal.aborted) return;
        const reason = reregisterReason(error);
        const failure = asConsulError(error);
        if (failure instanceof ServiceConflictError) this.#conflicted = true;
        if (reason !== undefined) {
          registered = false;
          this.#state = 'registering';
          this.#pendingReason = reason;
          this.#log.warn({ service: this.id, reason }, 'the agent forgot the service; registering it again');
          // Forgotten right after registering (something keeps removing it): wait, never a tight loop.
          if (!justRegistered) continue;
        }
        if (this.#isTerminal(failure)) {
          this.#fail(failure);
          return;
        }
        // While registered, a retry never waits longer than the next heartbeat would, so the TTL holds.
        const capMs = registered ? this.#nextBeatMs() : Number.POSITIVE_INFINITY;
        delayMs = isTransient(failure) ? this.#delays.next(capMs) : this.#delays.slow(capMs);
        this.#report(failure, delayMs);
      }
      await wait(delayMs, signal);
    }
  }

  /** consul-semantics §S7: an ID held by another instance is a conflict unless `replace`; then register with replace-existing-checks. */
  async #register(signal: AbortSignal): Promise<void> {
    const { id, address, port, definition, replace } = this.#options;
    if (!replace) {
      const existing = await this.#client.agent.service(id, { signal });
      if (existing !== null && !this.#isOurs(existing)) {
        throw new ServiceConflictError(
          `registerService ${id}: the agent already holds this ID for another instance (${existing.address || '(node address)'}:${existing.port}, not ${address || '(node address)'}:${port}); give each instance its own id, or pass replace: true to take it over`,
          { operation: 'agent.service.register', key: id },
          { id, address: existing.address, port: existing.port },
        );
      }
    }
    await this.#client.agent.register(definition, { signal });
  }

  /** Whether the agent's registration of our ID is this instance's (same address and port). */
  #isOurs(service: { address: string; port: number }): boolean {
    return service.address === this.#options.address && service.port === this.#options.port;
  }

  #onRegistered(again: boolean): void {
    this.#everRegistered = true;
    this.#conflicted = false;
    this.#delays.reset();
    if (this.#state === 'registering') this.#state = 'registered';
    if (again) {
      const reason = this.#pendingReason ?? 'check-unknown';
      this.#pendingReason = undefined;
      this.#log.info({ service: this.id, reason }, 'service registered again');
      this.emit('reregistered', { id: this.id, reason });
      this.#publish({ event: 'reregistered', reason });
      return;
    }
    this.#log.info({ service: this.id, name: this.name }, 'service registered');
    if (this.#readyPending) {
      this.#readyPending = false;
      this.#resolveReady();
    }
    this.emit('registered', { id: this.id, name: this.name });
    this.#publish({ event: 'registered' });
  }

  /** Mirrors a state event on the `consul-hotreload:service:state` channel (docs/diagnostics.md). */
  #publish(message: Omit<ServiceStateMessage, 'id' | 'name'>): void {
    if (serviceStateChannel.hasSubscribers) {
      serviceStateChannel.publish({ id: this.id, name: this.name, ...message } satisfies ServiceStateMessage);
    }
  }

  /** One heartbeat (the app's health sent as the TTL check's status), or without a TTL check a read of the service. */
  async #beat(signal: AbortSignal): Promise<void> {
    const checkId = this.#options.ttlCheckId;
    if (checkId === undefined) {
      const service = await this.#client.agent.service(this.id, { signal });
      if (service === null) {
        throw new ServiceNotRegisteredError(
          `registerService ${this.id}: the agent no longer knows the service`,
          {
            operation: 'agent.service',
            key: this.id,
            status: 404,
          },
        );
      }
      return;
    }
    // Raced with the stop signal, so close() never waits for a slow health function.
    const report = await raceAbort(this.evaluateHealth(), signal);
    // A hung connection must not outlast the TTL: give up at the heartbeat interval and retry.
    const timeout = (this.#options.ttlMs ?? 0) / HEARTBEATS_PER_TTL;
    await this.#client.agent.updateCheck(checkId, report.status, report.output, { signal, timeout });
    if (report.status !== this.#status) {
      const previous = this.#status;
      this.#status = report.status;
      this.emit('health', { status: report.status, output: report.output, previous });
      this.#publish({ event: 'health', status: report.status, previous });
    }
  }

  #nextBeatMs(): number {
    const { ttlMs, resyncIntervalMs, random } = this.#options;
    return ttlMs === undefined ? resyncIntervalMs : heartbeatDelay(ttlMs, random);
  }

  /** 400 and invalid arguments never get better; a conflict on the first registration stops it too. */
  #isTerminal(error: ConsulError): boolean {
    if (error instanceof BadRequestError || error instanceof InvalidArgumentError) return true;
    return error instanceof ServiceConflictError && !this.#everRegistered;
  }

  #fail(error: ConsulError): void {
    this.#state = 'failed';
    this.#log.error({ service: this.id, error }, `service registration failed: ${error.message}`);
    this.emit('error', error);
    this.#settleReady(error);
  }

  #report(error: ConsulError, retryInMs: number): void {
    const transient = isTransient(error);
    this.#log.warn(
      { service: this.id, code: error.code, retryInMs },
      `${error.message}; retrying in ${retryInMs} ms${transient ? '' : ' (not a transient failure: retrying slowly)'}`,
    );
    this.emit('error', error);
    // A 403 will not heal soon: tell a caller awaiting `ready` now, and keep trying slowly.
    if (!transient && !this.#everRegistered) this.#settleReady(error);
  }

  #settleReady(error: ConsulError): void {
    if (!this.#readyPending) return;
    this.#readyPending = false;
    this.#rejectReady(error);
  }

  async #shutdown(): Promise<void> {
    const previous = this.#state;
    this.#state = 'closing';
    this.#stop.abort();
    await this.#loop;
    this.#settleReady(
      new ClosedError(`registerService ${this.id}: closed before the service was registered`, {
        operation: 'registerService',
        key: this.id,
      }),
    );
    const { closeTimeoutMs, drainMs } = this.#options;
    // Maintenance and drain end halfway between the drain and closeTimeout: the deregister keeps the rest.
    const leaving = new AbortController();
    const deadline = new AbortController();
    const timers = [
      setTimeout(() => leaving.abort(), Math.floor((closeTimeoutMs + drainMs) / 2)),
      setTimeout(() => deadline.abort(), closeTimeoutMs),
    ];
    try {
      if (previous !== 'failed') await this.#leave(leaving.signal, deadline.signal);
    } finally {
      for (const timer of timers) clearTimeout(timer);
      await this.#client.close();
      this.#state = 'closed';
    }
  }

  /**
   * consul-semantics §S7: maintenance on, drain, deregister, each failure reported and the next step still
   * tried. `leaving` bounds maintenance and drain, `deadline` the deregister.
   */
  async #leave(leaving: AbortSignal, deadline: AbortSignal): Promise<void> {
    const signal = leaving;
    const { drainMs } = this.#options;
    // The ID may be another instance's by now (it registered over ours): leave that one alone.
    const holder = await this.#holder(signal);
    if (holder === 'other' || (holder === 'unknown' && this.#conflicted)) {
      this.#log.warn(
        { service: this.id },
        'close: the agent holds this ID for another instance; not deregistering it',
      );
      return;
    }
    if (holder === 'gone') {
      this.#log.info({ service: this.id, removed: false }, 'service deregistered');
      this.emit('deregistered', { id: this.id, removed: false });
      this.#publish({ event: 'deregistered', removed: false });
      return;
    }
    let inMaintenance = false;
    if (this.#everRegistered) {
      try {
        await this.#client.agent.maintenance(this.id, true, { reason: MAINTENANCE_REASON, signal });
        inMaintenance = true;
      } catch (error) {
        if (!(error instanceof ServiceNotRegisteredError)) this.#reportClose(error, 'maintenance');
      }
    }
    if (inMaintenance) {
      this.emit('draining', { id: this.id, drainMs });
      this.#publish({ event: 'draining', drainMs });
      if (drainMs > 0 && !(await wait(drainMs, signal))) {
        this.#log.warn({ service: this.id, drainMs }, 'close: drain cut short to leave time to deregister');
      }
    }
    try {
      const removed = await this.#client.agent.deregister(this.id, { signal: deadline });
      this.#log.info({ service: this.id, removed }, 'service deregistered');
      this.emit('deregistered', { id: this.id, removed });
      this.#publish({ event: 'deregistered', removed });
    } catch (error) {
      this.#reportClose(error, 'deregister');
    }
  }

  /** Who holds our ID on the agent now; `unknown` when the read failed (reported). */
  async #holder(signal: AbortSignal): Promise<'ours' | 'other' | 'gone' | 'unknown'> {
    try {
      const service = await this.#client.agent.service(this.id, { signal });
      if (service === null) return 'gone';
      return this.#isOurs(service) ? 'ours' : 'other';
    } catch (error) {
      this.#reportClose(error, 'read');
      return 'unknown';
    }
  }

  #reportClose(error: unknown, step: string): void {
    const failure = asConsulError(error);
    this.#log.error({ service: this.id, step, code: failure.code }, `close: ${failure.message}`);
    this.emit('error', failure);
  }
}

/** Which answers mean the agent forgot the service (consul-semantics §S2.5, §S7). */
function reregisterReason(error: unknown): ReregisterReason | undefined {
  if (!(error instanceof ServiceNotRegisteredError)) return undefined;
  if (error.operation === 'agent.service') return 'service-missing';
  return error.status === 404 ? 'check-unknown' : 'check-not-ttl';
}

function asConsulError(error: unknown): ConsulError {
  if (error instanceof ConsulError) return error;
  if (error instanceof Error && error.name === 'AbortError') {
    return new AbortedError('registerService: aborted', { operation: 'registerService', cause: error });
  }
  return new TransportError(`registerService: unexpected failure: ${String(error)}`, {
    operation: 'registerService',
    cause: error,
  });
}
