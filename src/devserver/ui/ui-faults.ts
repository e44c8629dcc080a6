/**
 * The page's fault switches over the server's fault rules: each rule gets an ID the page can turn off, a
 * rule can last a number of requests or a time on the server's clock, and every rule (those from `--chaos`
 * and `server.faults.inject()` included) is listed with what it still applies to.
 * @module
 */
import type { DevServerClock } from '../checks-runner.js';
import {
  type ActiveFault,
  type DevServerFaults,
  FAULT_KINDS,
  type Fault,
  type FaultRule,
} from '../faults.js';

/** A rule as the page shows it. */
export interface FaultView {
  readonly id: number;
  readonly kind: Fault['kind'];
  /** One line for people, e.g. `status 500 on GET config/`. */
  readonly label: string;
  readonly remaining: number | 'inf';
  /** When a timed rule ends, by the server's clock. */
  readonly endsAtMs?: number;
}

/** The body of `POST /ui/api/faults`. */
export interface FaultRequestBody {
  kind: Fault['kind'];
  status?: number;
  index?: number | 'missing';
  /** no-leader: how long the window lasts. */
  durationMs?: number;
  /** How many requests (or check runs) it applies to; `'inf'` until turned off. @default 1, or 'inf' with forMs */
  times?: number | 'inf';
  /** Turned off after this long on the server's clock. */
  forMs?: number;
  /** KV faults: the method of the requests it applies to. @default 'GET' */
  method?: string;
  /** KV faults: only keys starting with this. */
  keyPrefix?: string;
  /** check-hang: only this check. */
  checkId?: string;
}

const KV_KINDS = new Set<Fault['kind']>(['status', 'reset', 'hang', 'malformed', 'index', 'spurious']);
const MAX_FOR_MS = 24 * 3_600_000;

let nextId = 1;
const ids = new WeakMap<ActiveFault, number>();

