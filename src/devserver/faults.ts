/**
 * Fault injection for the dev server: make chosen KV requests fail the ways real Consul and real networks
 * do (an error status, a reset connection, a hang, a broken body, a wrong `X-Consul-Index`, a blocking
 * query that returns without a change), so watchers can be tested against them (consul-semantics §8.2, optional faults).
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/** One way to misbehave. */
export type Fault =
  /** Answer with this status and body (default empty) instead of serving. */
  | { kind: 'status'; status: number; body?: string }
  /** Send the headers and part of the body, then reset the connection. */
  | { kind: 'reset' }
  /** Never answer, until the client gives up or the server closes. */
  | { kind: 'hang' }
  /** Answer 200 with a broken JSON body (default `[{"Key":`) and the normal read headers. */
  | { kind: 'malformed'; body?: string }
  /** Serve normally, but with `X-Consul-Index` removed (`'missing'`) or replaced (`0`, a lower value…). */
  | { kind: 'index'; index: 'missing' | number }
  /** A blocking query returns at once with unchanged data and index. Only blocking queries consume it. */
  | { kind: 'spurious' }
  /**
   * The agent restarts before the next request of any kind is served: every service, check and session is
   * forgotten, as `server.agent.restart()` does (consul-semantics §S6.1). Takes no `match`.
   */
  | { kind: 'agent-restart' }
  /**
   * The next request of any kind opens a window of `durationMs` without a cluster leader: KV, transaction,
   * session, catalog and health requests answer `500 No cluster leader` unless they are stale reads, as
   * `server.agent.setLeader(false)` does (consul-semantics §S6.2, §S9.5); the window ends by itself, on the
   * checks' clock. Takes no `match`.
   */
  | { kind: 'no-leader'; durationMs: number }
  /**
   * The next run of an HTTP or TCP check meets a target that never answers, so the probe fails at its
   * Timeout with Go's timeout text. `match.path` is the check ID (default any check); `match.method` is unused.
   */
  | { kind: 'check-hang' };

/** A fault and which requests it applies to. */
export interface FaultRule {
  fault: Fault;
  /** How many matching requests it applies to; `Infinity` = until cleared. @default 1 */
  times?: number;
  match?: {
    /** HTTP method of the requests it applies to. @default 'GET' (faults apply to KV reads unless told otherwise) */
    method?: string;
    /**
     * What it applies to: for KV, the decoded key path after `/v1/kv/`; for the health and catalog reads and
     * the agent and session requests, the URL path (`/v1/health/service/web`). A string must equal it, a RegExp must match
     * it. @default any KV key, health, catalog, agent or session request (by `method`)
     */
    path?: string | RegExp;
  };
}

/** Control over the dev server's faults. */
export interface FaultInjector {
  /**
   * Adds a rule after the existing ones; rules are consumed in order, the first matching rule wins. Returns
   * the rule as it stands: its `remaining` counts down as requests or runs use it up.
   */
  inject(rule: FaultRule): ActiveFault;
  /** Removes every rule. */
  clear(): void;
  /** Number of rules not yet used up. */
  pending(): number;
}

/** A KV request as the fault rules see it. */
export interface FaultRequest {
  readonly method: string;
  /** The decoded key path after `/v1/kv/`, or the URL path of a health, catalog, agent or session request. */
  readonly path: string;
  /** Whether it is a blocking query (`index` > 0). */
  readonly blocking: boolean;
}

/** A rule as {@link FaultInjector.inject} returns it and {@link DevServerFaults.active} lists it. */
export interface ActiveFault {
  readonly fault: Fault;
  /** Upper-cased HTTP method it applies to (KV faults). */
  readonly method: string;
  readonly path: string | RegExp | undefined;
  /** Requests or runs it still applies to, counting down as they use it; `Infinity` until cleared. */
  readonly remaining: number;
}

interface ActiveRule extends ActiveFault {
  remaining: number;
}

/** Every fault kind, for validating a fault that came from outside (the API, the web page). */
export const FAULT_KINDS: ReadonlySet<Fault['kind']> = new Set<Fault['kind']>([
  'status',
  'reset',
  'hang',
  'malformed',
  'index',
  'spurious',
  'agent-restart',
  'no-leader',
  'check-hang',
]);

