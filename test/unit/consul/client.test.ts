import { Agent } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConsulClient } from '../../../src/consul/client.js';
import { ConfigurationError, InvalidArgumentError } from '../../../src/errors.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('ConsulClient', () => {
  it('resolves its configuration at construction', () => {
    const client = new ConsulClient({
      env: { CONSUL_HTTP_ADDR: 'https://consul:8501', CONSUL_HTTP_TOKEN: 't0k' },
    });
    expect(client.config.origin).toBe('https://consul:8501');
    expect(client.config.token).toBe('t0k');
    expect(client.closed).toBe(false);
    return client.close();
  });

  it('throws bad options at construction', () => {
    expect(() => new ConsulClient({ env: {}, connections: -1 })).toThrow(InvalidArgumentError);
    expect(() => new ConsulClient({ env: { CONSUL_HTTP_ADDR: 'ftp://x' } })).toThrow(ConfigurationError);
  });

  it('destroys its own dispatcher once on close, however often close is called', async () => {
    const destroy = vi.spyOn(Agent.prototype, 'destroy');
    const client = new ConsulClient({ env: {} });
    const first = client.close();
    expect(client.close()).toBe(first);
    expect(client[Symbol.asyncDispose]()).toBe(first);
    await first;
    // undici's promise form of destroy() calls itself once more with a callback: count the agents instead.
    expect(new Set(destroy.mock.contexts).size).toBe(1);
    const callsAfterFirstClose = destroy.mock.calls.length;
    await client.close();
    expect(destroy.mock.calls.length).toBe(callsAfterFirstClose);
    expect(client.closed).toBe(true);
  });
});
