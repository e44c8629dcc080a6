/**
 * A node:http server whose rate limit and greeting flag reload from Consul without a restart.
 *
 * Run: node --import tsx examples/http-server/main.ts          serves until Ctrl-C, printing how to change things
 *      node --import tsx examples/http-server/main.ts --once   makes its own requests, changes Consul, exits
 *
 * Both start an embedded dev Consul (a real HTTP server speaking Consul's KV API) seeded with the config.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createFlag, defineConfig, Watcher } from 'consul-hotreload';
import { startDevServer } from 'consul-hotreload/devserver';
import { z } from 'zod';

const RATE_LIMIT_KEY = 'config/http/rateLimit/requests';
const FLAG_KEY = 'flags/http/greeting-v2';

const HttpConfig = z.object({
  rateLimit: z.object({
    /** Requests allowed per window. */
    requests: z.number().int().positive(),
    windowMs: z.number().int().positive().default(60_000),
  }),
});
type RateLimit = z.output<typeof HttpConfig>['rateLimit'];

/** A counter per fixed window: at most `requests` accepted per `windowMs`. A new limit applies at once. */
class WindowLimiter {
  #limit: RateLimit;
  #windowStart = Number.NEGATIVE_INFINITY;
  #count = 0;

  constructor(limit: RateLimit) {
    this.#limit = limit;
  }

  get limit(): RateLimit {
    return this.#limit;
  }

  set limit(limit: RateLimit) {
    this.#limit = limit;
  }

  /** Counts a request; false when the window's budget is spent. */
  take(now = Date.now()): boolean {
    if (now - this.#windowStart >= this.#limit.windowMs) {
      this.#windowStart = now;
      this.#count = 0;
    }
    if (this.#count >= this.#limit.requests) return false;
    this.#count += 1;
    return true;
  }
}

const dev = await startDevServer({
  port: 0,
  seed: { [RATE_LIMIT_KEY]: 3, 'config/http/rateLimit/windowMs': 60_000, [FLAG_KEY]: 'false' },
});
const watcher = new Watcher({ address: dev.address });
const config = defineConfig({ prefix: 'config/http/', schema: HttpConfig, format: 'json', watcher });
const { rateLimit } = await config.load();
const greetingV2 = createFlag(watcher, FLAG_KEY, { type: 'boolean', default: false });
await greetingV2.ready;
console.log(`rate limit: ${describe(rateLimit)}; ${FLAG_KEY} = ${greetingV2.value}`);

const limiter = new WindowLimiter(rateLimit);
config.onChange(
  (c) => c.rateLimit,
  (next) => {
    limiter.limit = next;
    console.log(`config changed: rate limit now ${describe(next)}`);
  },
);
greetingV2.on('change', ({ value, previous }) =>
  console.log(`flag changed: ${FLAG_KEY} ${previous} -> ${value}`),
);

const server = http.createServer((_request, response) => {
  if (!limiter.take()) {
    response.writeHead(429, { 'content-type': 'text/plain', 'retry-after': '60' });
    response.end(`rate limit of ${describe(limiter.limit)} reached\n`);
    return;
  }
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end(greetingV2.value ? 'hello from the new greeting (v2)\n' : 'hello (v1)\n');
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
console.log(`http server on ${url}`);

if (process.argv.includes('--once')) {
  await demonstrate();
  await shutdown();
} else {
  console.log(`try:        curl -i ${url}`);
  console.log(`raise it:   curl -X PUT -d 10 ${dev.address}/v1/kv/${RATE_LIMIT_KEY}`);
  console.log(`flip flag:  curl -X PUT -d true ${dev.address}/v1/kv/${FLAG_KEY}`);
  console.log('stop:       Ctrl-C');
  await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  await shutdown();
}

/** Spends the budget, changes the limit and the flag in Consul, and shows both taking effect. */
async function demonstrate(): Promise<void> {
  for (let i = 0; i < 4; i++) await get();
  console.log(`consul kv put ${RATE_LIMIT_KEY} 5`);
  const configChanged = new Promise((resolve) => config.once('change', resolve));
  dev.kv.put(RATE_LIMIT_KEY, '5');
  await configChanged;
  console.log(`consul kv put ${FLAG_KEY} true`);
  const flagChanged = new Promise((resolve) => greetingV2.once('change', resolve));
  dev.kv.put(FLAG_KEY, 'true');
  await flagChanged;
  for (let i = 0; i < 3; i++) await get();
}

async function get(): Promise<void> {
  const response = await fetch(url);
  console.log(`GET / -> ${response.status} ${(await response.text()).trim()}`);
}

function describe(limit: RateLimit): string {
  return `${limit.requests} requests per ${limit.windowMs} ms`;
}

async function shutdown(): Promise<void> {
  server.close();
  await once(server, 'close');
  await greetingV2.close();
  await config.close();
  await watcher.close();
  await dev.close();
  console.log('closed');
}
