/**
 * `npm run demo`: hot reload on the embedded dev server (or on the Consul at CONSUL_HTTP_ADDR).
 *
 * An app-like part watches `config/demo/` with a zod schema and prints its config whenever it changes.
 * An operator-like part then changes keys, including one invalid value that is rejected while the old
 * config keeps serving. Nothing restarts. Pass `--fast` to skip the pauses (the test does).
 */
import { z } from 'zod';
import { ConsulClient } from '../../src/consul/client.js';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { Watcher } from '../../src/watch/watcher.js';

const DemoConfig = z.object({
  greeting: z.string(),
  rateLimit: z.number().int().positive(),
  features: z.object({ newCheckout: z.boolean().default(false) }).default({ newCheckout: false }),
});
type DemoConfig = z.output<typeof DemoConfig>;

const prefix = 'config/demo/';
const fast = process.argv.includes('--fast');
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, fast ? 0 : ms));

function show(label: string, config: DemoConfig): void {
  console.log(`[app] ${label}: ${JSON.stringify(config)}`);
}

async function main(): Promise<void> {
  let server: DevServer | undefined;
  let address = process.env.CONSUL_HTTP_ADDR;
  if (address === undefined || address === '') {
    server = await startDevServer({ port: 0 });
    address = server.address;
    console.log(`[demo] embedded Consul-compatible dev server at ${address}`);
  } else {
    console.log(`[demo] using the Consul agent at ${address}`);
  }

  const consul = new ConsulClient({ address });
  const watcher = new Watcher({ address, wait: '30s' });
  try {
    await consul.kv.delete(prefix, { recurse: true });
    await consul.kv.put(`${prefix}greeting`, '"hello"');
    await consul.kv.put(`${prefix}rateLimit`, '100');
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
      ['put greeting = "hello, world"', () => consul.kv.put(`${prefix}greeting`, '"hello, world"'), 'change'],
      ['put rateLimit = "lots" (invalid)', () => consul.kv.put(`${prefix}rateLimit`, '"lots"'), 'invalid'],
      ['put rateLimit = 250', () => consul.kv.put(`${prefix}rateLimit`, '250'), 'change'],
      [
        'put features/newCheckout = true',
        () => consul.kv.put(`${prefix}features/newCheckout`, 'true'),
        'change',
      ],
      [
        'delete features/ (the default applies)',
        () => consul.kv.delete(`${prefix}features/`, { recurse: true }),
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
    await consul.close();
    await server?.close();
  }
  console.log('[demo] done: every change arrived without a restart');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
