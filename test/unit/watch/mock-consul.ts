/**
 * A scripted Consul for Watcher unit tests: an undici MockAgent (no sockets, no network) with helpers that
 * answer KV reads the way Consul does (consul-semantics §1–consul-semantics §3) and can hold an answer back like a blocking query.
 */
import { MockAgent } from 'undici';

export const ADDRESS = 'http://127.0.0.1:8500';

/** A KV entry as a test writes it. */
export interface EntrySpec {
  key: string;
  value: string | null;
  modifyIndex: number;
  flags?: number;
}

/** An answer: entries (a JSON list), `null` for 404, or an error status with a text body. */
export interface AnswerSpec {
  entries?: EntrySpec[] | null;
  /** `X-Consul-Index`; omitted when undefined. */
  index?: number | undefined;
  status?: number;
  body?: string;
  lastContact?: number;
}

/** The body Consul sends for `entries` (compact, in the given order). */
export function consulBody(entries: EntrySpec[]): string {
  return JSON.stringify(
    entries.map((e) => ({
      LockIndex: 0,
      Key: e.key,
      Flags: e.flags ?? 0,
      Value: e.value === null ? null : Buffer.from(e.value).toString('base64'),
      CreateIndex: 1,
      ModifyIndex: e.modifyIndex,
    })),
  );
}

export class MockConsul {
  readonly agent = new MockAgent({ enableCallHistory: true });
  readonly #pool = this.agent.get(ADDRESS);

  constructor() {
    this.agent.disableNetConnect();
  }

  /**
   * Expects one GET of `path` (with its exact query string) and answers it. With `hold`, the answer waits
   * until the returned `release()` is called (a blocking query); without, it comes at once.
   */
  answer(
    path: string,
    spec: AnswerSpec,
    options: { hold?: boolean; times?: number } = {},
  ): { release: () => void; arrived: Promise<void> } {
    let release: () => void = () => {};
    let arrive: () => void = () => {};
    const arrived = new Promise<void>((resolve) => (arrive = resolve));
    const gate = options.hold ? new Promise<void>((resolve) => (release = resolve)) : undefined;
    const headers: Record<string, string> = {
      'x-consul-knownleader': 'true',
      'x-consul-lastcontact': String(spec.lastContact ?? 0),
    };
    if (spec.index !== undefined) headers['x-consul-index'] = String(spec.index);
    let status = spec.status ?? 200;
    let text = spec.body ?? '';
    if (spec.status === undefined) {
      if (spec.entries === null) status = 404;
      else {
        headers['content-type'] = 'application/json';
        text = consulBody(spec.entries ?? []);
      }
    }
    this.#pool
      .intercept({ path, method: 'GET' })
      .reply(
        status,
        () => {
          arrive();
          return gate === undefined ? text : gate.then(() => text);
        },
        { headers },
      )
      .times(options.times ?? 1);
    return { release, arrived };
  }

  /**
   * Answers every GET of `path` with `503 busy` until `heal()`, then with `spec` (entries and index).
   * Expected to be called at least once.
   */
  flaky(path: string, spec: { entries: EntrySpec[]; index: number }): { heal: () => void } {
    let healed = false;
    this.#pool
      .intercept({ path, method: 'GET' })
      .reply(() =>
        healed
          ? {
              statusCode: 200,
              data: consulBody(spec.entries),
              responseOptions: {
                headers: { 'content-type': 'application/json', 'x-consul-index': String(spec.index) },
              },
            }
          : { statusCode: 503, data: 'busy' },
      )
      .persist();
    return { heal: () => (healed = true) };
  }

