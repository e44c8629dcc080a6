/**
 * A dev server in its own process, driven over IPC by bench/lib/server-process.ts, so the measuring process
 * spends CPU, heap and file descriptors on the client side only.
 *
 * argv[2]: JSON {@link DevServerChildConfig}. Sends `{ type: 'ready', address }` once listening, then
 * answers each `{ id, op, … }` request with `{ id, result }` or `{ id, error }`. Run with `--expose-gc`
 * for the `memory` op to collect first.
 * @module
 */
import { createServer } from 'node:http';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { benchServiceDefinitions, type ServiceBenchLayout } from '../lib/devserver-services.js';
import { type KeyShape, shapeSeed } from '../lib/keys.js';

/** What the parent asks the child to serve. */
export interface DevServerChildConfig {
  /** Seed `seedCount` bench keys under this prefix. */
  seedPrefix?: string;
  seedCount?: number;
  /** How the seeded keys sit below the prefix. @default 'nested' */
  seedShape?: KeyShape;
  /** Consul's wait/16 stagger. @default true */
  jitter?: boolean;
  /** Register these services (bench/lib/devserver-services.ts), their HTTP checks probing a target this child starts. */
  services?: ServiceBenchLayout;
}

/** The registered services' HTTP checks: how many, and how many have run once (their Output is set). */
export interface ChecksSettled {
  http: number;
  settled: number;
}

/** One request from the parent. */
export type DevServerChildRequest =
  | { id: number; op: 'put'; key: string; value: string }
  | { id: number; op: 'stats' }
  | { id: number; op: 'index' }
  | { id: number; op: 'checksSettled' }
  | { id: number; op: 'memory' }
  | { id: number; op: 'close' };

/** Memory of the child after a full collection (when `--expose-gc` is on). */
export interface MemorySample {
  heapUsed: number;
  external: number;
  rss: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as DevServerChildConfig;
const collect = (globalThis as { gc?: () => void }).gc;

function memory(): MemorySample {
  collect?.();
  collect?.();
  const usage = process.memoryUsage();
  return { heapUsed: usage.heapUsed, external: usage.external, rss: usage.rss };
}

function answer(server: DevServer, request: DevServerChildRequest): unknown {
  switch (request.op) {
    case 'put':
      return server.kv.put(request.key, request.value);
    case 'stats':
      return server.stats();
    case 'index':
      return server.kv.index();
    case 'checksSettled': {
      const http = server.agent.catalog.checks().filter((check) => check.type === 'http');
      return { http: http.length, settled: http.filter((check) => check.output !== '').length };
    }
    case 'memory':
      return memory();
    case 'close':
      return null;
  }
}

const seed =
  config.seedPrefix === undefined
    ? undefined
    : shapeSeed(config.seedShape ?? 'nested', config.seedPrefix, config.seedCount ?? 0);
// The HTTP checks' target: a constant answer, so a probe after the first changes no check (consul-semantics §S3.2).
const target = createServer((_req, res) => res.end('ok'));
if (config.services !== undefined) {
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
}
const targetAddress = target.address();
const targetPort = typeof targetAddress === 'object' && targetAddress !== null ? targetAddress.port : 0;
// One process holds every query, so the per-client connection cap (200 by default, like Consul) is lifted.
const server = await startDevServer({
  jitter: config.jitter ?? true,
  maxConnsPerClient: 0,
  ...(seed ? { seed } : {}),
  ...(config.services
    ? { services: benchServiceDefinitions(config.services, `http://127.0.0.1:${targetPort}/health`) }
    : {}),
});
const closeAll = async () => {
  await server.close();
  target.closeAllConnections();
  if (target.listening) await new Promise((resolve) => target.close(resolve));
};

process.on('message', (message: DevServerChildRequest) => {
  let reply: { id: number; result?: unknown; error?: string };
  try {
    reply = { id: message.id, result: answer(server, message) };
  } catch (error) {
    reply = { id: message.id, error: error instanceof Error ? error.message : String(error) };
  }
  if (message.op === 'close') {
    void closeAll().then(() => {
      process.send?.(reply, () => process.disconnect());
    });
    return;
  }
  process.send?.(reply);
});
// The parent went away: do not linger.
process.on('disconnect', () => {
  void closeAll().then(() => process.exit(0));
});
process.send?.({ type: 'ready', address: server.address });
