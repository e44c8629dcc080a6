import { ConsulClient } from 'consul-hotreload';

// Explicit options > CONSUL_* environment > defaults (http://127.0.0.1:8500).
const consul = new ConsulClient({ address: process.env.CONSUL_HTTP_ADDR ?? '127.0.0.1:8500' });

await consul.kv.put('config/app/db/host', '"db.internal"');
const { entry, index } = await consul.kv.get('config/app/db/host');
console.log(entry?.text(), entry?.modifyIndex);

// A blocking read: answers when the key changes, or after `wait` with the same index.
const next = await consul.kv.get('config/app/db/host', { index, wait: '30s' });
console.log(next.index > index ? 'changed' : 'unchanged');

const { entries } = await consul.kv.list('config/app/'); // 404 is simply []
console.log(entries.map((e) => e.key));

const swapped = await consul.kv.put('config/app/db/host', '"db2.internal"', { cas: index }); // false if changed since
console.log({ swapped });
await consul.close();
