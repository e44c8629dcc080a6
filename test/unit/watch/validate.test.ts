import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  checkTree,
  DecodeFailure,
  describeReceived,
  findUnknownKeys,
  keyForPath,
  tolerantDecoder,
} from '../../../src/bindings/validate.js';
import { treeOf } from './fake-watch.js';

const prefix = 'config/app/';

describe('findUnknownKeys', () => {
  it('reports keys a plain z.object does not describe, at any depth, in key order', () => {
    const schema = z.object({ db: z.object({ host: z.string() }), port: z.number() });
    const tree = treeOf({ 'db/host': 'h', 'db/hots': 'typo', port: 1, extra: true });
    expect(findUnknownKeys(schema, tree)).toEqual([['db', 'hots'], ['extra']]);
  });

  it('reports the keys inside an unknown folder, and a JSON object value as one key', () => {
    const schema = z.object({ known: z.number() });
    const tree = treeOf({ known: 1, 'featurs/a': true, 'featurs/deep/b': false, blob: { x: 1, y: 2 } });
    expect(findUnknownKeys(schema, tree)).toEqual([['blob'], ['featurs', 'a'], ['featurs', 'deep', 'b']]);
  });

  it('treats looseObject, catchall, strictObject and record as describing every key', () => {
    const tree = treeOf({ 'a/x': 1, 'b/y': 2, 'c/z': 3, 'd/w': 4 });
    const schema = z.object({
      a: z.looseObject({}),
      b: z.object({}).catchall(z.number()),
      c: z.strictObject({}),
      d: z.record(z.string(), z.number()),
    });
    expect(findUnknownKeys(schema, tree)).toEqual([]);
  });

  it('walks into catchall, record and array members', () => {
    const member = z.object({ name: z.string() });
    const schema = z.object({
      byName: z.record(z.string(), member),
      loose: z.object({}).catchall(member),
      list: z.array(member),
    });
    const tree = treeOf({
      'byName/a': { name: 'a', nmae: 'typo' },
      'loose/b': { name: 'b', colour: 'red' },
      list: [{ name: 'c' }, { name: 'd', x: 1 }],
    });
    expect(findUnknownKeys(schema, tree)).toEqual([
      ['byName', 'a', 'nmae'],
      ['list', 1, 'x'],
      ['loose', 'b', 'colour'],
    ]);
  });

  it('looks through optional, default, nullable, pipe and lazy wrappers', () => {
    const inner = z.object({ a: z.number() });
    const schema = z.object({
      opt: inner.optional(),
      def: inner.default({ a: 1 }),
      nul: inner.nullable(),
      piped: inner.pipe(z.object({ a: z.number().min(0) })),
      lazy: z.lazy(() => inner),
    });
    const tree = treeOf({ 'opt/b': 1, 'def/b': 1, 'nul/b': 1, 'piped/b': 1, 'lazy/b': 1 });
    expect(findUnknownKeys(schema, tree)).toEqual([
      ['def', 'b'],
      ['lazy', 'b'],
      ['nul', 'b'],
      ['opt', 'b'],
      ['piped', 'b'],
    ]);
  });

  it('reports a key under a union or intersection only when no member describes it', () => {
    const schema = z.object({
      u: z.union([z.object({ a: z.number() }), z.object({ b: z.number() })]),
      i: z.intersection(z.object({ a: z.number() }), z.object({ b: z.number() })),
    });
    const tree = treeOf({ 'u/a': 1, 'u/b': 2, 'u/c': 3, 'i/a': 1, 'i/b': 2, 'i/c': 3 });
    expect(findUnknownKeys(schema, tree)).toEqual([
      ['i', 'c'],
      ['u', 'c'],
    ]);
  });

  it('does not look inside values the schema leaves open', () => {
    const schema = z.object({ any: z.any(), json: z.unknown(), text: z.string().transform((s) => s.length) });
    expect(findUnknownKeys(schema, treeOf({ 'any/x': 1, json: { y: 2 }, text: 'abc' }))).toEqual([]);
  });
});

describe('keyForPath', () => {
  it('names the key of a folder path, and stops at a key whose JSON holds the rest of the path', () => {
    const tree = treeOf({ 'db/port': 1, cache: { ttl: { seconds: 5 } } });
    expect(keyForPath(prefix, tree, ['db', 'port'])).toBe('config/app/db/port');
    expect(keyForPath(prefix, tree, ['cache', 'ttl', 'seconds'])).toBe('config/app/cache');
    expect(keyForPath(prefix, tree, ['missing'])).toBe('config/app/missing');
  });
});

