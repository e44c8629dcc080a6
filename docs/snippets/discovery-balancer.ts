import { Balancer, NoHealthyInstanceError, Watcher } from 'consul-hotreload';

const watcher = new Watcher();
// Keep instances whose worst check warns: the weighted balancer gives them Weights.Warning.
const api = watcher.service('api', { warning: 'include' });
await api.ready;

const balancer = new Balancer(api, { strategy: 'weighted', ejectFor: '30s' });

async function callApi(path: string): Promise<Response> {
  let instance: ReturnType<Balancer['pick']>;
  try {
    instance = balancer.pick();
  } catch (error) {
    if (error instanceof NoHealthyInstanceError) return new Response('no upstream', { status: 503 });
    throw error;
  }
  try {
    return await fetch(`http://${instance.address}:${instance.port}${path}`);
  } catch (error) {
    // Passive outlier detection: leave this instance out of picks for 30 s.
    balancer.reportFailure(instance);
    throw error;
  }
}

console.log((await callApi('/health')).status);
await watcher.close();
