/**
 * The options of `registerService()`, their defaults, Consul's validation rules applied before anything is
 * sent (every problem listed at once), and the service definition built from them (consul-semantics §S1.3, §S7).
 * @module
 */
import { hostname } from 'node:os';
import type { AgentCheckDefinition, AgentServiceDefinition, CheckStatus } from '../consul/agent.js';
import type { ConsulClientOptions } from '../consul/config.js';
import { parseDuration } from '../consul/duration.js';
import { InvalidArgumentError } from '../errors.js';
import type { Logger } from '../logger.js';

/** What the app's health function reports; sent as the TTL check's status and output. */
export interface HealthReport {
  /** `passing`, `warning` (still served, often with a lower weight) or `critical` (left out of `?passing`). */
  status: CheckStatus;
  /** Shown as the check's Output in Consul (cut by the agent at 4096 bytes). @default '' */
  output?: string;
}

/** An HTTP check the agent runs against the instance (consul-semantics §S2.3). */
export interface HttpCheckOptions {
  /** URL the agent requests; 2xx is passing, 429 warning, anything else critical. */
  url: string;
  /** How often, in ms or as a Go duration. @default 10_000 */
  interval?: number | string;
  /** How long one probe may take, in ms or as a Go duration. @default 5_000 */
  timeout?: number | string;
  /** HTTP method. @default 'GET' */
  method?: string;
  /** Request headers. @default none */
  header?: Record<string, string[]>;
  /** Skip TLS verification of an `https` URL. @default false */
  tlsSkipVerify?: boolean;
}

/** A TCP check the agent runs against the instance (consul-semantics §S2.3). */
export interface TcpCheckOptions {
  /** `host:port` the agent connects to; a connection is passing. */
  address: string;
  /** How often, in ms or as a Go duration. @default 10_000 */
  interval?: number | string;
  /** How long one connect may take, in ms or as a Go duration. @default 5_000 */
  timeout?: number | string;
}

/** Options of {@link registerService}: the service, its checks, and how to reach the agent. */
export interface RegisterServiceOptions {
  /**
   * The agent to register on (address, token, TLS…; unset fields come from `CONSUL_*`). The registration
   * makes its own client from it, so deregistration goes to the same agent as registration.
   * @default {} (all from the environment: `CONSUL_HTTP_ADDR`, `CONSUL_HTTP_TOKEN`…)
   */
  consul?: ConsulClientOptions;
  /** Where registration failures, retries and re-registrations are logged (pino or console shape). @default the `consul.logger`, else none */
  logger?: Logger;
  /** Service name: what discovery looks up. Letters, digits and `-` keep it usable in DNS (Consul only warns otherwise). */
  name: string;
  /**
   * Service ID, unique on the agent. Keep it stable for the life of the process: heartbeats, maintenance and
   * deregistration address it.
   * @default `<name>-<host>-<port>-<pid>`, where host is `address` (or the machine's hostname) and the pid
   * tells apart two processes serving on one host (cluster workers share a port), characters other than
   * `[A-Za-z0-9_.-]` replaced by `-`
   */
  id?: string;
  /** Address other services reach this instance at; `''` means the node's address. @default '' (the node's) */
  address?: string;
  /** Port of the instance, 0 to 65535. @default 0 (none) */
  port?: number;
  /** @default [] */
  tags?: string[];
  /** At most 64 pairs; keys `^[a-zA-Z0-9_-]+$` up to 128 characters and not starting with `consul-`; values up to 512 characters. @default {} */
  meta?: Record<string, string>;
  /** Load-balancing weights; `passing` ≥ 1, `warning` ≥ 0. @default { passing: 1, warning: 1 } */
  weights?: { passing: number; warning?: number };
  /**
   * TTL of the heartbeat check, in ms or as a Go duration; `false` registers no TTL check (then give `http`
   * or `tcp`, and the registration checks every {@link RegisterServiceOptions.resyncInterval} that the agent
   * still knows the service). The heartbeat passes it every TTL/3, jittered down by up to a fifth.
   * @default 15_000
   */
  ttl?: number | string | false;
  /**
   * Decides the heartbeat's status and output; called before every heartbeat. A throw or a rejection reports
   * `critical` with the error's message; so does an answer slower than a third of the TTL.
   * @default always `{ status: 'passing' }`
   */
  health?: () => HealthReport | Promise<HealthReport>;
  /** An HTTP check the agent runs, besides the heartbeat. @default none */
  http?: HttpCheckOptions;
  /** A TCP check the agent runs, besides the heartbeat. @default none */
  tcp?: TcpCheckOptions;
  /**
   * The crash net: the agent removes the service once a check has been critical this long (a killed process
   * stops heartbeating, its TTL expires, then this runs). Consul raises values under 1 minute to 1 minute.
   * @default 60_000 (Consul's floor)
   */
  deregisterCriticalServiceAfter?: number | string;
  /**
   * Take over the ID even when the agent holds it for another instance (another address or port). Without it
   * that is a ServiceConflictError.
   * @default false
   */
  replace?: boolean;
  /**
   * On close, how long to stay registered in maintenance (out of `?passing` answers) before deregistering, so
   * clients watching the service stop sending new requests first. In ms or a Go duration; 0 skips the wait.
   * @default 0
   */
  drain?: number | string;
  /**
   * Bound of the whole close sequence (maintenance, drain, deregister), in ms or a Go duration. `drain` must
   * be shorter: maintenance and drain end by `(closeTimeout + drain) / 2`, so a slow maintenance request
   * shortens the drain, never the deregister's time (at least `(closeTimeout - drain) / 2`).
   * @default 10_000
   */
  closeTimeout?: number | string;
  /**
   * Without a TTL check, how often to ask the agent whether it still knows the service (and re-register if
   * not). Unused with a TTL check: heartbeats find out.
   * @default 30_000
   */
  resyncInterval?: number | string;
  /**
   * Retry bounds for failures that retrying can fix (agent unreachable, 5xx, 429): the first delay is
   * uniform in [0, minMs), the ceiling doubles per failure up to maxMs ("full jitter"). A 403, or an ID held by
   * another instance, always waits maxMs.
   * @default { minMs: 250, maxMs: 30_000 }
   */
  retry?: { minMs?: number; maxMs?: number };
  /** Source of randomness in [0, 1) for heartbeat jitter and backoff; replace it to get exact delays in tests. @default Math.random */
  random?: () => number;
}