  /**
   * Expects one GET of `path` that never answers (a blocking query left open until it is aborted).
   * Resolves when that request arrives.
   */
  hang(path: string): Promise<void> {
    return new Promise((arrived) => {
      this.#pool.intercept({ path, method: 'GET' }).reply(200, () => {
        arrived();
        return new Promise<string>(() => {});
      });
    });
  }

  /** Expects one GET of `path` that fails like a refused connection (no answer at all). */
  refuse(path: string): void {
    const error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8500'), { code: 'ECONNREFUSED' });
    this.#pool.intercept({ path, method: 'GET' }).replyWithError(error);
  }

  /** Every request so far, as `path?query`. */
  requests(): string[] {
    return (this.agent.getCallHistory()?.calls() ?? []).map((c) => c.fullUrl.slice(ADDRESS.length));
  }

  /** Headers of the n-th request. */
  headers(n: number): Record<string, string | string[]> | null | undefined {
    return this.agent.getCallHistory()?.calls()[n]?.headers;
  }

  async close(): Promise<void> {
    this.agent.assertNoPendingInterceptors();
    await this.agent.close();
  }
}

/** One state of a scripted key or prefix: full key → value (a prefix), or the key's value (`null`: missing). */
export type ScriptState = Record<string, string> | string | null | { status: number; body: string };

/** What {@link scriptKv} gives a test. */
export interface KvScript {
  /** Answers the blocking request held open since the last step with the next state. */
  next(): Promise<void>;
  /** Steps left. */
  readonly left: number;
}

/**
 * A key or prefix whose states the test steps through, answered as Consul would: the first read gets
 * `states[0]` at once; each later state answers the blocking query held open until `next()`, and a last
 * blocking request hangs. `next()` resolves once the watcher sent its next request, so every event of the
 * answer has been emitted by then. An error state (`{ status, body }`) answers a request with that status;
 * the watcher's retry after it is a full read (index 0), answered with the next state.
 * Call `ready()` after the first value to wait for the first blocking request.
 */
export function scriptKv(
  consul: MockConsul,
  key: string,
  states: readonly ScriptState[],
  options: { startIndex?: number; wait?: string } = {},
): KvScript & { ready(): Promise<void> } {
  const prefix = key.endsWith('/');
  const wait = options.wait ?? '300000ms';
  const base = prefix ? `/v1/kv/${key}?recurse=` : `/v1/kv/${key}`;
  const blocking = (index: number) => `${base}${prefix ? '&' : '?'}index=${index}&wait=${wait}`;
  let index = options.startIndex ?? 5;
  const modify = new Map<string, { value: string; modifyIndex: number }>();
  const releases: Array<() => void> = [];
  const arrivals: Promise<void>[] = [];
  let path = base;
  for (const [step, state] of states.entries()) {
    const hold = step > 0;
    let spec: AnswerSpec;
    if (state !== null && typeof state === 'object' && 'status' in state) {
      spec = { status: state.status as number, body: state.body as string };
    } else {
      index += step === 0 ? 0 : 1;
      const values: Record<string, string> =
        state === null ? {} : typeof state === 'string' ? { [key]: state } : state;
      const entries: EntrySpec[] = [];
      for (const [k, value] of Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const before = modify.get(k);
        const modifyIndex = before !== undefined && before.value === value ? before.modifyIndex : index;
        modify.set(k, { value, modifyIndex });
        entries.push({ key: k, value, modifyIndex });
      }
      for (const k of [...modify.keys()]) if (!Object.hasOwn(values, k)) modify.delete(k);
      spec = { entries: entries.length === 0 ? null : entries, index };
    }
    const answer = consul.answer(path, spec, { hold });
    if (step > 0) releases.push(answer.release);
    arrivals.push(answer.arrived);
    // After a failure the watcher reads everything again (index 0), then blocks on the answer's index.
    path = spec.status === undefined ? blocking(index) : base;
  }
  let last: Promise<void> | undefined;
  const hang = (): Promise<void> => {
    last ??= consul.hang(path);
    return last;
  };
  // Registered now: the watcher asks again at once after the last answer.
  const finalArrival = hang();
  let step = 0;
  const arrivalAfter = (n: number) => arrivals[n + 1] ?? finalArrival;
  return {
    ready: () => arrivalAfter(0),
    async next() {
      const release = releases[step];
      if (release === undefined) throw new Error('scriptKv: no state left');
      step += 1;
      release();
      await arrivalAfter(step);
    },
    get left() {
      return releases.length - step;
    },
  };
}
