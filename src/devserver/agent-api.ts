/**
 * `server.agent`: direct access to the dev server's agent and catalog, bypassing HTTP, for tests, the
 * CLI's `--services` file and the sessions code (check status and check-change events).
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { Catalog, CheckChangeEvent } from './catalog.js';
import type { ChecksRunner, DevServerClock } from './checks-runner.js';
import type { Fault } from './faults.js';
import type { CheckStatus } from './service-definition.js';
import { decodeServiceRegistration, type ServiceRegistration } from './service-definition.js';
import type { SessionStore } from './sessions.js';

/** The dev server's agent, as `server.agent`. */
export interface DevServerAgent {
  /** The catalog state (services, checks, indexes). */
  readonly catalog: Catalog;
  /** The check runner: `idle()` waits for probes in flight, `reap()` runs a reaper pass now. */
  readonly runner: ChecksRunner;
  /**
   * Registers a service from a ServiceDefinition object (the JSON body of `PUT /v1/agent/service/register`),
   * with the same decoding and validation.
   * @throws {InvalidArgumentError} with Consul's text when the definition is refused.
   */
  registerService(definition: unknown, options?: { replaceExistingChecks?: boolean }): void;
  /** A check's status, or undefined when no check has this ID. */
  checkStatus(checkId: string): CheckStatus | undefined;
  /** Listens for check status changes and deregistrations; returns the function that stops listening. */
  onCheckChange(listener: (event: CheckChangeEvent) => void): () => void;
  /**
   * Simulates an agent restart: every service, check and session is forgotten (consul-semantics §S6.1);
   * destroying the sessions releases or deletes their locks as their `Behavior` says (consul-semantics §L4).
   */
  restart(): void;
  /**
   * Starts (`false`) or ends (`true`) a window without a cluster leader (consul-semantics §S6.2, §S9.5):
   * writes and non-stale reads answer `500 No cluster leader`, session TTLs stop and restart at full
   * length when it ends, held blocking queries keep waiting. Either
   * cancels the end a {@link DevServerAgent.noLeaderFor} window had scheduled.
   */
  setLeader(leader: boolean): void;
  /** Starts a window without a cluster leader that ends by itself after `durationMs`, on the checks' clock. */
  noLeaderFor(durationMs: number): void;
}

/** `server.agent` plus what only the server itself calls. */
export interface InternalAgentApi extends DevServerAgent {
  /** Applies an agent fault (`agent-restart`, `no-leader`) taken by a request. */
  applyFault(fault: Fault): void;
  /** Cancels the scheduled end of a no-leader window. */
  dispose(): void;
}

/**
 * Decodes a ServiceDefinition object as `PUT /v1/agent/service/register` decodes its body; a refused one
 * gives Consul's text.
 */
export function decodeServiceDefinition(
  definition: unknown,
): { ok: true; value: ServiceRegistration } | { ok: false; text: string } {
  const decoded = decodeServiceRegistration(Buffer.from(JSON.stringify(definition) ?? ''));
  return decoded.ok ? decoded : { ok: false, text: decoded.text };
}

/**
 * Decodes every definition of the `services` option before anything starts.
 * @throws {InvalidArgumentError} with Consul's text, naming the entry by position and ID or name.
 */
export function decodeServiceDefinitions(definitions: unknown): ServiceRegistration[] {
  const invalid = (message: string) =>
    new InvalidArgumentError(`invalid dev server services: ${message}`, { operation: 'devserver.services' });
  if (!Array.isArray(definitions)) throw invalid('expected an array of service definitions');
  return definitions.map((definition: unknown, position) => {
    const decoded = decodeServiceDefinition(definition);
    if (decoded.ok) return decoded.value;
    const fields = typeof definition === 'object' && definition !== null ? definition : {};
    const { ID: id, Name: name } = fields as { ID?: unknown; Name?: unknown };
    const label = typeof id === 'string' && id !== '' ? id : typeof name === 'string' ? name : '';
    throw invalid(`entry ${position}${label === '' ? '' : ` (${label})`}: ${decoded.text}`);
  });
}

/** Builds `server.agent` over the catalog and runner. */
export function createAgentApi(parts: {
  catalog: Catalog;
  runner: ChecksRunner;
  sessions: SessionStore;
  clock: DevServerClock;
}): InternalAgentApi {
  const { catalog, runner, sessions, clock } = parts;
  let leaderTimer: unknown;
  const setLeader = (leader: boolean) => {
    clock.clearTimeout(leaderTimer);
    leaderTimer = undefined;
    catalog.setLeader(leader);
    sessions.setLeader(leader);
  };
  const noLeaderFor = (durationMs: number) => {
    if (!(Number.isSafeInteger(durationMs) && durationMs > 0)) {
      throw new InvalidArgumentError(
        `devserver.agent.noLeaderFor: durationMs must be an integer > 0, got ${durationMs}`,
        { operation: 'devserver.agent.noLeaderFor' },
      );
    }
    setLeader(false);
    leaderTimer = clock.setTimeout(() => setLeader(true), durationMs);
  };
  const restart = () => {
    catalog.forgetAll();
    for (const session of sessions.list()) sessions.destroy(session.id);
  };
  return {
    catalog,
    runner,
    registerService(definition, options) {
      const decoded = decodeServiceDefinition(definition);
      if (!decoded.ok) {
        throw new InvalidArgumentError(`devserver.agent.registerService: ${decoded.text}`, {
          operation: 'devserver.agent.registerService',
        });
      }
      registerDecoded(catalog, runner, decoded.value, options?.replaceExistingChecks ?? false);
    },
    checkStatus: (checkId) => catalog.checkStatus(checkId),
    onCheckChange: (listener) => catalog.onCheckChange(listener),
    restart,
    setLeader,
    noLeaderFor,
    applyFault(fault) {
      if (fault.kind === 'agent-restart') restart();
      else if (fault.kind === 'no-leader') noLeaderFor(fault.durationMs);
    },
    dispose: () => clock.clearTimeout(leaderTimer),
  };
}

/** Registers a decoded service and starts its checks, as the register endpoint does. */
export function registerDecoded(
  catalog: Catalog,
  runner: ChecksRunner,
  registration: ServiceRegistration,
  replaceExistingChecks: boolean,
): void {
  for (const check of catalog.registerService(registration, replaceExistingChecks)) runner.start(check);
}