/** Options resolved once: durations in ms, defaults applied, the definition built. */
export interface ResolvedRegistration {
  readonly id: string;
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly definition: AgentServiceDefinition;
  /** The heartbeat check's ID, or undefined without a TTL check. */
  readonly ttlCheckId: string | undefined;
  readonly ttlMs: number | undefined;
  readonly health: (() => HealthReport | Promise<HealthReport>) | undefined;
  readonly replace: boolean;
  readonly drainMs: number;
  readonly closeTimeoutMs: number;
  readonly resyncIntervalMs: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  readonly random: () => number;
  /** Things Consul accepts but warns about, for the logger. */
  readonly warnings: readonly string[];
}

const DEFAULTS = {
  ttlMs: 15_000,
  deregisterCriticalServiceAfterMs: 60_000,
  probeIntervalMs: 10_000,
  probeTimeoutMs: 5_000,
  drainMs: 0,
  closeTimeoutMs: 10_000,
  resyncIntervalMs: 30_000,
  retryMinMs: 250,
  retryMaxMs: 30_000,
} as const;

/** Consul's limits on service metadata (consul-semantics §S1.3; `agent/structs` ValidateServiceMetadata). */
const META_MAX_PAIRS = 64;
const META_KEY_MAX = 128;
const META_VALUE_MAX = 512;
const META_KEY = /^[a-zA-Z0-9_-]+$/;

const OPERATION = 'registerService';

/**
 * Checks every option against Consul's rules and resolves them. All problems are reported in one error.
 * @throws InvalidArgumentError listing each problem, before anything is sent
 */
