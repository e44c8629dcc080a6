/**
 * The rival: the `consul` npm package's `watch` over `kv.get`, plus the code its users must write
 * themselves to know which keys changed: a Map of key → ModifyIndex compared on every response (the watch
 * emits `change` whenever the index moves, with every entry of the prefix, values already decoded).
 *
 * The diff is written the efficient way (in place, one Map lookup per entry, deletions looked for only
 * when fewer known keys came back), so the bench compares libraries, not a careless user.
 * @module
 */
import Consul from 'consul';

/** One entry as the `consul` package hands it over (Value already base64-decoded to a string). */
export interface ConsulNpmItem {
  readonly Key: string;
  readonly ModifyIndex: number;
  readonly Value: string | null;
  readonly Flags: number;
}

/** The user's diff: key → ModifyIndex of the last response. */
export class ModifyIndexDiff {
  readonly #known = new Map<string, number>();

  /** Number of keys known. */
  get size(): number {
    return this.#known.size;
  }

  /** Applies a whole response; returns the keys added, updated or deleted since the last one. */
  apply(items: readonly ConsulNpmItem[]): string[] {
    const known = this.#known;
    const knownBefore = known.size;
    const changed: string[] = [];
    let matched = 0;
    for (const item of items) {
      const previous = known.get(item.Key);
      if (previous !== undefined) matched++;
      if (previous !== item.ModifyIndex) {
        known.set(item.Key, item.ModifyIndex);
        changed.push(item.Key);
      }
    }
    if (matched < knownBefore) {
      const present = new Set(items.map((item) => item.Key));
      for (const key of known.keys()) {
        if (present.has(key)) continue;
        known.delete(key);
        changed.push(key);
      }
    }
    return changed;
  }
}

/** A running `consul.watch` with its diff. */
export interface ConsulNpmWatch {
  /** Resolves with the first response's entries. */
  readonly ready: Promise<readonly ConsulNpmItem[]>;
  /** `error` events seen. */
  readonly errors: () => number;
  /** The last response's entries (what an app keeps to read its config from). */
  readonly latest: () => readonly ConsulNpmItem[];
  /** Ends the watch (the request in flight is not aborted by the package: it runs until its wait ends). */
  end(): void;
}

/** Options of {@link watchWithConsulNpm}. */
export interface ConsulNpmWatchOptions {
  key: string;
  /** Watch every key under `key` (`?recurse`). */
  recurse: boolean;
  /** Go duration sent as `wait`. */
  wait: string;
  /** The package's backoff: `factor × 2^attempt` ms, capped at `max`. @default its own (100, 30_000) */
  backoffFactor?: number;
  backoffMax?: number;
}

function toItems(data: unknown): ConsulNpmItem[] {
  if (data === undefined || data === null) return [];
  return (Array.isArray(data) ? data : [data]) as ConsulNpmItem[];
}

/**
 * Starts `consul.watch({ method: consul.kv.get })` on `consul` and calls `onChange` with the keys the
 * user's diff found changed (after the first response, which only fills the diff).
 */
export function watchWithConsulNpm(
  consul: Consul,
  options: ConsulNpmWatchOptions,
  onChange: (changed: readonly string[], items: readonly ConsulNpmItem[]) => void,
): ConsulNpmWatch {
  const diff = new ModifyIndexDiff();
  let errors = 0;
  let first = true;
  let latest: readonly ConsulNpmItem[] = [];
  let resolveReady!: (items: readonly ConsulNpmItem[]) => void;
  const ready = new Promise<readonly ConsulNpmItem[]>((resolve) => {
    resolveReady = resolve;
  });
  const watchOptions: Parameters<Consul['watch']>[0] = {
    method: consul.kv.get,
    // The package's typings say Record<string, string>; it only tests `recurse` for truthiness.
    options: options.recurse
      ? { key: options.key, recurse: 'true', wait: options.wait }
      : { key: options.key, wait: options.wait },
  };
  if (options.backoffFactor !== undefined) watchOptions.backoffFactor = options.backoffFactor;
  if (options.backoffMax !== undefined) watchOptions.backoffMax = options.backoffMax;
  const watch = consul.watch(watchOptions);
  watch.on('change', (data: unknown) => {
    const items = toItems(data);
    latest = items;
    const changed = diff.apply(items);
    if (first) {
      first = false;
      resolveReady(items);
      return;
    }
    if (changed.length > 0) onChange(changed, items);
  });
  // Without a listener Node's EventEmitter would throw on the first error.
  watch.on('error', () => {
    errors++;
  });
  return {
    ready,
    errors: () => errors,
    latest: () => latest,
    end: () => watch.end(),
  };
}

/** A `consul` package client for a dev server address (`http://127.0.0.1:PORT`). */
export function consulNpmClient(address: string): Consul {
  const url = new URL(address);
  return new Consul({ host: url.hostname, port: Number(url.port) });
}
