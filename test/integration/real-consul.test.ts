/**
 * Against a real Consul agent: runs only when the explicit opt-in CONSUL_HOTRELOAD_TEST_ADDR names it
 * (with CONSUL_HOTRELOAD_TEST_TOKEN for an ACL token), and is skipped otherwise; an exported
 * CONSUL_HTTP_ADDR is never enough (test/helpers/isolate-env.ts removes it). Everything is written under a
 * unique prefix and deleted afterwards.
 */

import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConsulClient } from '../../src/consul/client.js';
import type { ChangeEvent } from '../../src/watch/types.js';
import { Watcher } from '../../src/watch/watcher.js';

const address = process.env.CONSUL_HOTRELOAD_TEST_ADDR ?? '';
const token = process.env.CONSUL_HOTRELOAD_TEST_TOKEN;
const enabled = address !== '';
/** The agent's options; `env: {}` so nothing else the shell exported is read. */
const agent = { address, env: {}, ...(token === undefined ? {} : { token }) };

describe.skipIf(!enabled)('against the real Consul agent at CONSUL_HOTRELOAD_TEST_ADDR', () => {
  const prefix = `consul-hotreload-test/${randomUUID()}/`;
  const client = new ConsulClient(enabled ? agent : { env: {} });

  afterAll(async () => {
    await client.kv.delete(prefix, { recurse: true });
    await client.close();
  });

  it('reads back what it writes, with a 404 as an empty answer carrying an index', async () => {
    expect(await client.kv.put(`${prefix}a`, 'one')).toBe(true);
    const got = await client.kv.get(`${prefix}a`);
    expect(got.entry?.text()).toBe('one');
    expect(got.index).toBeGreaterThan(1);
    const missing = await client.kv.get(`${prefix}missing`);
    expect(missing.entry).toBeNull();
    expect(missing.index).toBeGreaterThan(0);
  });

  it('ends a blocking read when the key changes', async () => {
    const first = await client.kv.get(`${prefix}a`);
    const blocked = client.kv.get(`${prefix}a`, { index: first.index, wait: '10s' });
    await client.kv.put(`${prefix}a`, 'two');
    const next = await blocked;
    expect(next.entry?.text()).toBe('two');
    expect(next.index).toBeGreaterThan(first.index);
  });

  it('delivers one change event for a write under a watched prefix', async () => {
    const watcher = new Watcher({ ...agent, wait: '10s' });
    try {
      const sub = watcher.watch(prefix, { format: 'text', schema: z.record(z.string(), z.string()) });
      await sub.ready;
      const changed = new Promise<ChangeEvent<Record<string, string>>>((resolve) =>
        sub.once('change', resolve),
      );
      await client.kv.put(`${prefix}b`, 'bee');
      const event = await changed;
      expect(event.changes).toEqual([expect.objectContaining({ key: `${prefix}b`, type: 'added' })]);
      expect(sub.current).toMatchObject({ a: 'two', b: 'bee' });
    } finally {
      await watcher.close();
    }
  });
});
