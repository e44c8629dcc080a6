import { OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { ConsulFlagProvider } from 'consul-hotreload/openfeature';

const user = { id: 'user-42', email: 'ada@example.com' };

await OpenFeature.setProviderAndWait(
  new ConsulFlagProvider({
    prefix: 'flags/',
    address: 'http://127.0.0.1:8500',
    token: process.env.CONSUL_HTTP_TOKEN,
  }),
);
const client = OpenFeature.getClient();

client.addHandler(ProviderEvents.ConfigurationChanged, (event) => {
  console.log('flags changed:', event?.flagsChanged);
});

const details = await client.getBooleanDetails('new-ui', false, { targetingKey: user.id, email: user.email });
console.log(details); // { flagKey: 'new-ui', value: true, variant: 'on', reason: 'TARGETING_MATCH', … }

// On shutdown: closes the provider, which closes the watcher it made.
await OpenFeature.close();
