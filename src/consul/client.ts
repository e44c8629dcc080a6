/**
 * ConsulClient: resolved configuration + one transport (one undici dispatcher) + the KV API.
 * @module
 */
import { Agent } from './agent.js';
import { Catalog } from './catalog.js';
import { type ConsulClientOptions, type ResolvedClientConfig, resolveClientConfig } from './config.js';
import { Health } from './health.js';
import { KV } from './kv.js';
import { SessionApi } from './session.js';
import { Transport } from './transport.js';

export type { KV } from './kv.js';

/**
 * A client of one Consul agent. Configuration is resolved at construction (explicit options >
 * `CONSUL_*` environment > defaults), so bad input throws here, not on first use.
 *
 * @example
 * ```ts
 * const client = new ConsulClient({ address: 'http://127.0.0.1:8500' });
 * const { entries, index } = await client.kv.list('config/app/');
 * await client.close();
 * ```
 */
export class ConsulClient {
  /** The configuration in use. Its `token` and `auth` fields are non-enumerable, so logging it prints neither. */
  readonly config: ResolvedClientConfig;
  /** KV operations (`get`, `list`, `keys`, `put`, `delete`, `txn`). */
  readonly kv: KV;
  /** Agent operations (service register/deregister, TTL check updates, maintenance, `self`). */
  readonly agent: Agent;
  /** Session operations (`create`, `renew`, `destroy`, `info`), the base of locks. */
  readonly session: SessionApi;
  /** Health reads (`service`: the instances of a service with their checks). */
  readonly health: Health;
  /** Catalog reads (`services`: every service name and its tags). */
  readonly catalog: Catalog;
  readonly #transport: Transport;

  /**
   * @throws InvalidArgumentError when an option has the wrong type or range
   * @throws ConfigurationError when the address, a token/CA/cert file or the TLS pair cannot be used
   */
  constructor(options?: ConsulClientOptions) {
    this.config = resolveClientConfig(options);
    this.#transport = new Transport(this.config);
    this.kv = new KV(this.#transport, this.config);
    this.agent = new Agent(this.#transport, this.config);
    this.session = new SessionApi(this.#transport, this.config);
    this.health = new Health(this.#transport, this.config);
    this.catalog = new Catalog(this.#transport, this.config);
  }

  /** True once {@link ConsulClient.close} was called. */
  get closed(): boolean {
    return this.#transport.closed;
  }

  /**
   * Aborts every request in flight (they reject with ClosedError), waits for them to settle and closes
   * the client's own dispatcher (an injected one is left open). Later requests reject with ClosedError.
   * Idempotent: a second call returns the same promise.
   */
  close(): Promise<void> {
    return this.#transport.close();
  }

  /** Same as {@link ConsulClient.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