/** Faults that hit the agent itself, consumed by the next request whatever it is. */
const AGENT_KINDS: ReadonlySet<Fault['kind']> = new Set(['agent-restart', 'no-leader']);
/** Faults consumed by check probes rather than requests. */
const PROBE_KINDS: ReadonlySet<Fault['kind']> = new Set(['check-hang']);

/** Which requests or runs a fault is taken by. */
function areaOf(fault: Fault): 'kv' | 'agent' | 'probe' {
  if (AGENT_KINDS.has(fault.kind)) return 'agent';
  return PROBE_KINDS.has(fault.kind) ? 'probe' : 'kv';
}

function invalid(message: string): InvalidArgumentError {
  return new InvalidArgumentError(message, { operation: 'devserver.faults.inject' });
}

function validateFault(fault: Fault): void {
  if (!FAULT_KINDS.has(fault.kind)) throw invalid(`unknown fault kind ${JSON.stringify(fault.kind)}`);
  if (
    fault.kind === 'status' &&
    !(Number.isInteger(fault.status) && fault.status >= 100 && fault.status <= 999)
  ) {
    throw invalid(`fault status must be an HTTP status code (100-999), got ${fault.status}`);
  }
  if (
    fault.kind === 'index' &&
    fault.index !== 'missing' &&
    !(Number.isInteger(fault.index) && fault.index >= 0)
  ) {
    throw invalid(`fault index must be 'missing' or an integer >= 0, got ${fault.index}`);
  }
  if (fault.kind === 'no-leader' && !(Number.isSafeInteger(fault.durationMs) && fault.durationMs > 0)) {
    throw invalid(`fault durationMs must be an integer > 0, got ${fault.durationMs}`);
  }
}

/** The dev server's fault rules. */
export class DevServerFaults implements FaultInjector {
  #rules: ActiveRule[] = [];

  /** Adds a rule (see {@link FaultInjector.inject}); returns it as {@link active} lists it, for {@link withdraw}. */
  inject(rule: FaultRule): ActiveFault {
    validateFault(rule.fault);
    if (areaOf(rule.fault) === 'agent' && rule.match !== undefined) {
      throw invalid(
        `the ${rule.fault.kind} fault applies to the next request of any kind and takes no match`,
      );
    }
    const times = rule.times ?? 1;
    if (!(times === Number.POSITIVE_INFINITY || (Number.isInteger(times) && times > 0))) {
      throw invalid(`fault times must be a positive integer or Infinity, got ${times}`);
    }
    const active: ActiveRule = {
      fault: rule.fault,
      method: (rule.match?.method ?? 'GET').toUpperCase(),
      path: rule.match?.path,
      remaining: times,
    };
    this.#rules.push(active);
    return active;
  }

  /** The rules not yet used up, in the order they are consumed. */
  active(): readonly ActiveFault[] {
    return [...this.#rules];
  }

  /** Removes one rule {@link inject} returned; false when it was already used up or cleared. */
  withdraw(rule: ActiveFault): boolean {
    const at = this.#rules.indexOf(rule as ActiveRule);
    if (at < 0) return false;
    this.#rules.splice(at, 1);
    return true;
  }

  clear(): void {
    this.#rules = [];
  }

  pending(): number {
    return this.#rules.length;
  }

  /** Consumes and returns the fault for this KV, health, catalog or agent request, if a rule matches. */
  take(request: FaultRequest): Fault | undefined {
    return this.#takeFirst((rule) => matches(rule, request));
  }

  /** Consumes and returns the agent fault (`agent-restart`, `no-leader`) the next request meets, if any. */
  takeAgent(): Fault | undefined {
    return this.#takeFirst((rule) => areaOf(rule.fault) === 'agent');
  }

  /** Consumes a `check-hang` rule for this run of the check's probe; returns whether there was one. */
  takeProbeHang(checkId: string): boolean {
    return (
      this.#takeFirst((rule) => areaOf(rule.fault) === 'probe' && pathMatches(rule.path, checkId)) !==
      undefined
    );
  }

  #takeFirst(predicate: (rule: ActiveRule) => boolean): Fault | undefined {
    const at = this.#rules.findIndex(predicate);
    const rule = this.#rules[at];
    if (rule === undefined) return undefined;
    rule.remaining--;
    if (rule.remaining <= 0) this.#rules.splice(at, 1);
    return rule.fault;
  }
}

