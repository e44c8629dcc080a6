/**
 * ServiceList: the live, typed instances of one service as `Watcher.service()` hands them out: `ready`,
 * `instances`, `state` and one `change` event per Consul answer that changed the list (added, removed,
 * changed), plus `empty` when no instance is left. Fed whole answers by its query (query-health.ts).
 *
 * With a last-known-good cache, a list that has no instances yet when its query first fails (or when
 * `startTimeout` ends) restores the saved answer and serves it as `stale` until Consul answers.
 * @module
 */
import type { LkgStore } from '../cache/lkg-store.js';
import {
  type HealthServiceEntry,
  parseHealthBody,
  type ServiceInstance,
  sameInstance,
  toInstance,
} from '../consul/health.js';
import { type ServiceChangeMessage, watchChangeChannel, watchErrorChannel } from '../diagnostics.js';
import { ClosedError, type ConsulError, TimeoutError } from '../errors.js';
import { SafeEmitter } from '../events.js';
import type { Logger } from '../logger.js';
import { Readiness } from './readiness.js';
import { kError, kHealth } from './subscription.js';
import type {
  InstanceChange,
  LoopState,
  ServiceChangeEvent,
  ServiceListEvents,
  SubscriptionState,
  WarningPolicy,
} from './types.js';

/** Internal entry point: the query hands a list every changed answer. Not part of the public API. */
export const kApply: unique symbol = Symbol('consul-hotreload.service.apply');

/** Everything a list needs from its watcher, resolved once. */
export interface ServiceListInit {
  service: string;
  passing: boolean;
  warning: WarningPolicy;
  /** 0 = no start timeout. */
  startTimeoutMs: number;
  logger: Required<Logger>;
  /** The key of this list's snapshot in the last-known-good cache (its query's target). */
  cacheKey: string;
  store: LkgStore | undefined;
  /** Called once by `close()`: stops feeding the list (and the query, if it was the last). */
  detach: (list: ServiceList) => Promise<void>;
}

const OPERATION = 'watch.service';

/** How an instance is told apart from the others: a service ID is unique on its node. */
function identity(instance: ServiceInstance): string {
  return `${instance.node}\u0000${instance.id}`;
}

/**
 * The live instances of one service. Created by `Watcher.service()`.
 *
 * State is updated before an event is emitted: `instances` is already new when `change` fires. A listener
 * that throws is logged and published on `consul-hotreload:watch:error`; the others still get the event.
 */
export class ServiceList extends SafeEmitter<ServiceListEvents> {
  /** The service's name. */
  readonly service: string;
  /**
   * Resolves with the first list, empty or not. Rejects with the error when Consul refuses the read (403,
   * unknown datacenter, 400), with TimeoutError after `startTimeout`, with ClosedError when closed first.
   * After a rejection the watch keeps going and announces the list with `change`. Never an unhandled rejection.
   */
  readonly ready: Promise<readonly ServiceInstance[]>;
  readonly #init: ServiceListInit;
  readonly #readiness: Readiness<readonly ServiceInstance[]>;
  #lastError: ConsulError | undefined;
  #instances: readonly ServiceInstance[] = [];
  /**
   * The listed instances by identity, in list order, to tell a changed instance from an unchanged one by
   * comparing fields (no JSON per instance and answer).
   */
  #byIdentity = new Map<string, ServiceInstance>();
  #hasList = false;
  #index = 0;
  #queryStale = false;
  /** The list came from the last-known-good cache and no live answer has been applied since. */
  #fromCache = false;
  #cacheAttempt: Promise<boolean> | undefined;
  #closing: Promise<void> | undefined;

