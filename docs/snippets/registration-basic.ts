import { registerService } from 'consul-hotreload';

// Registers on the local agent (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN…) and heartbeats a 15 s TTL check.
const registration = registerService({
  name: 'web',
  address: '10.0.0.5', // how other services reach this instance
  port: 8080,
  tags: ['v2'],
  meta: { version: '2.4.1' },
});
registration.on('reregistered', ({ reason }) =>
  console.warn('the agent forgot us, registered again:', reason),
);
registration.on('error', (error) => console.warn(error.code, error.message)); // retried by itself
await registration.ready; // rejects on a 400, an ID held by another instance, or a 403

// Later: stop heartbeats, maintenance on, drain, deregister, close the client.
await registration.close();