describe('describeReceived', () => {
  it('quotes strings, shows JSON and cuts long renderings at 80 characters', () => {
    expect(describeReceived('abc', false)).toBe('"abc"');
    expect(describeReceived(12, false)).toBe('12');
    expect(describeReceived(null, false)).toBe('null');
    expect(describeReceived([1, { a: true }], false)).toBe('[1,{"a":true}]');
    expect(describeReceived('x'.repeat(100), false)).toBe(`"${'x'.repeat(78)}…`);
    expect(describeReceived(undefined, false)).toBeUndefined();
  });

  it('redacts the whole value on a secret path and secret-looking fields inside objects', () => {
    expect(describeReceived('hunter2', true)).toBe('[redacted]');
    expect(describeReceived({ user: 'app', password: 'hunter2', nested: { apiKey: 'k' } }, false)).toBe(
      '{"user":"app","password":"[redacted]","nested":{"apiKey":"[redacted]"}}',
    );
  });
});

describe('checkTree', () => {
  const schema = z.object({
    db: z.object({
      host: z.string(),
      port: z.number().int().min(1).max(65535),
      password: z.string().min(12),
      pool: z.object({ max: z.number().default(10) }).default({ max: 10 }),
    }),
    mode: z.enum(['dev', 'prod']),
    retry: z.union([z.number(), z.literal('off')]),
    cache: z.object({ ttlSeconds: z.number() }),
  });

  it('returns the parsed value with defaults filled in when the tree is valid', () => {
    const tree = treeOf({
      'db/host': 'h',
      'db/port': 5432,
      'db/password': 'long-enough-secret',
      mode: 'dev',
      retry: 'off',
      cache: { ttlSeconds: 5 },
    });
    expect(checkTree(schema, tree, prefix)).toEqual({
      ok: true,
      value: {
        db: { host: 'h', port: 5432, password: 'long-enough-secret', pool: { max: 10 } },
        mode: 'dev',
        retry: 'off',
        cache: { ttlSeconds: 5 },
      },
      issues: [],
      unknownKeys: [],
    });
  });

  it('lists every problem with its Consul key, path, expectation and redacted finding', () => {
    const tree = treeOf({
      'db/port': 'abc',
      'db/password': 'hunter2',
      'db/hots': 'typo',
      mode: 'staging',
      retry: true,
      cache: { ttlSeconds: '5' },
    });
    const check = checkTree(schema, tree, prefix);
    expect(check.ok).toBe(false);
    expect(check.value).toBeUndefined();
    expect(check.issues).toEqual([
      {
        key: 'config/app/db/host',
        path: ['db', 'host'],
        message: 'missing; expected string',
        expected: 'string',
        received: undefined,
      },
      {
        key: 'config/app/db/port',
        path: ['db', 'port'],
        message: 'expected number',
        expected: 'number',
        received: '"abc"',
      },
      {
        key: 'config/app/db/password',
        path: ['db', 'password'],
        message: 'Too small: expected string to have >=12 characters',
        expected: 'string with length >= 12',
        received: '[redacted]',
      },
      {
        key: 'config/app/mode',
        path: ['mode'],
        message: 'Invalid option: expected one of "dev"|"prod"',
        expected: '"dev" | "prod"',
        received: '"staging"',
      },
      {
        key: 'config/app/retry',
        path: ['retry'],
        message: 'expected number | "off"',
        expected: 'number | "off"',
        received: 'true',
      },
      {
        key: 'config/app/cache',
        path: ['cache', 'ttlSeconds'],
        message: 'expected number',
        expected: 'number',
        received: '"5"',
      },
    ]);
    expect(check.unknownKeys).toEqual([
      {
        key: 'config/app/db/hots',
        path: ['db', 'hots'],
        message: 'not described by the schema',
        expected: 'no such key',
        received: '"typo"',
      },
    ]);
  });

  it('gives each extra key of a z.strictObject its own issue', () => {
    const strict = z.object({ db: z.strictObject({ host: z.string() }) });
    const check = checkTree(strict, treeOf({ 'db/host': 'h', 'db/x': 1, 'db/token': 's3cr3t' }), prefix);
    expect(check.issues).toEqual([
      {
        key: 'config/app/db/token',
        path: ['db', 'token'],
        message: 'not described by the schema',
        expected: 'no such key',
        received: '[redacted]',
      },
      {
        key: 'config/app/db/x',
        path: ['db', 'x'],
        message: 'not described by the schema',
        expected: 'no such key',
        received: '1',
      },
    ]);
  });
});

