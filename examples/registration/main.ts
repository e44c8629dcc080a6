/**
 * `npm run example:registration [-- --fastify] [-- --once]`: the Express (or Fastify) app of this folder,
 * registered on the embedded dev Consul (or the agent at CONSUL_HTTP_ADDR). It serves until SIGTERM or
 * Ctrl-C, then drains and deregisters before the process ends. With `--once` it shows the registration
 * passing, leaves, and exits.
 */
import { handleShutdownSignals } from 'consul-hotreload';
import { type DevServer, startDevServer } from 'consul-hotreload/devserver';
import { start as startExpress } from './express-app.js';
import { start as startFastify } from './fastify-app.js';

const args = process.argv.slice(2);
const once = args.includes('--once');
const external = process.env.CONSUL_HTTP_ADDR;
const dev: DevServer | undefined = external === undefined ? await startDevServer({ port: 0 }) : undefined;
const consul = dev === undefined ? {} : { address: dev.address, env: {} };
const app = await (args.includes('--fastify') ? startFastify : startExpress)({
  consul,
  drain: once ? 0 : 1000,
});
const consulAddress = dev?.address ?? external;
console.log(`serving ${app.url}, registered as ${app.registration.id} on ${consulAddress}`);
console.log(`  curl ${app.url}/health`);
console.log(`  curl '${consulAddress}/v1/health/service/${app.registration.name}?passing'`);

const closeDev = { close: async () => dev?.close() };
if (once) {
  // The HTTP check starts critical until the agent's first probe: wait for it with blocking queries.
  const signal = AbortSignal.timeout(20_000);
  let index = 0;
  let passing: string[] = [];
  while (!passing.includes(app.registration.id)) {
    const url = `${consulAddress}/v1/health/service/${app.registration.name}?passing&index=${index}&wait=10s`;
    const response = await fetch(url, { signal });
    index = Number(response.headers.get('x-consul-index'));
    passing = ((await response.json()) as Array<{ Service: { ID: string } }>).map(
      (entry) => entry.Service.ID,
    );
  }
  console.log(`passing: ${passing.join(', ')}`);
  await app.close();
  console.log(`deregistered: ${app.registration.state}`);
  await closeDev.close();
} else {
  // The app first (drain, deregister, stop serving), then the dev server; then the process ends as signalled.
  handleShutdownSignals([app, closeDev]);
}
