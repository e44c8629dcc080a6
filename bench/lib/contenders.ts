/**
 * The watchers under test, behind one small interface so each section drives them alike:
 * - `consul-hotreload`: a Watcher and one subscription, listening to `change`;
 * - `consul npm`: the `consul` package's `watch` plus the user's ModifyIndex diff;
 * - `bare GET`: a hand-written blocking loop of `undici.request` + `JSON.parse`, no diff at all: the floor.
 * @module
 */
import { Agent, request } from 'undici';
import { Watcher } from '../../src/watch/watcher.js';
import { consulNpmClient, watchWithConsulNpm } from './consul-npm.js';

/** Contender names as printed. */
export const HOTRELOAD = 'consul-hotreload';
export const CONSUL_NPM = 'consul npm watch + diff';
export const BARE_GET = 'bare undici GET + JSON.parse';

/** What to watch. */
export interface WatchTarget {
  readonly address: string;
  /** A key, or a prefix ending in `/`. */
  readonly key: string;
  /** Go duration of each blocking query's wait. */
  readonly wait: string;
  /** Watcher options for consul-hotreload beyond address and wait. */
  readonly minIntervalMs?: number;
}

/** A started watcher: calls `onChange(key)` for each changed key, then is closed. */
export interface RunningContender {
  close(): Promise<void>;
}

/** Starts a watcher and resolves once it holds its first value. */
export type StartContender = (
  target: WatchTarget,
  onChange: (key: string) => void,
) => Promise<RunningContender>;

/**
 * consul-hotreload on a given Watcher class (the source's, or the compiled build's; see lib/library.ts):
 * `watcher.watch(key, { format: 'text' })`.
 */
export function hotreloadContender(WatcherClass: typeof Watcher): StartContender {
  return async (target, onChange) => {
    const watcher = new WatcherClass({
      address: target.address,
      env: {},
      wait: target.wait,
      minInterval: target.minIntervalMs ?? 0,
    });
    const subscription = watcher.watch(target.key, { format: 'text' });
    subscription.on('change', (event) => {
      for (const change of event.changes) onChange(change.key);
    });
    await subscription.ready;
    return { close: () => watcher.close() };
  };
}

/** consul-hotreload from its source: {@link hotreloadContender} on src/watch/watcher.ts. */
export const startHotreload: StartContender = hotreloadContender(Watcher);

/** The `consul` package's watch + the user's diff. */
export const startConsulNpm: StartContender = async (target, onChange) => {
  const consul = consulNpmClient(target.address);
  const watch = watchWithConsulNpm(
    consul,
    { key: target.key, recurse: target.key.endsWith('/'), wait: target.wait },
    (changed) => {
      for (const key of changed) onChange(key);
    },
  );
  await watch.ready;
  return {
    async close() {
      watch.end();
      // The package cannot abort the request in flight; destroying its agent's sockets ends it.
      consul.destroy();
    },
  };
};

/** Parses a Go duration of the form the bench uses (`250ms`, `60s`, `5m`) into ms. */
export function durationMs(duration: string): number {
  const match = /^(\d+)(ms|s|m)$/.exec(duration);
  if (match === null) throw new Error(`bench: unsupported duration ${duration}`);
  const unit = match[2] === 'ms' ? 1 : match[2] === 's' ? 1000 : 60_000;
  return Number(match[1]) * unit;
}

/**
 * The floor: a blocking loop of `undici.request` (`?recurse&index=N&wait=…`) and `JSON.parse`. It diffs
 * nothing, so `onChange` gets the target itself for every answer after the first.
 */
export const startBareGet: StartContender = async (target, onChange) => {
  const agent = new Agent({ connections: 1, headersTimeout: 0, bodyTimeout: 0 });
  const controller = new AbortController();
  const base = `${target.address}/v1/kv/${target.key}${target.key.endsWith('/') ? '?recurse&' : '?'}`;
  let index = 0;
  let first = true;
  let settleReady!: (error?: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    settleReady = (error) => (error === undefined ? resolve() : reject(error));
  });
  const loop = (async () => {
    while (!controller.signal.aborted) {
      const query = index > 0 ? `index=${index}&wait=${target.wait}` : '';
      const response = await request(`${base}${query}`, { dispatcher: agent, signal: controller.signal });
      const parsed: unknown = JSON.parse(await response.body.text());
      if (!Array.isArray(parsed)) throw new Error('bench: bare GET expected a JSON array');
      index = Number(response.headers['x-consul-index']);
      if (!(index > 0)) throw new Error('bench: bare GET got no X-Consul-Index');
      if (first) {
        first = false;
        settleReady();
      } else {
        onChange(target.key);
      }
    }
  })().catch((error: unknown) => {
    // A failure after close is the abort itself; before it, the bench cannot go on.
    if (!controller.signal.aborted) {
      console.error('bench: the bare GET loop failed:', error);
      settleReady(error);
    }
  });
  const close = async () => {
    controller.abort();
    await loop;
    await agent.destroy();
  };
  try {
    await ready;
  } catch (error) {
    await close();
    throw error;
  }
  return { close };
};
