/**
 * Child processes of the bench: TypeScript entry points run by `node --import tsx`, talking over IPC.
 * Every child is awaited to its exit, so `npm run bench` ends on its own.
 * @module
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DevServerStats } from '../../src/devserver/server.js';
import type {
  ChecksSettled,
  DevServerChildConfig,
  DevServerChildRequest,
  MemorySample,
} from '../child/devserver-child.js';

/** The repository root: children resolve `tsx` from here. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Starts `bench/child/<name>.ts` with IPC, `--expose-gc` and the tsx loader. */
export function forkChild(name: string, args: readonly string[]): ChildProcess {
  return fork(fileURLToPath(new URL(`../child/${name}.ts`, import.meta.url)), [...args], {
    cwd: REPO_ROOT,
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Waits for the first message of a child, or fails if it exits first. */
export function firstMessage<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: T) => {
      cleanup();
      resolve(message);
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`bench: ${what} exited with code ${String(code)} before answering`));
    };
    const cleanup = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.on('exit', onExit);
  });
}

/** A dev server running in a child process. */
export interface ServerProcess {
  /** `http://127.0.0.1:PORT`. */
  readonly address: string;
  /** `kv.put` in the child; resolves with the new ModifyIndex once written. */
  put(key: string, value: string): Promise<number>;
  stats(): Promise<DevServerStats>;
  /** The global index. */
  index(): Promise<number>;
  /** How many of the registered HTTP checks have run once. */
  checksSettled(): Promise<ChecksSettled>;
  /** The child's memory after a full GC. */
  memory(): Promise<MemorySample>;
  /** Closes the server and waits for the child to exit. Idempotent. */
  close(): Promise<void>;
}

/** A request without its id (distributes over the union). */
type Unsent<T> = T extends unknown ? Omit<T, 'id'> : never;

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

/** Starts a dev server in a child process. */
export async function startServerProcess(config: DevServerChildConfig = {}): Promise<ServerProcess> {
  const child = forkChild('devserver-child', [JSON.stringify(config)]);
  let hasExited = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      hasExited = true;
      resolve();
    });
  });
  const ready = await firstMessage<{ type: 'ready'; address: string }>(child, 'the dev server child');
  const pending = new Map<number, Pending>();
  let nextId = 1;
  child.on('message', (message: { id?: number; result?: unknown; error?: string }) => {
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiter?.reject(new Error(`dev server child: ${message.error}`));
    else waiter?.resolve(message.result);
  });
  void exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error('dev server child exited'));
    pending.clear();
  });
  const call = <T>(request: Unsent<DevServerChildRequest>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ ...request, id });
    });
  let closing: Promise<void> | undefined;
  return {
    address: ready.address,
    put: (key, value) => call<number>({ op: 'put', key, value }),
    stats: () => call<DevServerStats>({ op: 'stats' }),
    index: () => call<number>({ op: 'index' }),
    checksSettled: () => call<ChecksSettled>({ op: 'checksSettled' }),
    memory: () => call<MemorySample>({ op: 'memory' }),
    close() {
      closing ??= (async () => {
        if (!hasExited && child.connected) await call({ op: 'close' }).catch(() => {});
        await exited;
      })();
      return closing;
    },
  };
}
