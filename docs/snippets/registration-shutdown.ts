import { createServer } from 'node:http';
import { handleShutdownSignals, healthHandler, registerService } from 'consul-hotreload';

const db = { reachable: true }; // kept up to date by your database client's events
const registration = registerService({
  name: 'orders',
  address: '10.0.0.7',
  port: 3000,
  ttl: '10s',
  // Sent with every heartbeat (every TTL/3): warning keeps the instance in rotation, critical takes it out.
  health: () =>
    db.reachable ? { status: 'passing' } : { status: 'critical', output: 'database unreachable' },
  // The agent also probes the endpoint below.
  http: { url: 'http://10.0.0.7:3000/health', interval: '10s' },
  drain: '5s', // stay in maintenance this long before deregistering, so watchers stop sending first
});

const health = healthHandler(registration); // 200 / 503 with {"status","id","registration"}
const server = createServer((request, response) => {
  if (request.url === '/health') return health(request, response);
  response.end('hello');
});
server.listen(3000);

// On SIGTERM/SIGINT: drain and deregister, close the server, then die of the signal as the process would have.
handleShutdownSignals(
  [registration, { close: () => new Promise<void>((done) => server.close(() => done())) }],
  {
    timeout: '20s',
  },
);