function idOf(rule: ActiveFault): number {
  let id = ids.get(rule);
  if (id === undefined) {
    id = nextId++;
    ids.set(rule, id);
  }
  return id;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The page's view of the fault rules. */
export class UiFaults {
  readonly #faults: DevServerFaults;
  readonly #clock: DevServerClock;
  /** Rules the page made with a key prefix, for their label. */
  readonly #prefixes = new WeakMap<ActiveFault, string>();
  readonly #timers = new Map<ActiveFault, { handle: unknown; endsAtMs: number }>();

  constructor(faults: DevServerFaults, clock: DevServerClock) {
    this.#faults = faults;
    this.#clock = clock;
  }

  /** Every rule not yet used up, in the order they are consumed. */
  list(): FaultView[] {
    return this.#faults.active().map((rule) => {
      const timer = this.#timers.get(rule);
      return {
        id: idOf(rule),
        kind: rule.fault.kind,
        label: this.#label(rule),
        remaining: rule.remaining === Number.POSITIVE_INFINITY ? 'inf' : rule.remaining,
        ...(timer === undefined ? {} : { endsAtMs: timer.endsAtMs }),
      };
    });
  }

  /** Adds a rule from the page's request; the error text says what is wrong with it. */
  add(body: unknown): { ok: true; fault: FaultView } | { ok: false; error: string } {
    const parsed = parseBody(body);
    if (typeof parsed === 'string') return { ok: false, error: parsed };
    let rule: ActiveFault;
    try {
      rule = this.#faults.inject(parsed.rule);
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    if (parsed.keyPrefix !== undefined) this.#prefixes.set(rule, parsed.keyPrefix);
    if (parsed.forMs !== undefined) {
      const endsAtMs = this.#clock.now() + parsed.forMs;
      const handle = this.#clock.setTimeout(() => {
        this.#timers.delete(rule);
        this.#faults.withdraw(rule);
      }, parsed.forMs);
      this.#timers.set(rule, { handle, endsAtMs });
    }
    const view = this.list().find((fault) => fault.id === idOf(rule));
    return view === undefined
      ? { ok: false, error: 'the rule was used up at once' }
      : { ok: true, fault: view };
  }

  /** Turns one rule off; false when it is gone already. */
  remove(id: number): boolean {
    const rule = this.#faults.active().find((candidate) => idOf(candidate) === id);
    if (rule === undefined) return false;
    this.#cancelTimer(rule);
    return this.#faults.withdraw(rule);
  }

  /** Turns every rule off. */
  clear(): void {
    for (const rule of [...this.#timers.keys()]) this.#cancelTimer(rule);
    this.#faults.clear();
  }

  /** Stops the timers of timed rules. */
  close(): void {
    for (const rule of [...this.#timers.keys()]) this.#cancelTimer(rule);
  }

  #cancelTimer(rule: ActiveFault): void {
    const timer = this.#timers.get(rule);
    if (timer === undefined) return;
    this.#clock.clearTimeout(timer.handle);
    this.#timers.delete(rule);
  }

  #label(rule: ActiveFault): string {
    const { fault } = rule;
    const what =
      fault.kind === 'status'
        ? `status ${fault.status}`
        : fault.kind === 'index'
          ? `index ${fault.index}`
          : fault.kind === 'no-leader'
            ? `no leader for ${fault.durationMs} ms`
            : fault.kind;
    if (fault.kind === 'agent-restart' || fault.kind === 'no-leader') return `${what} (next request)`;
    const prefix = this.#prefixes.get(rule);
    const path =
      prefix !== undefined
        ? `${prefix}*`
        : typeof rule.path === 'string'
          ? rule.path
          : rule.path === undefined
            ? 'any key'
            : String(rule.path);
    if (fault.kind === 'check-hang') return `${what} (${rule.path === undefined ? 'any check' : path})`;
    return `${what} on ${rule.method} ${path}`;
  }
}

interface ParsedBody {
  rule: FaultRule;
  keyPrefix: string | undefined;
  forMs: number | undefined;
}

function parseBody(body: unknown): ParsedBody | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'expected a JSON object';
  const b = body as Partial<Record<keyof FaultRequestBody, unknown>>;
  if (typeof b.kind !== 'string' || !FAULT_KINDS.has(b.kind as Fault['kind'])) {
    return `kind must be one of ${[...FAULT_KINDS].join(', ')}`;
  }
  const kind = b.kind as Fault['kind'];
  let fault: Fault;
  switch (kind) {
    case 'status':
      if (typeof b.status !== 'number') return 'status needs a number, e.g. 500';
      fault = { kind, status: b.status };
      break;
    case 'index':
      if (b.index !== 'missing' && typeof b.index !== 'number') return "index needs 'missing' or a number";
      fault = { kind, index: b.index };
      break;
    case 'no-leader':
      if (typeof b.durationMs !== 'number') return 'no-leader needs durationMs';
      fault = { kind, durationMs: b.durationMs };
      break;
    default:
      fault = { kind } as Fault;
  }
  let forMs: number | undefined;
  if (b.forMs !== undefined) {
    if (
      typeof b.forMs !== 'number' ||
      !Number.isSafeInteger(b.forMs) ||
      b.forMs <= 0 ||
      b.forMs > MAX_FOR_MS
    ) {
      return 'forMs must be an integer from 1 to 86400000';
    }
    forMs = b.forMs;
  }
  let times: number;
  if (b.times === undefined) times = forMs === undefined ? 1 : Number.POSITIVE_INFINITY;
  else if (b.times === 'inf') times = Number.POSITIVE_INFINITY;
  else if (typeof b.times === 'number') times = b.times;
  else return "times must be a positive integer or 'inf'";
  const rule: FaultRule = { fault, times };
  let keyPrefix: string | undefined;
  if (KV_KINDS.has(kind)) {
    const method = b.method === undefined ? 'GET' : b.method;
    if (typeof method !== 'string' || !['GET', 'PUT', 'DELETE'].includes(method.toUpperCase())) {
      return 'method must be GET, PUT or DELETE';
    }
    rule.match = { method };
    if (b.keyPrefix !== undefined && b.keyPrefix !== '') {
      if (typeof b.keyPrefix !== 'string') return 'keyPrefix must be a string';
      keyPrefix = b.keyPrefix;
      rule.match.path = new RegExp(`^${escapeRegExp(keyPrefix)}`);
    }
  } else if (kind === 'check-hang' && b.checkId !== undefined && b.checkId !== '') {
    if (typeof b.checkId !== 'string') return 'checkId must be a string';
    rule.match = { path: b.checkId };
  }
  return { rule, keyPrefix, forMs };
}
