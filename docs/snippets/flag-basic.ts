import { createFlag, Watcher } from 'consul-hotreload';

declare function renderNewCheckout(): string;
declare function renderOldCheckout(): string;

const watcher = new Watcher({ address: 'http://127.0.0.1:8500', roots: ['flags/'] });

// `consul kv put flags/checkout/new-flow true` turns it on; delete the key and it is off again.
const newFlow = createFlag(watcher, 'flags/checkout/new-flow', { type: 'boolean', default: false });

export function checkoutPage(): string {
  // Always a boolean: the default until Consul answers, while the key is missing, and while it holds
  // something that is not true/false.
  return newFlow.value ? renderNewCheckout() : renderOldCheckout();
}

newFlow.on('change', ({ value, previous }) => console.log(`new-flow ${previous} -> ${value}`));
newFlow.on('invalid', (error) => console.warn(error.message)); // names the key and what was found

await newFlow.ready; // optional: resolves after Consul's first answer, never rejects

// On shutdown:
await newFlow.close();
await watcher.close();
