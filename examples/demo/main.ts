/**
 * `npm run demo`: hot reload on the embedded dev server (or on the Consul at CONSUL_HTTP_ADDR).
 *
 * An app-like part watches a prefix with a zod schema and prints its config whenever it changes. An
 * operator-like part then changes keys, including one invalid value that is rejected while the old config
 * keeps serving. Nothing restarts. Pass `--fast` to skip the pauses (the test does).
 *
 * On a real Consul the demo writes only under a prefix of its own (`consul-hotreload-demo/<random>/`), says
 * so before writing, and deletes exactly the keys it wrote at the end.
 */
import { randomUUID } from 'node:crypto';
import { ConsulClient, Watcher } from 'consul-hotreload';
import { type DevServer, startDevServer } from 'consul-hotreload/devserver';
import { z } from 'zod';

const DemoConfig = z.object({
  greeting: z.string(),
  rateLimit: z.number().int().positive(),
  features: z.object({ newCheckout: z.boolean().default(false) }).default({ newCheckout: false }),
});
type DemoConfig = z.output<typeof DemoConfig>;

const fast = process.argv.includes('--fast');
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, fast ? 0 : ms));

function show(label: string, config: DemoConfig): void {
  console.log(`[app] ${label}: ${JSON.stringify(config)}`);
}

async function main(): Promise<void> {
  let server: DevServer | undefined;
  let address = process.env.CONSUL_HTTP_ADDR;
  let prefix: string;
  if (address === undefined || address === '') {
    server = await startDevServer({ port: 0 });
    address = server.address;
    prefix = 'config/demo/';
    console.log(`[demo] embedded Consul-compatible dev server at ${address}`);
    console.log(`[demo] watch the demo's writes live in the dev server's web page: ${address}/ui/`);
  } else {
    prefix = `consul-hotreload-demo/${randomUUID().slice(0, 8)}/`;
    console.log(
      `[demo] CONSUL_HTTP_ADDR is set: writing under ${prefix} on the Consul agent at ${address}; only the keys the demo writes are deleted at the end`,
    );
  }

  const consul = new ConsulClient({ address });
  const watcher = new Watcher({ address, wait: '30s' });
  const written = new Set<string>();
  const put = (key: string, value: string) => {
    written.add(`${prefix}${key}`);
    return consul.kv.put(`${prefix}${key}`, value);
  };
  try {
    await put('greeting', '"hello"');
    await put('rateLimit', '100');
    console.log(`[demo] seeded ${prefix}greeting and ${prefix}rateLimit`);

    const sub = watcher.watch(prefix, { format: 'json', schema: DemoConfig });
    show('started with', await sub.ready);

    sub.on('change', (event) => {
      const keys = event.changes.map((change) => `${change.type} ${change.key}`).join(', ');
      show(`reloaded (${keys})`, event.current);
    });
    sub.on('invalid', (error) => {
      console.log(`[app] rejected an invalid change, still serving the last good config:\n${error.message}`);
    });
    const next = (name: 'change' | 'invalid') =>
      new Promise<void>((resolve) => sub.once(name, () => resolve()));

    const steps: Array<[string, () => Promise<unknown>, 'change' | 'invalid']> = [
      ['put greeting = "hello, world"', () => put('greeting', '"hello, world"'), 'change'],
      ['put rateLimit = "lots" (invalid)', () => put('rateLimit', '"lots"'), 'invalid'],
      ['put rateLimit = 250', () => put('rateLimit', '250'), 'change'],
      ['put features/newCheckout = true', () => put('features/newCheckout', 'true'), 'change'],
      [
        'delete features/newCheckout (the default applies)',
        () => consul.kv.delete(`${prefix}features/newCheckout`),
        'change',
      ],
    ];
    for (const [label, write, expected] of steps) {
      await pause(800);
      console.log(`[operator] ${label}`);
      const seen = next(expected);
      await write();
      await seen;
    }
    const stats = watcher.stats().queries[0];
    if (stats !== undefined) {
      console.log(
        `[demo] cost to Consul: ${stats.requests} requests, ${stats.changes} changes, ${stats.spurious} spurious wake-ups, ${stats.bytes} bytes`,
      );
    }
    console.log(`[demo] final config: ${JSON.stringify(sub.current)}`);
  } finally {
    await watcher.close();
    // Only what the demo wrote, one key at a time: never a recursive delete on someone's cluster.
    if (server === undefined) for (const key of written) await consul.kv.delete(key);
    await consul.close();
    await server?.close();
  }
  console.log('[demo] done: every change arrived without a restart');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
