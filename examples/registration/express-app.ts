/**
 * An Express 5 app that registers itself in Consul while it serves: a TTL heartbeat decided by the app's
 * own health, an HTTP check the agent runs against `GET /health`, and a drain before it deregisters.
 *
 * - `GET /hello`: `{"hello":"world"}`;
 * - `GET /health`: 200 `{"status":"passing","id":…,"registration":"registered"}`, 503 while unhealthy or draining.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import {
  type ConsulClientOptions,
  healthResponse,
  registerService,
  type ServiceRegistration,
} from 'consul-hotreload';
import express from 'express';

/** Options of {@link start}. */
export interface RegisteredAppOptions {
  /** The agent to register on (`address`, `token`…; unset ones come from CONSUL_*). */
  consul: ConsulClientOptions;
  /** HTTP port on 127.0.0.1. @default 0 (a free one) */
  port?: number;
  /** Time spent out of `?passing` before deregistering, in ms. @default 0 */
  drain?: number;
}

/** A running app: its URL, its registration, and a close() that drains and deregisters, then stops serving. */
export interface RegisteredApp {
  url: string;
  registration: ServiceRegistration;
  /** True while the app reports itself healthy; set it to false to see the checks turn critical. */
  healthy: { value: boolean };
  close(): Promise<void>;
}

/** Serves, then registers; resolves once the agent holds the registration. */
export async function start(options: RegisteredAppOptions): Promise<RegisteredApp> {
  const healthy = { value: true };
  const app = express();
  const server = app.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const registration = registerService({
    consul: options.consul,
    name: 'hello-express',
    address: '127.0.0.1',
    port,
    health: () => (healthy.value ? { status: 'passing' } : { status: 'critical', output: 'unhealthy' }),
    http: { url: `http://127.0.0.1:${port}/health`, interval: '2s' },
    drain: options.drain ?? 0,
  });
  app.get('/health', async (_request, response) => {
    const { statusCode, body } = await healthResponse(registration);
    response.status(statusCode).set('cache-control', 'no-store').json(body);
  });
  app.get('/hello', (_request, response) => {
    response.json({ hello: 'world' });
  });
  try {
    await registration.ready;
  } catch (error) {
    await registration.close();
    server.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    registration,
    healthy,
    close: () => {
      // Deregister first (the server keeps answering during the drain), then stop serving.
      closing ??= registration.close().then(async () => {
        server.close();
        server.closeAllConnections();
        await once(server, 'close');
      });
      return closing;
    },
  };
}