  /** @internal Use `Watcher.service()`. */
  constructor(init: ServiceListInit) {
    super((event, error) => {
      init.logger.error(
        { service: init.service, event, err: error },
        `watch service ${init.service}: a '${event}' listener threw`,
      );
      if (watchErrorChannel.hasSubscribers) watchErrorChannel.publish({ key: init.cacheKey, error });
    });
    this.service = init.service;
    this.#init = init;
    this.#readiness = new Readiness({
      startTimeoutMs: init.startTimeoutMs,
      onStartTimeout: () => this.#startTimedOut(),
      onState: (event) => this.emit('state', event),
    });
    this.ready = this.#readiness.ready;
  }

  /** The instances now, in Consul's order (a new array per change; do not modify it). */
  get instances(): readonly ServiceInstance[] {
    return this.#instances;
  }

  /** See {@link SubscriptionState}. */
  get state(): SubscriptionState {
    return this.#readiness.state;
  }

  /** `X-Consul-Index` of the last answer applied; 0 before the first. */
  get index(): number {
    return this.#index;
  }

  /**
   * Stops the list: `ready` rejects with ClosedError if still pending, a last `state` event (`closed`) is
   * emitted, listeners are removed, timers cleared. The last list of its query aborts the query's request;
   * the promise resolves once it has ended. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#readiness.reject(
      new ClosedError(`watch service ${this.service}: closed before Consul answered`, {
        operation: OPERATION,
        key: this.service,
        cause: this.#lastError,
      }),
    );
    this.#readiness.setState('closed');
    this.removeAllListeners();
    this.#closing = this.#init.detach(this);
    return this.#closing;
  }

  /** Same as {@link ServiceList.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal One answer of the query (the first, or one that differs from the one before). */
  [kApply](entries: readonly HealthServiceEntry[], index: number): void {
    if (this.#readiness.state === 'closed') return;
    const leftCache = this.#fromCache;
    this.#fromCache = false;
    this.#index = index;
    this.#commit(entries, leftCache);
    if (!leftCache) this.#persist(entries, index);
  }

  /** @internal The query's health changed (or, for a late list, is this). */
  [kHealth](state: LoopState): void {
    this.#queryStale = state === 'stale';
    if (this.#fromCache) return;
    this.#readiness.followHealth(state);
  }

  /** @internal A request of the query failed (already logged and published by the query). */
  [kError](error: ConsulError): void {
    if (this.#readiness.state === 'closed') return;
    this.#lastError = error;
    // As for KV subscriptions: what retrying will not fix fails `ready` now; an outage starts from the cache.
    if (!error.retryable) this.#readiness.reject(error);
    else if (this.#init.store !== undefined && this.#readiness.pending) void this.#useCache();
    this.emit('error', error);
  }

  /** Whether an instance belongs in the list under the `passing` and `warning` options. */
  #keeps(instance: ServiceInstance): boolean {
    if (!this.#init.passing) return true;
    if (instance.status === 'passing') return true;
    return instance.status === 'warning' && this.#init.warning === 'include';
  }

  /** Applies a whole answer: one `change` with every difference, then `empty` if nothing is left. */
  #commit(entries: readonly HealthServiceEntry[], leftCache: boolean): void {
    const instances: ServiceInstance[] = [];
    const byIdentity = new Map<string, ServiceInstance>();
    const added: ServiceInstance[] = [];
    const changed: InstanceChange[] = [];
    const previousById = this.#byIdentity;
    for (const entry of entries) {
      const instance = toInstance(entry);
      if (!this.#keeps(instance)) continue;
      const id = identity(instance);
      // Two entries for one identity mean a malformed answer in practice; the first one wins.
      if (byIdentity.has(id)) continue;
      byIdentity.set(id, instance);
      instances.push(instance);
      const previous = previousById.get(id);
      if (previous === undefined) added.push(instance);
      else if (!sameInstance(instance, previous)) changed.push({ instance, previous });
    }
    const removed: ServiceInstance[] = [];
    for (const [id, instance] of previousById) if (!byIdentity.has(id)) removed.push(instance);
    const first = !this.#hasList;
    const wasEmpty = this.#instances.length === 0;
    const differs = added.length > 0 || removed.length > 0 || changed.length > 0;
    // An answer that changes nothing this list keeps (another list's filter, a reordering) keeps its identity.
    if (differs || first) {
      this.#instances = instances;
      this.#byIdentity = byIdentity;
    }
    this.#hasList = true;
    this.#readiness.clearStartTimer();
    if (this.#readiness.state === 'connecting' || leftCache) {
      this.#readiness.setState(this.#fromCache || this.#queryStale ? 'stale' : 'ready');
    }
    if (first && this.#readiness.pending) {
      this.#readiness.resolve(this.#instances);
      if (instances.length === 0) this.emit('empty', { index: this.#index, removed: [] });
      return;
    }
    if (!differs && !first) return;
    const event: ServiceChangeEvent = {
      index: this.#index,
      instances: this.#instances,
      added,
      removed,
      changed,
    };
    if (watchChangeChannel.hasSubscribers) this.#publishChange(event);
    this.emit('change', event);
    if (instances.length === 0 && (!wasEmpty || first)) {
      this.emit('empty', { index: this.#index, removed });
    }
  }

  /** The change on `consul-hotreload:watch:change`, as a KV subscription publishes one (docs/diagnostics.md). */
  #publishChange(event: ServiceChangeEvent): void {
    const key = (instance: ServiceInstance) => `${instance.node}/${instance.id}`;
    const message: ServiceChangeMessage = {
      key: `service:${this.service}`,
      service: this.service,
      index: event.index,
      instances: event.instances.length,
      changes: [
        ...event.added.map((instance) => ({ key: key(instance), type: 'added' as const })),
        ...event.changed.map(({ instance }) => ({ key: key(instance), type: 'updated' as const })),
        ...event.removed.map((instance) => ({ key: key(instance), type: 'deleted' as const })),
      ],
    };
    watchChangeChannel.publish(message);
  }

  /** Queues the answer for the last-known-good cache, in Consul's own shape (fire-and-forget). */
  #persist(entries: readonly HealthServiceEntry[], index: number): void {
    const { store, cacheKey } = this.#init;
    if (store === undefined) return;
    store.save(cacheKey, index, () => [
      {
        key: cacheKey,
        modifyIndex: index,
        flags: 0,
        rawValue: Buffer.from(JSON.stringify(entries.map(toConsulShape))).toString('base64'),
      },
    ]);
  }

  #useCache(): Promise<boolean> {
    this.#cacheAttempt ??= this.#restoreFromCache().catch((error: unknown) => {
      this.#init.logger.error(
        { service: this.service, err: error },
        `watch service ${this.service}: internal error while restoring the last-known-good list`,
      );
      return false;
    });
    return this.#cacheAttempt;
  }

  /** Parses the saved answer as a live one; a damaged one is ignored with a warning. */
  async #restoreFromCache(): Promise<boolean> {
    const store = this.#init.store!;
    const snapshot = await store.load(this.#init.cacheKey);
    if (snapshot === undefined || this.#hasList || this.#readiness.state === 'closed') return false;
    let entries: HealthServiceEntry[];
    try {
      const raw = snapshot.entries[0]?.rawValue ?? null;
      if (raw === null) throw new Error('no saved answer');
      const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
      entries = parseHealthBody(parsed, OPERATION, this.service, 200);
    } catch (error) {
      this.#init.logger.warn(
        { service: this.service, path: store.path, err: error },
        `last-known-good cache not used for service ${this.service}: the saved list cannot be read`,
      );
      return false;
    }
    this.#fromCache = true;
    this.#index = snapshot.index;
    this.#init.logger.warn(
      { service: this.service, path: store.path, savedAt: snapshot.savedAt, index: snapshot.index },
      `watch service ${this.service}: Consul has not answered; serving the last-known-good list saved at ${snapshot.savedAt}`,
    );
    this.#commit(entries, false);
    return true;
  }

  #startTimedOut(): void {
    const reject = (): void => {
      const last =
        this.#lastError === undefined ? '' : `; last error: ${this.#lastError.message.split('\n')[0]}`;
      this.#readiness.reject(
        new TimeoutError(
          `watch service ${this.service}: no answer within ${this.#init.startTimeoutMs} ms${last}`,
          { operation: OPERATION, key: this.service, cause: this.#lastError },
        ),
      );
    };
    if (this.#init.store === undefined) {
      reject();
      return;
    }
    void this.#useCache().then((restored) => {
      if (!restored) reject();
    });
  }
}

/** A parsed entry back in Consul's JSON shape, so a saved answer goes through the same parser as a live one. */
function toConsulShape(entry: HealthServiceEntry): unknown {
  const { node, service, checks } = entry;
  return {
    Node: {
      ID: node.id,
      Node: node.node,
      Address: node.address,
      Datacenter: node.datacenter,
      Meta: node.meta,
    },
    Service: {
      ID: service.id,
      Service: service.service,
      Tags: service.tags,
      Address: service.address,
      Port: service.port,
      Meta: service.meta,
      Weights: { Passing: service.weights.passing, Warning: service.weights.warning },
      CreateIndex: service.createIndex,
      ModifyIndex: service.modifyIndex,
    },
    Checks: checks.map((check) => ({
      CheckID: check.checkId,
      Name: check.name,
      Status: check.status,
      Type: check.type,
      Output: check.output,
      Notes: check.notes,
      ServiceID: check.serviceId,
    })),
  };
}
