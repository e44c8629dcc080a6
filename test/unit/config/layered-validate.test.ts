/**
 * The merged tree is validated by the engine's own mapper through its face (`validateTree`, with the merged
 * tree's folders): for one layer it gives exactly what a prefix subscription's validation gives for the same
 * keys, issue for issue.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { mergeLayers } from '../../../src/config/layered-tree.js';
import { buildTree, locate } from '../../../src/watch/tree.js';
import { validate } from '../../../src/watch/validate.js';
import { validateTree } from '../../../src/watch/watcher.js';

const PREFIX = 'config/app/';

/** The engine's outcome and the layered one for the same keys under one prefix. */
function both(schema: z.ZodType, values: Record<string, unknown>) {
  const { root } = buildTree(
    Object.entries(values).map(([path, value]) => [path.split('/'), value] as const),
  );
  const engine = validate(schema, root, {
    keyOf: (path) => {
      const { keyPath, folder } = locate(root, path);
      return keyPath.length === 0 ? PREFIX : `${PREFIX}${keyPath.join('/')}${folder ? '/' : ''}`;
    },
    secret: false,
    findUnknownKeys: true,
  });
  // Consul lists a prefix's keys sorted, as buildTree() orders them.
  const sorted = Object.entries(values).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const tree = mergeLayers([
    { prefix: PREFIX, entries: new Map(sorted.map(([path, value]) => [PREFIX + path, { value }])) },
  ]);
  const layered = validateTree(schema, tree.root, {
    keyOf: (path) => tree.keyOf(path),
    isFolder: (node) => tree.isFolder(node),
    secret: false,
    findUnknownKeys: true,
  });
  return { engine, layered };
}

const Db = z.object({
  host: z.string(),
  port: z.number().int().min(1).max(65535),
  password: z.string().min(12),
  mode: z.enum(['primary', 'replica']).default('primary'),
  timeout: z.union([z.number(), z.string()]).optional(),
  tags: z.array(z.string()).max(2).default([]),
});

const cases: Array<[string, z.ZodType, Record<string, unknown>]> = [
  ['a valid tree', z.object({ db: Db }), { 'db/host': 'h', 'db/port': 5432, 'db/password': 'x'.repeat(12) }],
  [
    'wrong types, missing keys, bounds, enums and unions',
    z.object({ db: Db, stripe: z.object({ key: z.string() }) }),
    {
      'db/host': 5,
      'db/port': 0,
      'db/password': 'short',
      'db/mode': 'x',
      'db/timeout': true,
      'db/tags': ['a', 'b', 'c'],
    },
  ],
  [
    'unknown keys in folders and a JSON object held by one key',
    z.object({ db: z.object({ host: z.string() }) }),
    { 'db/host': 'h', 'db/hots': 'typo', 'featurs/a': true, 'featurs/deep/b': 1, blob: { x: 1, token: 't' } },
  ],
  [
    'strict objects, loose objects and records',
    z.object({
      s: z.strictObject({ a: z.number() }),
      l: z.looseObject({}),
      r: z.record(z.string(), z.number()),
    }),
    { 's/a': 1, 's/b': 2, 'l/x': 'y', 'r/k': 'not a number' },
  ],
  [
    'long and bigint-free values, secrets inside shown objects',
    z.object({ cfg: z.object({ name: z.number(), auth: z.object({ user: z.string() }) }) }),
    { 'cfg/name': 'n'.repeat(200), 'cfg/auth': { user: 1, password: 'hunter2' } },
  ],
  [
    'a refine with an expected and a transform pipe',
    z.object({
      pool: z
        .object({ min: z.number(), max: z.number() })
        .refine((p) => p.min <= p.max, { message: 'min above max', params: { expected: 'min <= max' } }),
      url: z
        .string()
        .transform((s) => s.length)
        .pipe(z.number().max(3)),
    }),
    { 'pool/min': 5, 'pool/max': 1, url: 'http://x' },
  ],
  [
    'a schema that throws',
    z.object({ a: z.number() }).refine((c) => (c as unknown as { x: { y: number } }).x.y > 0),
    { a: 1 },
  ],
];

describe('validateMerged, for one layer', () => {
  it.each(cases)('words %s exactly as the engine does', (_name, schema, values) => {
    const { engine, layered } = both(schema, values);
    expect(layered).toEqual(engine);
  });

  it('names, in a merge, the key that wins at each path', () => {
    const schema = z.object({
      db: z.object({ host: z.string(), port: z.number() }),
      extra: z.number().optional(),
    });
    const tree = mergeLayers([
      { prefix: 'config/application/', entries: new Map([['config/application/db/port', { value: 'x' }]]) },
      { prefix: PREFIX, entries: new Map([['config/app/db/hots', { value: 'typo' }]]) },
    ]);
    const outcome = validateTree(schema, tree.root, {
      keyOf: (path) => tree.keyOf(path),
      isFolder: (node) => tree.isFolder(node),
      secret: false,
      findUnknownKeys: true,
    });
    expect(outcome).toEqual({
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
          key: 'config/application/db/port',
          path: ['db', 'port'],
          message: 'expected number',
          expected: 'number',
          received: '"x"',
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
});