function pathMatches(path: string | RegExp | undefined, value: string): boolean {
  if (path === undefined) return true;
  return typeof path === 'string' ? path === value : path.test(value);
}

function matches(rule: ActiveRule, request: FaultRequest): boolean {
  if (areaOf(rule.fault) !== 'kv') return false;
  if (rule.method !== request.method) return false;
  if (rule.fault.kind === 'spurious' && !request.blocking) return false;
  return pathMatches(rule.path, request.path);
}

/**
 * Parses the CLI's `--chaos` spec into rules: comma-separated `kind[=arg][:times]` items, in order. KV read
 * kinds: `status=<code>`, `reset`, `hang`, `malformed`, `index=<missing|n>`, `spurious`; agent kinds, taken by
 * the next request of any kind: `agent-restart`, `no-leader=<duration>` (`500ms`, `5s`, `2m`); check kind:
 * `check-hang`. Times is a positive integer or `inf` (default 1). Example: `status=500:3,hang:1` — three
 * 500s, then one hang.
 * @throws {InvalidArgumentError} naming the bad item.
 */
export function parseChaosSpec(spec: string): FaultRule[] {
  const rules: FaultRule[] = [];
  for (const rawItem of spec.split(',')) {
    const item = rawItem.trim();
    if (item === '') continue;
    const fail = (why: string) =>
      new InvalidArgumentError(`invalid --chaos item ${JSON.stringify(item)}: ${why}`, {
        operation: 'devserver.chaos',
      });
    const [head = '', timesText, extra] = item.split(':');
    if (extra !== undefined) throw fail('too many ":"');
    let times = 1;
    if (timesText !== undefined) {
      if (timesText === 'inf') times = Number.POSITIVE_INFINITY;
      else if (/^[1-9][0-9]*$/.test(timesText)) times = Number(timesText);
      else throw fail('times must be a positive integer or "inf"');
    }
    const equals = head.indexOf('=');
    const kind = equals < 0 ? head : head.slice(0, equals);
    const arg = equals < 0 ? undefined : head.slice(equals + 1);
    rules.push({ fault: chaosFault(kind, arg, fail), times });
  }
  return rules;
}

function chaosFault(kind: string, arg: string | undefined, fail: (why: string) => Error): Fault {
  const noArg = (fault: Fault): Fault => {
    if (arg !== undefined) throw fail(`${kind} takes no argument`);
    return fault;
  };
  switch (kind) {
    case 'status':
      if (arg === undefined || !/^[1-9][0-9]{2}$/.test(arg))
        throw fail('status needs a code, e.g. status=503');
      return { kind: 'status', status: Number(arg) };
    case 'index':
      if (arg === 'missing') return { kind: 'index', index: 'missing' };
      if (arg === undefined || !/^[0-9]+$/.test(arg))
        throw fail('index needs "missing" or a number, e.g. index=0');
      return { kind: 'index', index: Number(arg) };
    case 'reset':
    case 'hang':
    case 'spurious':
      return noArg({ kind });
    case 'malformed':
    case 'agent-restart':
    case 'check-hang':
      return noArg({ kind });
    case 'no-leader': {
      const durationMs = arg === undefined ? undefined : parseChaosDuration(arg);
      if (durationMs === undefined) throw fail('no-leader needs a duration, e.g. no-leader=5s');
      return { kind: 'no-leader', durationMs };
    }
    default:
      throw fail(
        'unknown kind (status, reset, hang, malformed, index, spurious, agent-restart, no-leader, check-hang)',
      );
  }
}

const DURATION_UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000 };

/** `500ms`, `5s`, `2m` → ms; undefined for anything else (zero included). */
function parseChaosDuration(text: string): number | undefined {
  const match = /^([1-9][0-9]*)(ms|s|m)$/.exec(text);
  if (match === null) return undefined;
  const ms = Number(match[1]) * (DURATION_UNIT_MS[match[2] as string] as number);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
