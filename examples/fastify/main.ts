/**
 * `npm run example:fastify`: the Fastify app of app.ts on the embedded dev Consul (or the agent at
 * CONSUL_HTTP_ADDR), serving until Ctrl-C. With `--demo` it changes the currency and the flag in Consul,
 * shows the running app serving both, and exits.
 */
import { runShopDemo } from '../shop/run-shop-demo.js';
import { start } from './app.js';

await runShopDemo('fastify', start);
