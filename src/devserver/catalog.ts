/**
 * The dev server's agent and catalog state for its one node: service instances and checks with the
 * indexes of Consul's catalog (per-service, extinction, `services`, `checks`, `nodes`), waking only the
 * blocking queries a write touches and telling listeners when a check changes (consul-semantics §S3).
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { RaftLog } from './raft-log.js';
import type { CheckSpec, CheckStatus, ServiceRegistration } from './service-definition.js';
import { WaiterRegistry } from './waiters.js';

/** The agent's node name and datacenter (consul-semantics §S3.1). */
export const NODE_NAME = 'node-1';
export const NODE_ADDRESS = '127.0.0.1';
/** The node-level check every node has (consul-semantics §S2.1). */
export const SERF_CHECK_ID = 'serfHealth';
const NODE_MAINTENANCE_ID = '_node_maintenance';
const SERVICE_MAINTENANCE_PREFIX = '_service_maintenance:';
const DEFAULT_MAINTENANCE_REASON =
  'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';

/** One registered service instance. */
export interface ServiceInstance extends Omit<ServiceRegistration, 'checks'> {
  readonly createIndex: number;
  readonly modifyIndex: number;
}

/** One check as the agent and the catalog hold it. */
export interface HealthCheck {
  readonly checkId: string;
  readonly name: string;
  readonly status: CheckStatus;
  readonly notes: string;
  readonly output: string;
  readonly serviceId: string;
  readonly serviceName: string;
  readonly serviceTags: readonly string[];
  readonly type: string;
  readonly spec: CheckSpec | undefined;
  readonly createIndex: number;
  readonly modifyIndex: number;
  /** When an update last turned it critical (by the catalog's clock); undefined when not critical that way. */
  readonly criticalSinceMs: number | undefined;
}

/** Told after every change of a check's status or its removal (for sessions and the checks runner). */
export interface CheckChangeEvent {
  readonly checkId: string;
  readonly serviceId: string;
  /** The new status; `undefined` when the check was deregistered. */
  readonly status: CheckStatus | undefined;
  readonly previous: CheckStatus | undefined;
  readonly index: number;
}

/** Waiter keys: `service:<lower-cased name>`, and the tables. */
export const WAIT_SERVICES = 'services';
export const WAIT_CHECKS = 'checks';
export const WAIT_NODES = 'nodes';
export const WAIT_EXTINCTION = 'extinction';
export const WAIT_AGENT = 'agent';
export const serviceWaitKey = (name: string): string => `service:${name.toLowerCase()}`;

/** Options of {@link Catalog}. */
export interface CatalogOptions {
  /** Clock in ms, for `criticalSinceMs`. */
  now: () => number;
  /** The Raft log shared with KV and sessions: every catalog write takes its next index (consul-semantics §S9.1). */
  raft: RaftLog;
}

/** A catalog write: one index for all of its changes, like one Raft apply. */
interface Write {
  readonly index: number;
  readonly touched: Set<string>;
  readonly events: CheckChangeEvent[];
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

function sameInstance(a: ServiceInstance, b: Omit<ServiceRegistration, 'checks'>): boolean {
  return (
    a.name === b.name &&
    a.address === b.address &&
    a.port === b.port &&
    a.kind === b.kind &&
    a.enableTagOverride === b.enableTagOverride &&
    sameList(a.tags, b.tags) &&
    JSON.stringify(a.meta) === JSON.stringify(b.meta) &&
    JSON.stringify(a.taggedAddresses) === JSON.stringify(b.taggedAddresses) &&
    a.weights.passing === b.weights.passing &&
    a.weights.warning === b.weights.warning
  );
}

/** The state of the dev server's agent and catalog. */
export class Catalog {
  /** Blocking queries on services, health and catalog reads. */
  readonly waiters = new WaiterRegistry();
  readonly nodeId = randomUUID();
  readonly #now: () => number;
  readonly #raft: RaftLog;
  readonly #services = new Map<string, ServiceInstance>();
  readonly #checks = new Map<string, HealthCheck>();
  /** lower-cased service name → per-service index (consul-semantics §S3.2). */
  readonly #serviceIndex = new Map<string, number>();
  /** lower-cased service name → its instances by ID: a read of one service costs its instances, not the catalog's. */
  readonly #byName = new Map<string, Map<string, ServiceInstance>>();
  /** service ID (`''` for node checks) → its check IDs, for the same reason. */
  readonly #checkIdsByService = new Map<string, Set<string>>();
  readonly #listeners = new Set<(event: CheckChangeEvent) => void>();
  #index = 1;
  #extinctionIndex = 0;
  #servicesTableIndex = 1;
  #checksTableIndex = 1;
  #nodesTableIndex = 1;
  /** Bumped on every agent-local change, for `/v1/agent/service/<id>` hash blocking. */
  #agentVersion = 0;
  #leader = true;

