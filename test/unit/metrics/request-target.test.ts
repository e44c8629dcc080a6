import { describe, expect, it } from 'vitest';
import { kvPath } from '../../../src/consul/kv.js';
import { kvReadTarget } from '../../../src/metrics/request-target.js';

describe('kvReadTarget', () => {
  it('reads the prefix, kind and consistency of a kv.list', () => {
    expect(kvReadTarget('kv.list', '/v1/kv/config/app/?recurse=&stale=&index=12&wait=30000ms')).toEqual({
      key: 'config/app/',
      kind: 'prefix',
      consistency: 'stale',
    });
  });

  it('reads a kv.get with the default consistency', () => {
    expect(kvReadTarget('kv.get', '/v1/kv/flags/beta?index=3&wait=1000ms')).toEqual({
      key: 'flags/beta',
      kind: 'key',
      consistency: 'default',
    });
  });

  it('decodes each segment the client encoded, and skips an address path prefix', () => {
    const key = 'cfg/a b/?x#y/ü';
    const path = `/consul${kvPath(key)}?consistent=&dc=eu&index=7`;
    expect(kvReadTarget('kv.get', path)).toEqual({ key, kind: 'key', consistency: 'consistent' });
  });

  it('ignores requests that are not KV reads', () => {
    expect(kvReadTarget('txn', '/v1/txn')).toBeUndefined();
    expect(kvReadTarget('kv.keys', '/v1/kv/config/?keys=')).toBeUndefined();
    expect(kvReadTarget('kv.get', '/v1/status/leader')).toBeUndefined();
    expect(kvReadTarget('kv.get', '/v1/kv/%E0%A4%A')).toBeUndefined();
  });
});
