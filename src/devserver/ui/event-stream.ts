/**
 * The web page's live feed: every committed KV write (keys, what happened to each, index, time, how many
 * blocking queries it woke), catalog and session changes, and a once-a-second summary of the counters and
 * faults, pushed as Server-Sent Events. With no page connected it does nothing: a write costs one size
 * check, and no listener, timer or snapshot exists.
 * @module
 */
import type { ServerResponse } from 'node:http';
import type { Catalog } from '../catalog.js';
import { WAIT_AGENT } from '../catalog.js';
import type { SessionStore } from '../sessions.js';
import type { KvEntry, KvStore } from '../store.js';
import type { WaiterRegistry } from '../waiters.js';
import type { UiFaults } from './ui-faults.js';

/** What one key of a write became. */
export interface KvChange {
  readonly key: string;
  /** `create` (new key), `update` (new value, flags or lock holder) or `delete`. */
  readonly op: 'create' | 'update' | 'delete';
  readonly createIndex?: number;
  readonly modifyIndex?: number;
  readonly lockIndex?: number;
  /** Decimal, as flags are uint64. */
  readonly flags?: string;
  readonly session?: string;
  /** Value bytes, base64; absent for an empty value, a delete, or a value over {@link MAX_EVENT_VALUE_BYTES}. */
  readonly value?: string;
  /** Size of the value in bytes. */
  readonly size?: number;
}

/** The `kv` event: one committed write (a PUT, a DELETE, a txn, a session's invalidation). */
export interface KvWriteEvent {
  readonly index: number;
  readonly timeMs: number;
  readonly changes: readonly KvChange[];
  /** Keys left out of `changes` past {@link MAX_EVENT_KEYS}. */
  readonly more: number;
  /** Blocking KV queries this write woke. */
  readonly woken: number;
  /** Blocking KV queries still held after it. */
  readonly held: number;
}

/** Counters the `stats` event carries. */
export interface UiStats {
  readonly requests: number;
  readonly blockingHeld: number;
  readonly wakeups: number;
  readonly connections: number;
}

/** What the feed reads; given once the server has built its parts. */
export interface UiSources {
  readonly store: KvStore;
  readonly waiters: WaiterRegistry;
  readonly catalog: Catalog;
  readonly sessions: SessionStore;
  readonly faults: UiFaults;
  readonly stats: () => UiStats;
  /** Clock for event times, in ms (the server's `now`). */
  readonly now: () => number;
}

/** A write touching more keys than this lists the first ones only (a `deleteTree` of 100,000 keys). */
export const MAX_EVENT_KEYS = 200;
/** Values up to this size travel in the event, so the page never re-reads a key (and never takes a fault). */
export const MAX_EVENT_VALUE_BYTES = 64 * 1024;
/** A page that has this much unsent is too slow to follow and is dropped, so it cannot grow the server's memory. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const TICK_MS = 1_000;
/** A comment line this often keeps proxies and the page's reader from thinking the stream died. */
const KEEPALIVE_TICKS = 15;

/** Server-Sent Events to every connected page. */
export class UiEventStream {
  readonly #clients = new Set<ServerResponse>();
  #sources: UiSources | undefined;
  #unsubscribe: (() => void)[] = [];
  #tick: NodeJS.Timeout | undefined;
  #quietTicks = 0;
  #lastSummary = '';
  #flush: NodeJS.Immediate | undefined;
  #pending = { catalog: false, sessions: false };
  #closed = false;

  /** Pages connected now. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Hands the feed what it reads; until then (seeding) writes are not reported. */
  attach(sources: UiSources): void {
    this.#sources = sources;
  }

