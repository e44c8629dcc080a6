/**
 * The app of express-app.ts on Fastify 5: registered in Consul while it serves, `GET /health` answering
 * from the registration, a drain before it deregisters.
 */
import { healthResponse, registerService } from 'consul-hotreload';
import Fastify from 'fastify';
import type { RegisteredApp, RegisteredAppOptions } from './express-app.js';

/** Serves, then registers; resolves once the agent holds the registration. */
export async function start(options: RegisteredAppOptions): Promise<RegisteredApp> {
  const healthy = { value: true };
  const app = Fastify();
  let health: () => ReturnType<typeof healthResponse> = () => Promise.reject(new Error('not registered yet'));
  app.get('/health', async (_request, reply) => {
    const { statusCode, body } = await health();
    return reply.code(statusCode).header('cache-control', 'no-store').send(body);
  });
  app.get('/hello', async () => ({ hello: 'world' }));
  await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const registration = registerService({
    consul: options.consul,
    name: 'hello-fastify',
    address: '127.0.0.1',
    port,
    health: () => (healthy.value ? { status: 'passing' } : { status: 'critical', output: 'unhealthy' }),
    http: { url: `http://127.0.0.1:${port}/health`, interval: '2s' },
    drain: options.drain ?? 0,
  });
  health = () => healthResponse(registration);
  try {
    await registration.ready;
  } catch (error) {
    await registration.close();
    await app.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    registration,
    healthy,
    close: () => {
      // Deregister first (the server keeps answering during the drain), then stop serving.
      closing ??= registration.close().then(() => app.close());
      return closing;
    },
  };
}