export function resolveRegistration(
  options: RegisterServiceOptions,
  pid: number = process.pid,
  host: string = hostname(),
): ResolvedRegistration {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`${OPERATION}: options must be an object`, { operation: OPERATION });
  }
  const problems: string[] = [];
  const duration = (value: number | string | undefined, name: string, fallback: number): number => {
    if (value === undefined) return fallback;
    try {
      return parseDuration(value, name, OPERATION);
    } catch (error) {
      problems.push((error as Error).message.replace(`${OPERATION}: `, ''));
      return fallback;
    }
  };

  const { name } = options;
  if (typeof name !== 'string' || name.trim() === '') problems.push('name must be a non-empty string');
  const address = options.address ?? '';
  if (typeof address !== 'string') problems.push('address must be a string');
  // consul-semantics §S1.3: Consul refuses the unspecified addresses.
  else if (address === '0.0.0.0' || address === '::') {
    problems.push(
      `address ${address} is refused by Consul (Invalid service address); give the instance's reachable address`,
    );
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    problems.push('port must be an integer from 0 to 65535');
  const tags = options.tags ?? [];
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string')) {
    problems.push('tags must be an array of strings');
  }
  checkMeta(options.meta, problems);
  const weights = checkWeights(options.weights, problems);

  const id = options.id ?? defaultServiceId(String(name), address === '' ? host : address, port, pid);
  if (typeof id !== 'string' || id === '') problems.push('id must be a non-empty string');
  else if (id.includes('/'))
    problems.push("id must not contain '/' (the agent's URLs carry it as one path segment)");

  let ttlMs: number | undefined;
  if (options.ttl !== false) {
    ttlMs = duration(options.ttl, 'ttl', DEFAULTS.ttlMs);
    if (ttlMs < 1000) problems.push(`ttl must be at least 1s, got ${ttlMs} ms (heartbeats go every TTL/3)`);
  }
  if (options.health !== undefined && typeof options.health !== 'function') {
    problems.push('health must be a function returning { status, output }');
  }
  if (options.health !== undefined && ttlMs === undefined) {
    problems.push('health needs the TTL heartbeat (ttl is false): only a TTL check carries its result');
  }
  const deregisterAfterMs = duration(
    options.deregisterCriticalServiceAfter,
    'deregisterCriticalServiceAfter',
    DEFAULTS.deregisterCriticalServiceAfterMs,
  );
  if (deregisterAfterMs <= 0)
    problems.push('deregisterCriticalServiceAfter must be > 0 (it is the crash net)');

  const checks: AgentCheckDefinition[] = [];
  const serviceName = String(name);
  const crashNet = { deregisterCriticalServiceAfter: deregisterAfterMs };
  // An HTTP or TCP probe's interval and timeout, each given or defaulted, and > 0.
  const probeTiming = (
    probe: { interval?: number | string; timeout?: number | string },
    kind: 'http' | 'tcp',
  ): { interval: number; timeout: number } => ({
    interval: positive(
      duration(probe.interval, `${kind}.interval`, DEFAULTS.probeIntervalMs),
      `${kind}.interval`,
      problems,
    ),
    timeout: positive(
      duration(probe.timeout, `${kind}.timeout`, DEFAULTS.probeTimeoutMs),
      `${kind}.timeout`,
      problems,
    ),
  });
  const ttlCheckId = ttlMs === undefined ? undefined : `service:${id}:ttl`;
  if (ttlMs !== undefined) {
    // consul-semantics §S1.3: TTL and Interval are exclusive; a TTL check gets no Interval.
    checks.push({ checkId: ttlCheckId, name: `Service '${serviceName}' heartbeat`, ttl: ttlMs, ...crashNet });
  }
  if (options.http !== undefined) {
    const http = options.http;
    if (
      typeof http !== 'object' ||
      http === null ||
      typeof http.url !== 'string' ||
      !/^https?:\/\//.test(http.url)
    ) {
      problems.push('http.url must be an http:// or https:// URL');
    } else {
      checks.push({
        checkId: `service:${id}:http`,
        name: `Service '${serviceName}' HTTP check`,
        http: http.url,
        ...(http.method === undefined ? {} : { method: http.method }),
        ...(http.header === undefined ? {} : { header: http.header }),
        ...(http.tlsSkipVerify === undefined ? {} : { tlsSkipVerify: http.tlsSkipVerify }),
        ...probeTiming(http, 'http'),
        ...crashNet,
      });
    }
  }
  if (options.tcp !== undefined) {
    const tcp = options.tcp;
    if (
      typeof tcp !== 'object' ||
      tcp === null ||
      typeof tcp.address !== 'string' ||
      !/:\d+$/.test(tcp.address)
    ) {
      problems.push('tcp.address must be host:port');
    } else {
      checks.push({
        checkId: `service:${id}:tcp`,
        name: `Service '${serviceName}' TCP check`,
        tcp: tcp.address,
        ...probeTiming(tcp, 'tcp'),
        ...crashNet,
      });
    }
  }
  if (checks.length === 0) {
    problems.push(
      'the service needs a check: keep the TTL heartbeat (ttl) or give http or tcp, so a crash is noticed',
    );
  }
  if (options.replace !== undefined && typeof options.replace !== 'boolean')
    problems.push('replace must be a boolean');
  const drainMs = duration(options.drain, 'drain', DEFAULTS.drainMs);
  const closeTimeoutMs = positive(
    duration(options.closeTimeout, 'closeTimeout', DEFAULTS.closeTimeoutMs),
    'closeTimeout',
    problems,
  );
  if (drainMs >= closeTimeoutMs && closeTimeoutMs > 0) {
    problems.push(
      `drain (${drainMs} ms) must be shorter than closeTimeout (${closeTimeoutMs} ms): the deregister runs after it, inside the same bound; raise closeTimeout`,
    );
  }
  const resyncIntervalMs = positive(
    duration(options.resyncInterval, 'resyncInterval', DEFAULTS.resyncIntervalMs),
    'resyncInterval',
    problems,
  );
  const retryMinMs = duration(options.retry?.minMs, 'retry.minMs', DEFAULTS.retryMinMs);
  const retryMaxMs = duration(options.retry?.maxMs, 'retry.maxMs', DEFAULTS.retryMaxMs);
  if (retryMinMs <= 0 || retryMaxMs < retryMinMs) problems.push('retry needs 0 < minMs <= maxMs');
  if (options.random !== undefined && typeof options.random !== 'function')
    problems.push('random must be a function');

  if (problems.length > 0) {
    const label = typeof name === 'string' && name !== '' ? ` ${name}` : '';
    throw new InvalidArgumentError(
      `${OPERATION}${label}: ${problems.length === 1 ? 'one problem' : `${problems.length} problems`}:\n${problems
        .map((problem) => `  - ${problem}`)
        .join('\n')}`,
      { operation: OPERATION, key: typeof id === 'string' ? id : undefined },
    );
  }

  const definition: AgentServiceDefinition = {
    id,
    name: serviceName,
    tags: [...tags],
    address,
    port,
    meta: { ...(options.meta ?? {}) },
    weights,
    checks,
  };
  return {
    id,
    name: serviceName,
    address,
    port,
    definition,
    ttlCheckId,
    ttlMs,
    health: options.health,
    replace: options.replace ?? false,
    drainMs,
    closeTimeoutMs,
    resyncIntervalMs,
    retryMinMs,
    retryMaxMs,
    random: options.random ?? Math.random,
    // consul-semantics §S7: Consul registers such names but only logs that DNS cannot find them.
    warnings: /[^A-Za-z0-9-]/.test(serviceName)
      ? [
          `service name ${JSON.stringify(serviceName)} will not be discoverable via DNS: use only letters, digits and dashes`,
        ]
      : [],
  };
}