  constructor(options: CatalogOptions) {
    this.#now = options.now;
    this.#raft = options.raft;
    this.#addSerfCheck(1);
  }

  #addSerfCheck(index: number): void {
    this.#setCheck({
      checkId: SERF_CHECK_ID,
      name: 'Serf Health Status',
      status: 'passing',
      notes: '',
      output: 'Agent alive and reachable',
      serviceId: '',
      serviceName: '',
      serviceTags: [],
      type: '',
      spec: undefined,
      createIndex: index,
      modifyIndex: index,
      criticalSinceMs: undefined,
    });
  }

  // -----------------------------------------------------------------------------------------------
  // Reads

  /** The node's create and modify index (the node is registered once, at the start). */
  get nodeIndex(): number {
    return 1;
  }

  /** Whether the cluster has a leader (a `no-leader` window makes catalog reads fail). */
  get hasLeader(): boolean {
    return this.#leader;
  }

  /** Starts or ends a window without a cluster leader (consul-semantics §S6.2). */
  setLeader(leader: boolean): void {
    this.#leader = leader;
  }

  service(id: string): ServiceInstance | undefined {
    return this.#services.get(id);
  }

  services(): ServiceInstance[] {
    return [...this.#services.values()];
  }

  /** Instances of a service, matched case-insensitively (consul-semantics §S3.3), sorted by ID. */
  instancesOf(name: string): ServiceInstance[] {
    const instances = this.#byName.get(name.toLowerCase());
    if (instances === undefined) return [];
    return [...instances.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Instances of a service carrying every tag of `tags`, compared case-insensitively (consul-semantics §S4.1). */
  instancesTagged(name: string, tags: readonly string[]): ServiceInstance[] {
    const instances = this.instancesOf(name);
    if (tags.length === 0) return instances;
    return instances.filter((instance) => {
      const lower = new Set(instance.tags.map((tag) => tag.toLowerCase()));
      return tags.every((tag) => lower.has(tag.toLowerCase()));
    });
  }

  /**
   * What a read of one service blocks on: its own index, and the extinction index while it has no instance
   * (consul-semantics §S3.2: a missing service answers with that index).
   */
  serviceWaitKeys(name: string): string[] {
    return this.instancesOf(name).length === 0
      ? [serviceWaitKey(name), WAIT_EXTINCTION]
      : [serviceWaitKey(name)];
  }

  check(id: string): HealthCheck | undefined {
    return this.#checks.get(id);
  }

  /** A check's status, or undefined when no check has this ID. Sessions use this for their checks. */
  checkStatus(id: string): CheckStatus | undefined {
    return this.#checks.get(id)?.status;
  }

  checks(): HealthCheck[] {
    return [...this.#checks.values()].sort((a, b) => (a.checkId < b.checkId ? -1 : 1));
  }

  /** Node checks first, then the service's checks (consul-semantics §S4.1). */
  checksForInstance(serviceId: string): HealthCheck[] {
    return [...this.#checksOf(''), ...(serviceId === '' ? [] : this.#checksOf(serviceId))];
  }

  /** The checks of one service (`''`: the node's), sorted by ID. */
  #checksOf(serviceId: string): HealthCheck[] {
    const ids = this.#checkIdsByService.get(serviceId);
    if (ids === undefined) return [];
    return [...ids]
      .sort()
      .map((id) => this.#checks.get(id))
      .filter((check): check is HealthCheck => check !== undefined);
  }

  #setService(instance: ServiceInstance): void {
    this.#services.set(instance.id, instance);
    const lower = instance.name.toLowerCase();
    let named = this.#byName.get(lower);
    if (named === undefined) {
      named = new Map();
      this.#byName.set(lower, named);
    }
    named.set(instance.id, instance);
  }

  #deleteService(instance: ServiceInstance): void {
    this.#services.delete(instance.id);
    const lower = instance.name.toLowerCase();
    const named = this.#byName.get(lower);
    named?.delete(instance.id);
    if (named?.size === 0) this.#byName.delete(lower);
  }

  #setCheck(check: HealthCheck): void {
    const previous = this.#checks.get(check.checkId);
    if (previous !== undefined && previous.serviceId !== check.serviceId) this.#unindexCheck(previous);
    this.#checks.set(check.checkId, check);
    let ids = this.#checkIdsByService.get(check.serviceId);
    if (ids === undefined) {
      ids = new Set();
      this.#checkIdsByService.set(check.serviceId, ids);
    }
    ids.add(check.checkId);
  }

  #unindexCheck(check: HealthCheck): void {
    const ids = this.#checkIdsByService.get(check.serviceId);
    ids?.delete(check.checkId);
    if (ids?.size === 0) this.#checkIdsByService.delete(check.serviceId);
  }

  /** consul-semantics §S3.2: the per-service index, else the extinction index, else the services table index; never 0. */
  serviceIndexOf(name: string): number {
    return (
      this.#serviceIndex.get(name.toLowerCase()) ??
      Math.max(this.#extinctionIndex, this.#servicesTableIndex, 1)
    );
  }

  get servicesTableIndex(): number {
    return this.#servicesTableIndex;
  }

  get checksTableIndex(): number {
    return this.#checksTableIndex;
  }

  get nodesTableIndex(): number {
    return this.#nodesTableIndex;
  }

  /** Changes with every agent-local change; the input of `X-Consul-ContentHash` waits. */
  get agentVersion(): number {
    return this.#agentVersion;
  }

  /** The last index the catalog used. */
  get index(): number {
    return this.#index;
  }

  /** Registers a listener for check changes; returns the function that removes it. */
  onCheckChange(listener: (event: CheckChangeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // -----------------------------------------------------------------------------------------------
  // Writes

  /**
   * Registers or replaces a service and its checks (consul-semantics §S1.2): existing check IDs keep their
   * status and output; with `replaceExistingChecks`, the service's checks left out of the definition go.
   * Returns the checks the definition registered, for the runner.
   */
  registerService(registration: ServiceRegistration, replaceExistingChecks: boolean): HealthCheck[] {
    const { checks, ...fields } = registration;
    const write = this.#begin();
    const existing = this.#services.get(fields.id);
    if (existing !== undefined && existing.name.toLowerCase() !== fields.name.toLowerCase()) {
      this.#removeInstance(write, existing);
    }
    const current = this.#services.get(fields.id);
    if (current === undefined || !sameInstance(current, fields)) {
      const instance: ServiceInstance = {
        ...fields,
        createIndex: current?.createIndex ?? write.index,
        modifyIndex: write.index,
      };
      if (current !== undefined) this.#deleteService(current);
      this.#setService(instance);
      this.#touchService(write, fields.name);
      this.#servicesTableIndex = write.index;
      write.touched.add(WAIT_SERVICES);
      // The checks carry the service's tags: keep them in step.
      for (const check of this.#checksOf(fields.id)) {
        if (!sameList(check.serviceTags, fields.tags)) {
          this.#putCheck(write, { ...check, serviceName: fields.name, serviceTags: fields.tags });
        }
      }
    }
    const kept = new Set(checks.map((check) => check.checkId));
    if (replaceExistingChecks) {
      for (const check of this.#checksOf(fields.id)) {
        if (check.type !== 'maintenance' && !kept.has(check.checkId)) {
          this.#deleteCheck(write, check.checkId);
        }
      }
    }
    const registered = checks.map((spec) => this.#upsertCheck(write, spec, fields.id));
    this.#commit(write);
    return registered;
  }

  /** Registers a check; `serviceId` must name a registered service or be empty. */
  registerCheck(spec: CheckSpec, serviceId: string): HealthCheck {
    const write = this.#begin();
    const check = this.#upsertCheck(write, spec, serviceId);
    this.#commit(write);
    return check;
  }

  #upsertCheck(write: Write, spec: CheckSpec, serviceId: string): HealthCheck {
    const service = serviceId === '' ? undefined : this.#services.get(serviceId);
    const existing = this.#checks.get(spec.checkId);
    // consul-semantics §S2.1: a re-registered check keeps its status and output.
    const status: CheckStatus =
      existing?.status ?? ((spec.status === '' ? 'critical' : spec.status) as CheckStatus);
    const check: HealthCheck = {
      checkId: spec.checkId,
      name: spec.name,
      status,
      notes: spec.notes,
      output: existing?.output ?? '',
      serviceId,
      serviceName: service?.name ?? '',
      serviceTags: service?.tags ?? [],
      type: spec.type,
      spec,
      createIndex: existing?.createIndex ?? write.index,
      modifyIndex: existing?.modifyIndex ?? write.index,
      criticalSinceMs: existing?.criticalSinceMs,
    };
    return this.#putCheck(write, check);
  }

  /** Stores a check, bumping indexes only when something Consul compares changed (consul-semantics §S3.2). */
  #putCheck(write: Write, next: HealthCheck): HealthCheck {
    const existing = this.#checks.get(next.checkId);
    if (existing !== undefined && sameCheck(existing, next)) {
      this.#setCheck({ ...next, modifyIndex: existing.modifyIndex });
      return this.#checks.get(next.checkId) as HealthCheck;
    }
    const stored = { ...next, modifyIndex: write.index };
    this.#setCheck(stored);
    this.#touchCheck(write, stored);
    if (existing?.status !== stored.status) {
      write.events.push({
        checkId: stored.checkId,
        serviceId: stored.serviceId,
        status: stored.status,
        previous: existing?.status,
        index: write.index,
      });
    }
    return stored;
  }

  /**
   * Sets a check's status and output (a TTL update or a probe result). Same status and output change
   * nothing (consul-semantics §S3.2); the critical clock still starts (consul-semantics §S2.6).
   * Returns false when the check does not exist.
   */
  updateCheck(id: string, status: CheckStatus, output: string): boolean {
    const existing = this.#checks.get(id);
    if (existing === undefined) return false;
    const criticalSinceMs = status === 'critical' ? (existing.criticalSinceMs ?? this.#now()) : undefined;
    if (existing.status === status && existing.output === output) {
      this.#setCheck({ ...existing, criticalSinceMs });
      return true;
    }
    const write = this.#begin();
    this.#putCheck(write, { ...existing, status, output, criticalSinceMs });
    this.#commit(write);
    return true;
  }

  /** Removes a service and all its checks; returns false when no service has this ID. */
  deregisterService(id: string): boolean {
    const instance = this.#services.get(id);
    if (instance === undefined) return false;
    const write = this.#begin();
    this.#removeInstance(write, instance);
    this.#commit(write);
    return true;
  }

  #removeInstance(write: Write, instance: ServiceInstance): void {
    for (const check of this.#checksOf(instance.id)) this.#deleteCheck(write, check.checkId);
    this.#deleteService(instance);
    this.#servicesTableIndex = write.index;
    write.touched.add(WAIT_SERVICES);
    const lower = instance.name.toLowerCase();
    write.touched.add(serviceWaitKey(lower));
    if (this.instancesOf(lower).length > 0) {
      this.#serviceIndex.set(lower, write.index);
      return;
    }
    // consul-semantics §S3.2: the last instance gone sets the extinction index.
    this.#serviceIndex.delete(lower);
    this.#extinctionIndex = write.index;
    write.touched.add(WAIT_EXTINCTION);
  }

  /** Removes a check; returns false when no check has this ID. */
  deregisterCheck(id: string): boolean {
    if (!this.#checks.has(id)) return false;
    const write = this.#begin();
    this.#deleteCheck(write, id);
    this.#commit(write);
    return true;
  }

  #deleteCheck(write: Write, id: string): void {
    const check = this.#checks.get(id);
    if (check === undefined) return;
    this.#checks.delete(id);
    this.#unindexCheck(check);
    this.#touchCheck(write, check);
    write.events.push({
      checkId: id,
      serviceId: check.serviceId,
      status: undefined,
      previous: check.status,
      index: write.index,
    });
  }

  /** consul-semantics §S5.1: maintenance on adds a critical `_service_maintenance:<id>` check; off removes it. */
  setServiceMaintenance(id: string, enable: boolean, reason: string): void {
    const checkId = `${SERVICE_MAINTENANCE_PREFIX}${id}`;
    this.#setMaintenance(checkId, 'Service Maintenance Mode', id, enable, reason);
  }

  /** consul-semantics §S5.2: node maintenance, check `_node_maintenance`. */
  setNodeMaintenance(enable: boolean, reason: string): void {
    this.#setMaintenance(NODE_MAINTENANCE_ID, 'Node Maintenance Mode', '', enable, reason);
  }

  #setMaintenance(checkId: string, name: string, serviceId: string, enable: boolean, reason: string): void {
    if (!enable) {
      this.deregisterCheck(checkId);
      return;
    }
    if (this.#checks.has(checkId)) return; // enabling twice is a no-op
    const write = this.#begin();
    this.#upsertCheck(write, maintenanceSpec(checkId, name, reason), serviceId);
    this.#commit(write);
  }

  /** An agent restart (consul-semantics §S6.1): every service and check is forgotten; indexes go on. */
  forgetAll(): void {
    const write = this.#begin();
    for (const instance of [...this.#services.values()]) this.#removeInstance(write, instance);
    for (const check of [...this.#checks.values()]) {
      if (check.checkId !== SERF_CHECK_ID) this.#deleteCheck(write, check.checkId);
    }
    this.#commit(write);
  }

  #begin(): Write {
    const index = this.#raft.next;
    return { index, touched: new Set(), events: [] };
  }

  #touchService(write: Write, name: string): void {
    this.#serviceIndex.set(name.toLowerCase(), write.index);
    write.touched.add(serviceWaitKey(name));
  }

  /** A check change moves the checks table and its service's index; a node check moves every service's. */
  #touchCheck(write: Write, check: HealthCheck): void {
    this.#checksTableIndex = write.index;
    write.touched.add(WAIT_CHECKS);
    if (check.serviceId !== '') {
      const service = this.#services.get(check.serviceId);
      if (service !== undefined) this.#touchService(write, service.name);
      return;
    }
    for (const service of this.#services.values()) this.#touchService(write, service.name);
  }

  #commit(write: Write): void {
    this.#agentVersion++;
    write.touched.add(WAIT_AGENT);
    // Only a write that changed something takes its index from the log.
    if (write.touched.size > 1) {
      this.#index = write.index;
      this.#raft.commit(write.index);
    }
    this.waiters.notify(write.touched);
    for (const event of write.events) {
      for (const listener of [...this.#listeners]) {
        try {
          listener(event);
        } catch {
          // A listener's failure is its own; the others still hear the event.
        }
      }
    }
  }
}

function sameCheck(a: HealthCheck, b: HealthCheck): boolean {
  return (
    a.status === b.status &&
    a.output === b.output &&
    a.notes === b.notes &&
    a.name === b.name &&
    a.serviceId === b.serviceId &&
    a.serviceName === b.serviceName &&
    sameList(a.serviceTags, b.serviceTags) &&
    a.type === b.type &&
    JSON.stringify(a.spec) === JSON.stringify(b.spec)
  );
}

function maintenanceSpec(checkId: string, name: string, reason: string): CheckSpec {
  return {
    checkId,
    name,
    status: 'critical',
    notes: reason === '' ? DEFAULT_MAINTENANCE_REASON : reason,
    http: '',
    header: {},
    method: '',
    body: '',
    disableRedirects: false,
    tcp: '',
    tlsSkipVerify: false,
    intervalMs: 0,
    timeoutMs: 0,
    ttlMs: 0,
    successBeforePassing: 0,
    failuresBeforeWarning: 0,
    failuresBeforeCritical: 0,
    deregisterCriticalServiceAfterMs: 0,
    outputMaxSize: 0,
    type: 'maintenance',
  };
}
