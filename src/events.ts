/**
 * The one safe emitter of the library: every listener runs inside a guard, so a listener that throws is
 * reported and never keeps the event from the listeners after it.
 *
 * Plain eventemitter3 stops an emit at the first listener that throws (and, unlike `node:events`, says
 * nothing of an unheard `error`). Each listener is registered inside a guard instead, which costs one
 * function call per listener and nothing when nothing throws. `listeners()` and `off()` take and give the
 * listeners as registered.
 * @module
 */
import { EventEmitter } from 'eventemitter3';

type EventName<E extends EventEmitter.ValidEventTypes> = EventEmitter.EventNames<E>;
type Listener<E extends EventEmitter.ValidEventTypes, N extends EventName<E>> = EventEmitter.EventListener<
  E,
  N
>;
type AnyListener = (this: unknown, payload: never) => unknown;
/** Every event of the library has one payload, so a guard passes one argument and allocates nothing per call. */
type Guarded = (this: unknown, payload: unknown) => void;

/** Called with the event's name and what its listener threw. */
export type ListenerErrorReporter = (event: string, error: unknown) => void;

/** The listener each guard wraps, so `listeners()` returns what the user registered. */
const originalOf = new WeakMap<Guarded, AnyListener>();

/**
 * An eventemitter3 emitter whose listeners are isolated from each other. `report` hears every throw (the
 * owner logs it and publishes it on its diagnostics channel); it must not throw itself.
 */
export class SafeEmitter<E extends EventEmitter.ValidEventTypes> extends EventEmitter<E> {
  readonly #report: ListenerErrorReporter;
  /** Guards by event, then by listener; made on the first registration. */
  #guards: Map<PropertyKey, WeakMap<AnyListener, Guarded>> | undefined;

  constructor(report: ListenerErrorReporter) {
    super();
    this.#report = report;
  }

  /** Adds a listener; a throw from it is reported and never keeps the event from the other listeners. */
  override on<N extends EventName<E>>(event: N, fn: Listener<E, N>, context?: unknown): this {
    return super.on(event, this.#guard(event, fn), context);
  }

  /** Same as {@link SafeEmitter.on}. */
  override addListener<N extends EventName<E>>(event: N, fn: Listener<E, N>, context?: unknown): this {
    return super.addListener(event, this.#guard(event, fn), context);
  }

  /** Adds a listener for the next event only; guarded like {@link SafeEmitter.on}. */
  override once<N extends EventName<E>>(event: N, fn: Listener<E, N>, context?: unknown): this {
    return super.once(event, this.#guard(event, fn), context);
  }

  /** Removes a listener, given as it was registered. */
  override removeListener<N extends EventName<E>>(
    event: N,
    fn?: Listener<E, N>,
    context?: unknown,
    once?: boolean,
  ): this {
    return super.removeListener(
      event,
      fn === undefined ? undefined : this.#guarded(event, fn),
      context,
      once,
    );
  }

  /** Same as {@link SafeEmitter.removeListener}. */
  override off<N extends EventName<E>>(
    event: N,
    fn?: Listener<E, N>,
    context?: unknown,
    once?: boolean,
  ): this {
    return this.removeListener(event, fn, context, once);
  }

  /** The listeners of `event`, as they were registered. */
  override listeners<N extends EventName<E>>(event: N): Array<Listener<E, N>> {
    return super
      .listeners(event)
      .map((fn) => (originalOf.get(fn as unknown as Guarded) ?? fn) as Listener<E, N>);
  }

  /**
   * Emits `event` to every listener. Also catches a throw from a listener registered around the guards
   * (`EventEmitter.prototype.on.call`), so an emit never throws into its caller.
   */
  override emit<N extends EventName<E>>(event: N, ...args: EventEmitter.EventArgs<E, N>): boolean {
    try {
      return super.emit(event, ...args);
    } catch (error) {
      this.#report(String(event), error);
      return true;
    }
  }

  /** The guard of `fn` for `event`, made once: the same listener added twice shares one guard, as in off(). */
  #guard<N extends EventName<E>>(event: N, fn: Listener<E, N>): Listener<E, N> {
    // eventemitter3 throws its own TypeError for a non-function.
    if (typeof fn !== 'function') return fn;
    const listener = fn as unknown as AnyListener;
    this.#guards ??= new Map();
    let byListener = this.#guards.get(event);
    if (byListener === undefined) {
      byListener = new WeakMap();
      this.#guards.set(event, byListener);
    }
    let guarded = byListener.get(listener);
    if (guarded === undefined) {
      const report = this.#report;
      const name = String(event);
      guarded = function guarded(this: unknown, payload: unknown): void {
        try {
          listener.call(this, payload as never);
        } catch (error) {
          report(name, error);
        }
      };
      byListener.set(listener, guarded);
      originalOf.set(guarded, listener);
    }
    return guarded as unknown as Listener<E, N>;
  }

  /** The guard registered for `fn`, or `fn` itself when it never was (removing it then does nothing). */
  #guarded<N extends EventName<E>>(event: N, fn: Listener<E, N>): Listener<E, N> {
    const guarded = this.#guards?.get(event)?.get(fn as unknown as AnyListener);
    return guarded === undefined ? fn : (guarded as unknown as Listener<E, N>);
  }
}
