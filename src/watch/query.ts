/**
 * One blocking query of any kind, shared by the subscriptions it serves: it runs the loop with the
 * watcher's pacing, backoff and index rules, reports failures (logger, diagnostics channel, subscribers)
 * and passes health changes on. A query kind (query-kv.ts) supplies only the fetch and what an answer means,
 * as a fetch function in Consul's api/watch (funcs.go) leaves the loop to plan.go.
 * @module
 */
import { type WatchStateMessage, watchErrorChannel, watchStateChannel } from '../diagnostics.js';
import { type ConsulError, errorText, isConsulError, TransportError } from '../errors.js';
import { BlockingLoop, type FetchFn, type LoopAnswer, type LoopStats } from './loop.js';
import type { ResolvedWatcherOptions } from './options.js';
import { kError, kHealth } from './subscription.js';
import type { LoopState } from './types.js';

/** What a query tells the subscriptions it serves. A `Subscription` is one. */
export interface QuerySubscriber {
  [kHealth](state: LoopState): void;
  [kError](error: ConsulError): void;
}

/** The part a query kind supplies. */
export interface QueryKind<A extends LoopAnswer> {
  /** Runs one request; see {@link FetchFn}. */
  fetch: FetchFn<A>;
  /**
   * Applies a successful answer. `verifyValues`: equal modify indexes are not to be trusted for this answer
   * (a full read, an index reset or a wait timeout; consul-semantics §3). `first`: the query's first answer.
   */
  onAnswer(answer: A, verifyValues: boolean, first: boolean): void;
  /** Every subscriber, copied: a listener may close one (or watch another) while the query iterates. */
  subscribers(): QuerySubscriber[];
}

/** The loop of one query and its reporting. */
export class BlockingQuery<A extends LoopAnswer> {
  readonly key: string;
  readonly #loop: BlockingLoop<A>;
  readonly #options: ResolvedWatcherOptions;
  readonly #kind: QueryKind<A>;
  #answered = false;
  /** The last failure while the query has never answered: a late subscriber needs to know of it. */
  #failureBeforeFirst: ConsulError | undefined;

  constructor(key: string, options: ResolvedWatcherOptions, kind: QueryKind<A>) {
    this.key = key;
    this.#options = options;
    this.#kind = kind;
    this.#loop = new BlockingLoop<A>({
      fetch: kind.fetch,
      // Compare values even under an equal index on full reads, resets and wait timeouts (index unchanged):
      // a restarted or rebuilt cluster can reuse indexes for other data (consul-semantics §3). These answers
      // are rare (one per `wait` when idle), so the hot path after a real change stays cheap.
      onResult: (answer, info) => {
        const first = !this.#answered;
        this.#answered = true;
        this.#failureBeforeFirst = undefined;
        if (info.step.reset) this.#indexReset(info.sentIndex, answer.index);
        const verifyValues = info.sentIndex === 0 || info.step.reset || info.step.next === info.sentIndex;
        kind.onAnswer(answer, verifyValues, first);
      },
      onError: (error, info) => this.#onError(toConsulError(error, key), info.delayMs, info.attempt),
      onState: (state, previous) => {
        this.#stateChanged(state, previous);
        for (const subscriber of kind.subscribers()) subscriber[kHealth](state);
      },
      onCallbackError: (error) =>
        options.logger.error({ key, err: error }, `watch ${key}: internal error while applying an answer`),
      minIntervalMs: options.minIntervalMs,
      churnIntervalMs: options.churnIntervalMs,
      backoff: options.backoff,
      staleAfterMs: options.staleAfterMs,
      random: options.random,
    });
    this.#loop.start();
  }

  /** Whether an answer has come. */
  get answered(): boolean {
    return this.#answered;
  }

  get state(): LoopState {
    return this.#loop.state;
  }

  get stats(): LoopStats {
    return this.#loop.stats;
  }

  /** Tells a subscriber that joins late what the others already know: staleness, a failure before any answer. */
  welcome(subscriber: QuerySubscriber): void {
    if (this.#loop.state === 'stale') subscriber[kHealth]('stale');
    // Consul is already failing: a late subscription starts from the cache (or fails `ready` on a 403) now
    // rather than at the next failure, up to a backoff maximum away.
    if (!this.#answered && this.#failureBeforeFirst !== undefined)
      subscriber[kError](this.#failureBeforeFirst);
  }

  /** Stops the loop, aborting its request; resolves once it has ended. */
  close(): Promise<void> {
    return this.#loop.close();
  }

  /** Logs a state change (info, or warn for `stale`) and publishes it. */
  #stateChanged(state: LoopState, previous: LoopState): void {
    const { logger, staleAfterMs } = this.#options;
    const key = this.key;
    if (state === 'ready' && previous === 'connecting')
      logger.info({ key, state }, `watch ${key}: connected`);
    else if (state === 'ready') logger.info({ key, state }, `watch ${key}: recovered; Consul answers again`);
    else if (state === 'stale') {
      logger.warn(
        { key, state, staleAfterMs },
        `watch ${key}: stale: requests have failed for ${staleAfterMs} ms; the last good value keeps serving`,
      );
    }
    if (watchStateChannel.hasSubscribers)
      watchStateChannel.publish({ key, state, previous } satisfies WatchStateMessage);
  }

  /** Consul's index went backwards (tombstones reaped, a snapshot restore, a rebuilt cluster; consul-semantics §3.4). */
  #indexReset(fromIndex: number, toIndex: number): void {
    const key = this.key;
    this.#options.logger.info(
      { key, fromIndex, toIndex },
      `watch ${key}: Consul's index went backwards (${fromIndex} -> ${toIndex}); reading everything again`,
    );
    if (watchStateChannel.hasSubscribers) {
      const previous = this.#loop.state;
      watchStateChannel.publish({
        key,
        state: 'index-reset',
        previous,
        fromIndex,
        toIndex,
      } satisfies WatchStateMessage);
    }
  }

  #onError(error: ConsulError, delayMs: number, attempt: number): void {
    const { logger } = this.#options;
    const log = error.retryable ? logger.warn : logger.error;
    log(
      { key: this.key, code: error.code, status: error.status, attempt, delayMs },
      `${error.message}; retrying in ${delayMs} ms`,
    );
    if (watchErrorChannel.hasSubscribers) watchErrorChannel.publish({ key: this.key, error });
    if (!this.#answered) this.#failureBeforeFirst = error;
    for (const subscriber of this.#kind.subscribers()) subscriber[kError](error);
  }
}

function toConsulError(error: unknown, key: string): ConsulError {
  if (isConsulError(error)) return error;
  return new TransportError(`watch ${key}: ${errorText(error)}`, { operation: 'watch', key, cause: error });
}
