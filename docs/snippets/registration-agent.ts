import { ConsulClient, ServiceNotRegisteredError } from 'consul-hotreload';

// The agent API underneath registerService(), for callers who run their own loop.
const consul = new ConsulClient();
await consul.agent.register({
  id: 'batch-1',
  name: 'batch',
  checks: [{ checkId: 'batch-1:ttl', ttl: '30s', deregisterCriticalServiceAfter: '1m' }],
}); // sent with ?replace-existing-checks=true, durations as Go strings
try {
  await consul.agent.updateCheck('batch-1:ttl', 'passing', 'processed 120 jobs');
} catch (error) {
  if (!(error instanceof ServiceNotRegisteredError)) throw error;
  // The agent restarted or the service was reaped: register again, then update.
}
await consul.agent.maintenance('batch-1', true, { reason: 'draining' });
const removed = await consul.agent.deregister('batch-1'); // false when it was already gone (404)
console.log({ removed });
await consul.close();
