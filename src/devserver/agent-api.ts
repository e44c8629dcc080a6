/**
 * `server.agent`: direct access to the dev server's agent and catalog, bypassing HTTP, for tests, the
 * CLI's `--services` file and the sessions code (check status and check-change events).
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import type { Catalog, CheckChangeEvent } from './catalog.js';
import type { ChecksRunner } from './checks-runner.js';
import type { CheckStatus } from './service-definition.js';
import { decodeServiceRegistration } from './service-definition.js';

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
  /** Simulates an agent restart: every service and check is forgotten (consul-semantics §S6.2). */
  restart(): void;
  /** Starts (`false`) or ends (`true`) a window without a cluster leader (consul-semantics §S6.2). */
  setLeader(leader: boolean): void;
}

/** Builds `server.agent` over the catalog and runner. */
export function createAgentApi(catalog: Catalog, runner: ChecksRunner): DevServerAgent {
  return {
    catalog,
    runner,
    registerService(definition, options) {
      const decoded = decodeServiceRegistration(Buffer.from(JSON.stringify(definition) ?? ''));
      if (!decoded.ok) {
        throw new InvalidArgumentError(`devserver.agent.registerService: ${decoded.text}`, {
          operation: 'devserver.agent.registerService',
        });
      }
      const checks = catalog.registerService(decoded.value, options?.replaceExistingChecks ?? false);
      for (const check of checks) runner.start(check);
    },
    checkStatus: (checkId) => catalog.checkStatus(checkId),
    onCheckChange: (listener) => catalog.onCheckChange(listener),
    restart: () => catalog.forgetAll(),
    setLeader: (leader) => catalog.setLeader(leader),
  };
}
