/**
 * The one validation mapper (src/watch/validate.ts): zod issues and unknown keys as ValidationIssues naming
 * the Consul key. Trees are built by the Watcher's own tree code, so folders and decoded objects are told
 * apart as in production, and keys are named the way a subscription names them (`locate`).
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildTree, type Folder, locate } from '../../../src/watch/tree.js';
import {
  findUnknownKeys,
  type ValidationContext,
  type ValuePath,
  validate,
} from '../../../src/watch/validate.js';

const prefix = 'config/app/';

/** The tree a prefix subscription serves for these keys (relative to the prefix) and decoded values. */
function treeOf(values: Record<string, unknown>): Folder {
  const { root, conflicts } = buildTree(
    Object.entries(values).map(([key, value]) => [key.split('/'), value]),
  );
  if (conflicts.length > 0) throw new Error(`conflicting keys in test tree: ${JSON.stringify(conflicts)}`);
  return root;
}

/** How a prefix subscription validates `tree`: keys named by `locate`, unknown keys listed. */
function prefixContext(tree: Folder): ValidationContext {
  return {
    keyOf: (path: ValuePath) => {
      const { keyPath, folder } = locate(tree, path);
      return keyPath.length === 0 ? prefix : `${prefix}${keyPath.join('/')}${folder ? '/' : ''}`;
    },
    secret: false,
    findUnknownKeys: true,
  };
}

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

describe('validate on a prefix tree', () => {
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
    expect(validate(schema, tree, prefixContext(tree))).toEqual({
      ok: true,
      value: {
        db: { host: 'h', port: 5432, password: 'long-enough-secret', pool: { max: 10 } },
        mode: 'dev',
        retry: 'off',
        cache: { ttlSeconds: 5 },
      },
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
    expect(validate(schema, tree, prefixContext(tree))).toEqual({
      ok: false,
      issues: [
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
          // The key whose JSON holds the rest of the path.
          key: 'config/app/cache',
          path: ['cache', 'ttlSeconds'],
          message: 'expected number',
          expected: 'number',
          received: '"5"',
        },
      ],
      unknownKeys: [
        {
          key: 'config/app/db/hots',
          path: ['db', 'hots'],
          message: 'not described by the schema',
          expected: 'no such key',
          received: '"typo"',
        },
      ],
    });
  });

  it('gives each extra key of a z.strictObject its own issue', () => {
    const strict = z.object({ db: z.strictObject({ host: z.string() }) });
    const tree = treeOf({ 'db/host': 'h', 'db/x': 1, 'db/token': 's3cr3t' });
    expect(validate(strict, tree, prefixContext(tree))).toEqual({
      ok: false,
      issues: [
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
      ],
      // zod rejects them itself: they are issues, not unknown keys.
      unknownKeys: [],
    });
  });

  it('lists unknown keys only when asked', () => {
    const tree = treeOf({ 'db/host': 'h', 'db/hots': 'typo' });
    const plain = z.object({ db: z.object({ host: z.string() }) });
    expect(validate(plain, tree, { ...prefixContext(tree), findUnknownKeys: false })).toEqual({
      ok: true,
      value: { db: { host: 'h' } },
      unknownKeys: [],
    });
  });
});

