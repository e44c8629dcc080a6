/**
 * The runner shared by the Express, Fastify and NestJS examples (`npm run example:express` …). The three
 * serve the same small shop API; what an app copies is the example's own folder, and this file is only the
 * demo around it: it starts a Consul, starts the example's app on it, and with `--demo` changes a config key
 * and a flag in Consul and shows the running app serving both without a restart, then exits.
 *
 * Consul is the embedded dev server, seeded with {@link shopSeed}. With CONSUL_HTTP_ADDR set it is that agent
 * instead: the runner says so first, writes only under a fresh `consul-hotreload-example/<random>/` prefix,
 * and deletes exactly the keys it wrote.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { ConsulClient, type WatcherOptions } from 'consul-hotreload';
import { startDevServer } from 'consul-hotreload/devserver';

/** Each example's `start()`: see examples/express/app.ts for what the options mean. */
export type StartShop = (options: {
  watcher: WatcherOptions;
  root: string;
  log: (line: string) => void;
}) => Promise<ShopApp>;

/** A started example app. */
export interface ShopApp {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  /** Stops serving, then closes the flag, the config and the watcher. Idempotent. */
  close(): Promise<void>;
}

/** The keys an example reads below `root`, as `consul kv put` stores them (the config holds JSON). */
export function shopSeed(root: string): Record<string, string> {
  return {
    [`${root}config/currency`]: '"EUR"',
    [`${root}config/priceCents`]: '1250',
    [`${root}flags/one-page-checkout`]: 'false',
  };
}

/** Runs one example: serves until Ctrl-C, or with `--demo` shows a config and a flag change, then exits. */
export async function runShopDemo(name: string, start: StartShop): Promise<void> {
  const external = process.env.CONSUL_HTTP_ADDR || undefined;
  const root =
    external === undefined ? 'shop/' : `consul-hotreload-example/${randomUUID().slice(0, 8)}/shop/`;
  const dev = external === undefined ? await startDevServer({ port: 0, seed: shopSeed(root) }) : undefined;
  const address = dev?.address ?? external!;
  const consul = new ConsulClient({ address });
  const written: string[] = [];
  let applied: (() => void) | undefined;
  let app: ShopApp | undefined;
  try {
    if (dev === undefined) {
      console.log(
        `[${name}] CONSUL_HTTP_ADDR is set: writing under ${root} on the Consul agent at ${address}`,
      );
      for (const [key, value] of Object.entries(shopSeed(root))) {
        written.push(key);
        await consul.kv.put(key, value);
      }
    } else {
      console.log(`[${name}] embedded Consul-compatible dev server at ${address}`);
    }
    app = await start({
      watcher: { address, logger: { warn: console.warn, error: console.error } },
      root,
      log: (line) => {
        console.log(`[app] ${line}`);
        applied?.();
      },
    });
    console.log(`[${name}] serving on ${app.url}`);

    const url = app.url;
    const show = async (path: string) => {
      const response = await fetch(`${url}${path}`);
      console.log(`GET ${path} -> ${response.status} ${await response.text()}`);
    };
    // Writes as an operator would, over Consul's HTTP API, and waits for the app to report it applied it.
    const put = async (key: string, value: string) => {
      console.log(`consul kv put ${key} '${value}'`);
      const seen = new Promise<void>((resolve) => {
        applied = resolve;
      });
      await consul.kv.put(key, value);
      await seen;
    };

    if (process.argv.includes('--demo')) {
      for (const path of ['/healthz', '/price', '/checkout']) await show(path);
      await put(`${root}config/currency`, '"USD"');
      await put(`${root}flags/one-page-checkout`, 'true');
      for (const path of ['/price', '/checkout']) await show(path);
    } else {
      console.log(`try:        curl -i ${url}/healthz ${url}/price ${url}/checkout`);
      console.log(`currency:   CONSUL_HTTP_ADDR=${address} consul kv put ${root}config/currency '"USD"'`);
      console.log(
        `flip flag:  CONSUL_HTTP_ADDR=${address} consul kv put ${root}flags/one-page-checkout true`,
      );
      if (dev !== undefined) {
        console.log(`  (or curl -X PUT -d true ${address}/v1/kv/${root}flags/one-page-checkout)`);
      }
      console.log('stop:       Ctrl-C');
      await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
    }
  } finally {
    await app?.close();
    // Only what the runner wrote, one key at a time: never a recursive delete on someone's cluster.
    for (const key of written) await consul.kv.delete(key);
    await consul.close();
    await dev?.close();
  }
  console.log(`[${name}] closed`);
}