/** `<name>-<host>-<port>-<pid>` with characters outside `[A-Za-z0-9_.-]` replaced by `-`. */
export function defaultServiceId(name: string, host: string, port: number, pid: number): string {
  return `${name}-${host}-${port}-${pid}`.replace(/[^A-Za-z0-9_.-]/g, '-');
}

function positive(ms: number, name: string, problems: string[]): number {
  if (ms <= 0) problems.push(`${name} must be > 0`);
  return ms;
}

/** consul-semantics §S1.3: Consul's metadata rules, in its words. */
function checkMeta(meta: unknown, problems: string[]): void {
  if (meta === undefined) return;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    problems.push('meta must be an object of strings');
    return;
  }
  const entries = Object.entries(meta);
  if (entries.length > META_MAX_PAIRS) {
    problems.push(`meta has ${entries.length} pairs; Consul allows at most ${META_MAX_PAIRS}`);
  }
  for (const [key, value] of entries) {
    const shown = JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
    if (key === '') problems.push('meta key cannot be blank');
    else if (key.length > META_KEY_MAX)
      problems.push(`meta key ${shown} is too long (limit: ${META_KEY_MAX} characters)`);
    else if (!META_KEY.test(key))
      problems.push(`meta key ${shown} contains invalid characters (allowed: a-z A-Z 0-9 _ -)`);
    else if (key.startsWith('consul-'))
      problems.push(`meta key ${shown}: the prefix 'consul-' is reserved for internal use`);
    if (typeof value !== 'string') problems.push(`meta value of ${shown} must be a string`);
    else if (value.length > META_VALUE_MAX) {
      problems.push(`meta value of ${shown} is too long (limit: ${META_VALUE_MAX} characters)`);
    }
  }
}

function checkWeights(
  weights: RegisterServiceOptions['weights'],
  problems: string[],
): { passing: number; warning: number } {
  if (weights === undefined) return { passing: 1, warning: 1 };
  if (typeof weights !== 'object' || weights === null) {
    problems.push('weights must be { passing, warning }');
    return { passing: 1, warning: 1 };
  }
  const passing = weights.passing;
  const warning = weights.warning ?? 1;
  // consul-semantics §S1.3: Passing must be greater than 0, Warning greater or equal than 0.
  if (!Number.isInteger(passing) || passing < 1) problems.push('weights.passing must be an integer >= 1');
  if (!Number.isInteger(warning) || warning < 0) problems.push('weights.warning must be an integer >= 0');
  return { passing, warning };
}