describe('validate', () => {
  const locateKey = (path: ValuePath) => `config/app/${path.map(String).join('/')}`;
  const context: ValidationContext = { keyOf: locateKey, secret: false, findUnknownKeys: false };

  it('returns the schema output when valid', () => {
    const schema = z.object({ port: z.coerce.number() });
    expect(validate(schema, { port: '80' }, context)).toEqual({
      ok: true,
      value: { port: 80 },
      unknownKeys: [],
    });
  });

  it('maps every issue to the key behind its path, with expected and received', () => {
    const schema = z.object({ port: z.number(), host: z.string() });
    expect(validate(schema, { port: 'eighty' }, context)).toEqual({
      ok: false,
      issues: [
        {
          key: 'config/app/port',
          path: ['port'],
          message: 'expected number',
          expected: 'number',
          received: '"eighty"',
        },
        {
          key: 'config/app/host',
          path: ['host'],
          message: 'missing; expected string',
          expected: 'string',
          received: undefined,
        },
      ],
      unknownKeys: [],
    });
  });

  it('redacts the received value of a secret-looking key or path', () => {
    const schema = z.object({ db: z.object({ password: z.number() }) });
    const result = validate(schema, { db: { password: 'hunter2' } }, context);
    expect(result).toEqual({
      ok: false,
      issues: [
        {
          key: 'config/app/db/password',
          path: ['db', 'password'],
          message: 'expected number',
          expected: 'number',
          received: '[redacted]',
        },
      ],
      unknownKeys: [],
    });
    expect(JSON.stringify(result)).not.toContain('hunter2');
    // A watched key whose own name looks secret: every value is redacted.
    expect(
      validate(z.number(), 'hunter2', { ...context, keyOf: () => 'config/api-token', secret: true }),
    ).toEqual({
      ok: false,
      issues: [
        {
          key: 'config/api-token',
          path: [],
          message: 'expected number',
          expected: 'number',
          received: '[redacted]',
        },
      ],
      unknownKeys: [],
    });
  });

  it('gives each unrecognized key of a strict object its own issue and key', () => {
    const schema = z.strictObject({ a: z.number() });
    expect(validate(schema, { a: 1, b: 2, c: 3 }, context)).toEqual({
      ok: false,
      issues: [
        {
          key: 'config/app/b',
          path: ['b'],
          message: 'not described by the schema',
          expected: 'no such key',
          received: '2',
        },
        {
          key: 'config/app/c',
          path: ['c'],
          message: 'not described by the schema',
          expected: 'no such key',
          received: '3',
        },
      ],
      unknownKeys: [],
    });
  });

  it('reports an asynchronous schema as one issue naming the watched key instead of throwing', () => {
    const schema = z.string().refine(async () => true);
    expect(validate(schema, 'x', { ...context, keyOf: () => 'config/flag' })).toEqual({
      ok: false,
      issues: [
        {
          key: 'config/flag',
          path: [],
          message:
            'the schema threw: Encountered Promise during synchronous parse. Use .parseAsync() instead.',
        },
      ],
      unknownKeys: [],
    });
  });

  it('reports a schema that throws (a refine, a transform) as one issue with the first line of the throw', () => {
    const refine = z.object({
      port: z.number().refine(() => {
        throw new Error('boom\nat line two');
      }),
    });
    const transform = z.object({
      port: z.number().transform(() => {
        throw new TypeError('bad transform');
      }),
    });
    const tree = treeOf({ port: 1, extra: 2 });
    expect([
      validate(refine, tree, prefixContext(tree)),
      validate(transform, tree, prefixContext(tree)),
    ]).toEqual([
      {
        ok: false,
        issues: [{ key: 'config/app/', path: [], message: 'the schema threw: boom' }],
        unknownKeys: [
          {
            key: 'config/app/extra',
            path: ['extra'],
            message: 'not described by the schema',
            expected: 'no such key',
            received: '2',
          },
        ],
      },
      {
        ok: false,
        issues: [{ key: 'config/app/', path: [], message: 'the schema threw: bad transform' }],
        unknownKeys: [
          {
            key: 'config/app/extra',
            path: ['extra'],
            message: 'not described by the schema',
            expected: 'no such key',
            received: '2',
          },
        ],
      },
    ]);
  });
});

describe('findUnknownKeys and validate on awkward key names', () => {
  const schema = z.object({ port: z.number() });

  it('treats keys named like Object.prototype members as unknown keys, not as the shape’s', () => {
    const names = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__'];
    for (const name of names) {
      const tree = treeOf({ port: 1, [name]: 'x' });
      expect(findUnknownKeys(schema, tree)).toEqual([[name]]);
      expect(validate(schema, tree, prefixContext(tree))).toEqual({
        ok: true,
        value: { port: 1 },
        unknownKeys: [
          {
            key: `config/app/${name}`,
            path: [name],
            message: 'not described by the schema',
            expected: 'no such key',
            received: '"x"',
          },
        ],
      });
    }
  });

  it('lists a key 2,000 folders deep without overflowing the stack', () => {
    const deep = `${'a/'.repeat(2000)}x`;
    const tree = treeOf({ port: 1, [deep]: true });
    const path = deep.split('/');
    expect(findUnknownKeys(schema, tree)).toEqual([path]);
    const result = validate(schema, tree, prefixContext(tree));
    expect(result.ok).toBe(true);
    expect(result.unknownKeys.map(({ key, path: at }) => [key, at.length])).toEqual([
      [`config/app/${deep}`, 2001],
    ]);
  });
});
