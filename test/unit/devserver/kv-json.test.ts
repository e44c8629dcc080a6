import { describe, expect, it } from 'vitest';
import { entryToJson, jsonUint64, renderJson } from '../../../src/devserver/kv-json.js';

const entry = {
  key: 'a<b>&c',
  value: Buffer.from('hi'),
  flags: 18446744073709551615n,
  lockIndex: 0,
  session: undefined,
  createIndex: 2,
  modifyIndex: 3,
};

describe('renderJson', () => {
  it('writes entries in Go field order, exact uint64 flags and HTML-safe escapes', () => {
    expect(renderJson([entryToJson(entry)], false).toString()).toBe(
      '[{"LockIndex":0,"Key":"a\\u003cb\\u003e\\u0026c","Flags":18446744073709551615,"Value":"aGk=","CreateIndex":2,"ModifyIndex":3}]',
    );
  });

  it('writes Value null for an empty value or a write result', () => {
    expect(entryToJson({ ...entry, value: null }).Value).toBeNull();
    expect(entryToJson(entry, false).Value).toBeNull();
  });

  it('indents with four spaces and ends with a newline when pretty', () => {
    expect(renderJson({ a: [1] }, true).toString()).toBe('{\n    "a": [\n        1\n    ]\n}\n');
  });

  it('leaves small numbers as numbers and never rewrites user strings', () => {
    expect(jsonUint64(42n)).toBe(42);
    expect(renderJson(['\u0000u64-x:1'], false).toString()).toBe('["\\u0000u64-x:1"]');
  });
});
