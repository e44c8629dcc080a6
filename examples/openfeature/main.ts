/**
 * OpenFeature + Consul KV, end to end, in one process:
 *
 * 1. starts the embedded Consul dev server and seeds flagd flag definitions under `flags/`
 *    (one key per flag, plus shared `$evaluators`);
 * 2. sets ConsulFlagProvider on the OpenFeature server SDK and evaluates flags;
 * 3. changes one flag in Consul and shows the ConfigurationChanged event and the new answer;
 * 4. closes everything; the process then exits on its own.
 *
 * Run: npx tsx examples/openfeature/main.ts
 */
import { type EventDetails, OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { startDevServer } from 'consul-hotreload/devserver';
import { ConsulFlagProvider } from 'consul-hotreload/openfeature';

const newUi = (defaultVariant: 'on' | 'off') => ({
  state: 'ENABLED',
  variants: { on: true, off: false },
  defaultVariant,
  // Staff (shared evaluator below) always get the new UI; everyone else gets the default variant.
  targeting: { if: [{ $ref: 'staff' }, 'on', null] },
});

const server = await startDevServer({
  port: 0,
  seed: {
    'flags/$evaluators': { staff: { ends_with: [{ var: 'email' }, '@example.com'] } },
    'flags/new-ui': newUi('off'),
    'flags/checkout-color': {
      state: 'ENABLED',
      variants: { red: 'red', blue: 'blue', green: 'green' },
      defaultVariant: 'red',
      targeting: {
        fractional: [
          ['red', 50],
          ['blue', 25],
          ['green', 25],
        ],
      },
    },
    'flags/max-items': { state: 'ENABLED', variants: { low: 10, high: 100 }, defaultVariant: 'high' },
  },
});
console.log(`dev server at ${server.address}`);

await OpenFeature.setProviderAndWait(new ConsulFlagProvider({ prefix: 'flags/', address: server.address }));
const client = OpenFeature.getClient();

const ana = { targetingKey: 'user-1', email: 'ana@example.com' };
const bo = { targetingKey: 'user-2', email: 'bo@elsewhere.org' };
const show = async (label: string) => {
  for (const [name, context] of [
    ['ana', ana],
    ['bo', bo],
  ] as const) {
    const ui = await client.getBooleanDetails('new-ui', false, context);
    const color = await client.getStringDetails('checkout-color', 'red', context);
    console.log(
      `${label} ${name}: new-ui=${ui.value} (${ui.reason}), checkout-color=${color.value} (${color.reason})`,
    );
  }
};

await show('before');
console.log(`max-items=${await client.getNumberValue('max-items', 0)}`);

// Register first, then write: the event arrives once the blocking query returns with the new value.
const changed = new Promise<EventDetails | undefined>((resolve) => {
  client.addHandler(ProviderEvents.ConfigurationChanged, resolve);
});
server.kv.put('flags/new-ui', JSON.stringify(newUi('on')));
const event = await changed;
console.log(`ConfigurationChanged: flagsChanged=${JSON.stringify(event?.flagsChanged)}`);
await show('after');

// Closes the provider, which closes the watcher it made; then the server. Nothing keeps the process alive.
await OpenFeature.close();
await server.close();