  /**
   * Called after every committed KV write with the keys it changed and the blocking queries it woke. Without
   * a page connected it returns at once.
   */
  kvCommitted(keys: readonly string[], woken: number): void {
    if (this.#clients.size === 0 || this.#sources === undefined) return;
    const { store, waiters, now } = this.#sources;
    const index = store.index();
    const changes = keys.slice(0, MAX_EVENT_KEYS).map((key) => changeOf(key, store.get(key).value, index));
    const event: KvWriteEvent = {
      index,
      timeMs: now(),
      changes,
      more: Math.max(0, keys.length - MAX_EVENT_KEYS),
      woken,
      held: waiters.counts().held,
    };
    this.publish('kv', event);
  }

  /** Serves `GET /ui/api/events`: the stream stays open until the page goes or the server closes. */
  connect(res: ServerResponse): void {
    if (this.#closed) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    this.#clients.add(res);
    res.once('close', () => this.#drop(res));
    if (this.#clients.size === 1) this.#start();
    this.#send(res, 'hello', this.#summary());
  }

  /** Sends an event to every page. */
  publish(event: string, data: unknown): void {
    if (this.#clients.size === 0) return;
    const frame = frameOf(event, data);
    for (const res of [...this.#clients]) this.#write(res, frame);
  }

  /** Ends every stream and stops listening; later pages get 503. */
  close(): void {
    this.#closed = true;
    for (const res of [...this.#clients]) res.end();
    this.#stop();
  }

  #start(): void {
    const sources = this.#sources;
    if (sources === undefined) return;
    // A waiter on the catalog's agent key wakes on every catalog write (catalog.ts adds it to each commit).
    this.#unsubscribe = [
      sources.catalog.waiters.add({ kind: 'key', path: WAIT_AGENT }, () => this.#later('catalog')),
      sources.sessions.subscribe(() => this.#later('sessions')),
    ];
    this.#lastSummary = JSON.stringify(this.#summary());
    this.#quietTicks = 0;
    this.#tick = setInterval(() => this.#onTick(), TICK_MS);
    this.#tick.unref();
  }

  #stop(): void {
    for (const remove of this.#unsubscribe) remove();
    this.#unsubscribe = [];
    clearInterval(this.#tick);
    this.#tick = undefined;
    if (this.#flush !== undefined) clearImmediate(this.#flush);
    this.#flush = undefined;
    this.#pending = { catalog: false, sessions: false };
  }

  #drop(res: ServerResponse): void {
    if (!this.#clients.delete(res)) return;
    if (this.#clients.size === 0) this.#stop();
  }

  /** Catalog and session changes come in bursts (an agent restart); the page hears of each burst once. */
  #later(what: 'catalog' | 'sessions'): void {
    this.#pending[what] = true;
    this.#flush ??= setImmediate(() => {
      this.#flush = undefined;
      const pending = this.#pending;
      this.#pending = { catalog: false, sessions: false };
      const sources = this.#sources;
      if (sources === undefined) return;
      if (pending.catalog) this.publish('catalog', { index: sources.catalog.index, timeMs: sources.now() });
      if (pending.sessions)
        this.publish('sessions', { index: sources.sessions.index(), timeMs: sources.now() });
    });
  }

  #onTick(): void {
    const summary = this.#summary();
    const text = JSON.stringify(summary);
    if (text !== this.#lastSummary) {
      this.#lastSummary = text;
      this.#quietTicks = 0;
      this.publish('stats', summary);
      return;
    }
    if (++this.#quietTicks >= KEEPALIVE_TICKS) {
      this.#quietTicks = 0;
      for (const res of [...this.#clients]) this.#write(res, ': keep-alive\n\n');
    }
  }

  #summary(): object {
    const sources = this.#sources;
    if (sources === undefined) return {};
    return {
      index: sources.store.index(),
      leader: sources.catalog.hasLeader,
      stats: sources.stats(),
      faults: sources.faults.list(),
    };
  }

  #send(res: ServerResponse, event: string, data: unknown): void {
    this.#write(res, frameOf(event, data));
  }

  #write(res: ServerResponse, frame: string): void {
    if (res.writableEnded || res.destroyed) return;
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      res.destroy();
      return;
    }
    res.write(frame);
  }
}

function frameOf(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function changeOf(key: string, entry: KvEntry | undefined, index: number): KvChange {
  if (entry === undefined) return { key, op: 'delete' };
  const size = entry.value?.length ?? 0;
  return {
    key,
    op: entry.createIndex === index ? 'create' : 'update',
    createIndex: entry.createIndex,
    modifyIndex: entry.modifyIndex,
    lockIndex: entry.lockIndex,
    flags: entry.flags.toString(),
    ...(entry.session === undefined ? {} : { session: entry.session }),
    ...(entry.value !== null && size <= MAX_EVENT_VALUE_BYTES
      ? { value: entry.value.toString('base64') }
      : {}),
    size,
  };
}
