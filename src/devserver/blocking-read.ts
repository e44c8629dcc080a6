/**
 * Consul's blocking-query loop for any read (consul-semantics §4): KV reads subscribe to the keys they watch,
 * session reads to the sessions table; the loop answers on an index rise or at the timeout.
 * @module
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { type HeldKind, type RouteContext, readMetaHeaders } from './consul-http.js';
import { sendBody } from './http-io.js';

/** One evaluation of a read: the response it would give now. */
export interface ReadAnswer {
  readonly status: 200 | 404;
  readonly index: number;
  readonly body: Buffer;
  readonly headers: OutgoingHttpHeaders;
  /** A single-key GET that found nothing (consul-semantics §4: such a query keeps blocking). */
  readonly missingKey: boolean;
}

/** Sends a read's answer with the read headers; `indexOverride` is an `index` fault's value. */
export function sendRead(
  ctx: RouteContext,
  res: ServerResponse,
  answer: ReadAnswer,
  indexOverride: number | 'missing' | undefined,
): void {
  const knownLeader = ctx.leader.hasLeader;
  const headers = { ...readMetaHeaders(indexOverride ?? answer.index, knownLeader), ...answer.headers };
  sendBody(res, answer.status, answer.body, headers);
}

/** A held read: how to evaluate it, and how to hear of changes that may end it. */
export interface BlockingRead {
  /** What is read, for `stats().blockingHeldByKind`. */
  readonly kind: Extract<HeldKind, 'kv' | 'session'>;
  /** Registers `wake` for every change that may move the read's index; returns the remover. */
  readonly subscribe: (wake: () => void) => () => void;
  readonly evaluate: () => ReadAnswer;
  readonly minIndex: bigint;
  readonly timeoutMs: number;
  /** A `spurious` fault: return at once with the unchanged result. */
  readonly spurious: boolean;
  readonly indexOverride: number | 'missing' | undefined;
}

/**
 * Consul's blocking loop (consul-semantics §4): answer as soon as the result's index exceeds the floor (the client's index
 * at first); otherwise wait for a change, re-evaluate, and at the timeout answer
 * with the current result. A single key that is still missing on a re-evaluation moves the floor up to the
 * current index, so unrelated writes never end its wait (newer Consul path).
 */
export function holdBlockingRead(ctx: RouteContext, res: ServerResponse, query: BlockingRead): void {
  let floor = query.minIndex;
  let sawMissingKey = false;
  const ready = (answer: ReadAnswer): boolean => {
    if (answer.missingKey) {
      if (sawMissingKey) floor = BigInt(answer.index);
      sawMissingKey = true;
    }
    return BigInt(answer.index) > floor;
  };

  const first = query.evaluate();
  if (ready(first) || query.spurious) {
    sendRead(ctx, res, first, query.indexOverride);
    return;
  }

  let settled = false;
  const settle = (answer: ReadAnswer | undefined) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    unregister();
    ctx.held.delete(held);
    res.off('close', onClose);
    if (answer !== undefined) sendRead(ctx, res, answer, query.indexOverride);
  };
  const held = { kind: query.kind, end: () => settle(undefined) };
  const onClose = () => settle(undefined);
  const unregister = query.subscribe(() => {
    ctx.counters.wakeups[query.kind]++;
    const answer = query.evaluate();
    if (ready(answer)) settle(answer);
  });
  const timer = setTimeout(() => settle(query.evaluate()), query.timeoutMs);
  ctx.held.add(held);
  // The response closes when the client disconnects: drop the waiter at once.
  res.on('close', onClose);
}
