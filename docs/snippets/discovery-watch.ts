import { Watcher } from 'consul-hotreload';

const watcher = new Watcher(); // CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN… fill in what the options leave out.

// Healthy instances of `api` tagged `v2`: a blocking query on /v1/health/service/api?passing&tag=v2.
const api = watcher.service('api', { tags: ['v2'] });

const instances = await api.ready; // the first list, possibly empty
for (const { id, address, port, status } of instances) console.log(id, `${address}:${port}`, status);

// One event per Consul answer that changed the list, with exactly what changed.
api.on('change', ({ added, removed, changed, instances: now }) => {
  for (const instance of added) console.log('joined', instance.id);
  for (const instance of removed) console.log('left', instance.id);
  for (const { instance, previous } of changed)
    console.log('changed', instance.id, previous.status, '->', instance.status);
  console.log(`${now.length} instances`);
});
// Nobody left to call: a real answer from Consul, not a failure.
api.on('empty', () => console.warn('no healthy api instance'));
// Transport or server trouble: the list keeps its instances and the watch retries with backoff.
api.on('error', (error) => console.warn(error.code, error.message));

await watcher.close();
