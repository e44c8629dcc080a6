/**
 * The catalog API's service list (`/v1/catalog/services`): every service name with its tags. Instances and
 * their health come from the health API (health.ts): the catalog never reflects a check flip (consul-semantics §S3.2).
 * @module
 */
import type { Consistency, ResolvedClientConfig } from './config.js';
import { readRequest } from './health.js';
import { parseMeta, type QueryMeta } from './kv.js';
import { checkOptions } from './kv-args.js';
import { malformed, parseJson } from './kv-entry.js';
import type { Transport } from './transport.js';

/** Options of {@link Catalog.services}. */
export interface CatalogServicesOptions {
  /** Datacenter to read (`?dc`). @default the client's `datacenter`, else the agent's */
  dc?: string;
  /** A go-bexpr expression over the services (`?filter`). @default undefined */
  filter?: string;
  /** Blocking index (consul-semantics §4). @default undefined (not blocking) */
  index?: number;
  /** Longest hold of a blocking read: ms or a Go duration. @default undefined (Consul's 5 minutes) */
  wait?: number | string;
  /** @default 'default' */
  consistency?: Consistency;
  /** Aborts the read with AbortedError. */
  signal?: AbortSignal;
}

/** Result of {@link Catalog.services}: name → tags (the union over its instances), and the read's metadata. */
export interface CatalogServicesResult extends QueryMeta {
  services: Record<string, string[]>;
}

/** Catalog reads of one client. */
export class Catalog {
  readonly #transport: Transport;
  readonly #config: ResolvedClientConfig;

  /** Used by `ConsulClient`; not meant to be built directly. */
  constructor(transport: Transport, config: ResolvedClientConfig) {
    this.#transport = transport;
    this.#config = config;
  }

  /**
   * Every registered service and its tags (`GET /v1/catalog/services`). Its index moves when instances are
   * added, removed or changed, not when a check flips (consul-semantics §S3.2). Operation `'catalog.services'`.
   * @throws MalformedResponseError when the answer is not an object of tag lists
   */
  async services(options: CatalogServicesOptions = {}): Promise<CatalogServicesResult> {
    const operation = 'catalog.services';
    checkOptions(options, operation, undefined);
    const params: Array<[string, string]> = [];
    if (options.filter !== undefined) params.push(['filter', options.filter]);
    const response = await this.#transport.request(
      readRequest(this.#config, {
        operation,
        key: undefined,
        path: '/v1/catalog/services',
        params,
        options,
        permissionHint: 'the token needs service:read on the services to list',
      }),
    );
    const parsed = parseJson(response, operation, undefined);
    const isTags = (tags: unknown): boolean =>
      tags === null || (Array.isArray(tags) && tags.every((tag) => typeof tag === 'string'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw malformed(operation, undefined, 'expected a JSON object of service names', response.status);
    }
    const services: Record<string, string[]> = {};
    for (const [name, tags] of Object.entries(parsed)) {
      if (!isTags(tags)) {
        throw malformed(operation, undefined, `service ${name}: expected a list of tags`, response.status);
      }
      services[name] = (tags as string[] | null) ?? [];
    }
    return { services, ...parseMeta(response) };
  }
}
