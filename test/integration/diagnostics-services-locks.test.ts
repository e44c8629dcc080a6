/**
 * The `consul-hotreload:service:state` and `consul-hotreload:lock:state` channels over loopback against the
 * dev server: one message per registration and lock state event, in order, with the event's fields.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsulClient } from '../../src/consul/client.js';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import type { LockStateMessage, ServiceStateMessage } from '../../src/diagnostics.js';
import { lock } from '../../src/locks/lock.js';
import { registerService } from '../../src/services/registration.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { Log } from '../helpers/watch.js';

let dev: DevServer | undefined;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await dev?.close();
  dev = undefined;
});

/** Every message published on `name` until the test ends. */
function listen<T>(name: string): Log<T> {
  const log = new Log<T>();
  const onMessage = (message: unknown) => log.push(message as T);
  diagnosticsChannel.subscribe(name, onMessage);
  cleanups.push(() => diagnosticsChannel.unsubscribe(name, onMessage));
  return log;
}

describe('diagnostics channels of registrations and locks', () => {
  it('publishes a registration from registered to deregistered', async () => {
    dev = await startDevServer({ port: 0, jitter: false, clock: new ManualClock(), random: () => 0 });
    const messages = listen<ServiceStateMessage>('consul-hotreload:service:state');
    const registration = registerService({
      consul: { address: dev.address, env: {} },
      name: 'web',
      id: 'web-1',
      address: '127.0.0.1',
      port: 8080,
      ttl: '1s',
      drain: 0,
    });
    cleanups.push(() => registration.close());
    await registration.ready;
    await messages.when((items) => items.some((m) => m.event === 'health'));
    await registration.close();
    expect(messages.items).toEqual([
      { id: 'web-1', name: 'web', event: 'registered' },
      { id: 'web-1', name: 'web', event: 'health', status: 'passing', previous: undefined },
      { id: 'web-1', name: 'web', event: 'draining', drainMs: 0 },
      { id: 'web-1', name: 'web', event: 'deregistered', removed: true },
    ]);
  });

  it('publishes a lock acquired, lost when its session goes, acquired again and released', async () => {
    dev = await startDevServer({ port: 0 });
    const client = new ConsulClient({ address: dev.address, env: {} });
    cleanups.push(() => client.close());
    const messages = listen<LockStateMessage>('consul-hotreload:lock:state');
    const held = await lock(client, 'locks/diag', { lockDelay: 0 });
    cleanups.push(() => held.close());
    const first = held.session as string;
    const lost = new Promise((resolve) => held.once('lost', resolve));
    await client.session.destroy(first);
    await lost;
    await held.acquire();
    const second = held.session as string;
    await held.release();
    expect(messages.items).toEqual([
      { key: 'locks/diag', event: 'acquired', session: first, lockIndex: 1 },
      { key: 'locks/diag', event: 'lost', session: first, reason: 'session-changed' },
      { key: 'locks/diag', event: 'acquired', session: second, lockIndex: 2 },
      { key: 'locks/diag', event: 'released', session: second },
    ]);
  });
});