describe('tolerantDecoder', () => {
  it('decodes like the format and turns a failure into a DecodeFailure in place', () => {
    const decode = tolerantDecoder('json');
    expect(decode(Buffer.from('{"a":1}'), 'config/app/x')).toEqual({ a: 1 });
    expect(decode(null, 'config/app/x')).toBeUndefined();
    const failure = decode(Buffer.from('{bad'), 'config/app/x');
    expect(failure).toBeInstanceOf(DecodeFailure);
    expect((failure as DecodeFailure).message).toMatch(/^not valid JSON: /);
    // A parser message may quote the input: for a secret-looking key only the format is named.
    expect(decode(Buffer.from('{"pw": hunter2'), 'config/app/db/password')).toEqual(
      new DecodeFailure('not valid JSON'),
    );
  });

  it('lets checkTree report decode failures together with schema problems elsewhere', () => {
    const schema = z.object({ db: z.object({ port: z.number(), host: z.string() }) });
    const tree = treeOf({ 'db/port': new DecodeFailure('not valid JSON: boom'), 'db/host': 5 });
    expect(checkTree(schema, tree, prefix).issues).toEqual([
      { key: 'config/app/db/port', path: ['db', 'port'], message: 'not valid JSON: boom' },
      {
        key: 'config/app/db/host',
        path: ['db', 'host'],
        message: 'expected string',
        expected: 'string',
        received: '5',
      },
    ]);
  });

  it('fails the check on a decode failure even where the schema accepts anything', () => {
    const check = checkTree(z.looseObject({}), treeOf({ x: new DecodeFailure('not valid YAML') }), prefix);
    expect([check.ok, check.issues]).toEqual([
      false,
      [{ key: 'config/app/x', path: ['x'], message: 'not valid YAML' }],
    ]);
  });
});
describe('validate', () => {
  const locateKey = (path: readonly PropertyKey[]) => `config/app/${path.map(String).join('/')}`;

  it('returns the schema output when valid', () => {
    const schema = z.object({ port: z.coerce.number() });
    expect(validate(schema, { port: '80' }, locateKey)).toEqual({ ok: true, value: { port: 80 } });
  });

  it('maps every issue to the key behind its path, with expected and received', () => {
    const schema = z.object({ port: z.number(), host: z.string() });
    expect(validate(schema, { port: 'eighty' }, locateKey)).toEqual({
      ok: false,
      issues: [
        {
          key: 'config/app/port',
          path: ['port'],
          message: 'Invalid input: expected number, received string',
          expected: 'number',
          received: '"eighty"',
        },
        {
          key: 'config/app/host',
          path: ['host'],
          message: 'Invalid input: expected string, received undefined',
          expected: 'string',
          received: 'undefined',
        },
      ],
    });
  });

  it('redacts the received value of a secret-looking key or path', () => {
    const schema = z.object({ db: z.object({ password: z.number() }) });
    const result = validate(schema, { db: { password: 'hunter2' } }, locateKey);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues[0]?.received).toBe('[redacted]');
    expect(JSON.stringify(result)).not.toContain('hunter2');
  });

  it('gives each unrecognized key of a strict object its own issue and key', () => {
    const schema = z.strictObject({ a: z.number() });
    expect(validate(schema, { a: 1, b: 2, c: 3 }, locateKey)).toEqual({
      ok: false,
      issues: [
        { key: 'config/app/b', path: ['b'], message: 'unrecognized key "b"' },
        { key: 'config/app/c', path: ['c'], message: 'unrecognized key "c"' },
      ],
    });
  });

  it('reports an asynchronous schema as one issue instead of throwing', () => {
    const schema = z.string().refine(async () => true);
    const result = validate(schema, 'x', () => 'config/flag');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.issues[0]?.key).toBe('config/flag');
    expect(!result.ok && result.issues[0]?.message.startsWith('the schema threw: ')).toBe(true);
  });
});
