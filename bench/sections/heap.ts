/**
 * Section 5: memory retained for a 10,000-key prefix, next to the size of the response body. Each holder
 * runs in a fresh child process with `--expose-gc` (heap + external after a full GC, once ready, minus the
 * same before), on a prefix of its own so the holders can run side by side; then each makes one-key changes
 * and is measured again, which shows anything that accumulates per answer. The dev server runs here.
 * @module
 */
import { once } from 'node:events';
import { request } from 'undici';
import { startDevServer } from '../../src/devserver/server.js';
import type { HeapChildConfig, HeapChildResult, HeapContender } from '../child/heap-child.js';
import { firstMessage, forkChild } from '../lib/children.js';
import { CONSUL_NPM, HOTRELOAD } from '../lib/contenders.js';
import { benchKey, benchSeed } from '../lib/keys.js';
import {
  type Check,
  formatBytes,
  formatRatio,
  type Scale,
  type SectionResult,
  type Table,
} from '../lib/report.js';

const SIZES = {
  full: { keys: 10_000, changes: 50 },
  smoke: { keys: 100, changes: 3 },
} as const;

const TARGET_VS_BODY = 4;

const HOLDERS: ReadonlyArray<{ id: HeapContender; name: string; prefix: string }> = [
  { id: 'json-parse', name: 'JSON.parse of the body, kept (reference)', prefix: 'heap0/' },
  { id: 'consul-npm', name: `${CONSUL_NPM} (entries + Map kept)`, prefix: 'heap1/' },
  { id: 'consul-hotreload', name: HOTRELOAD, prefix: 'heap2/' },
  { id: 'consul-hotreload-nocache', name: `${HOTRELOAD} (decodeCacheSize: 0)`, prefix: 'heap3/' },
];

async function measure(config: HeapChildConfig): Promise<HeapChildResult> {
  const child = forkChild('heap-child', [JSON.stringify(config)]);
  const exited = once(child, 'exit');
  const result = await firstMessage<HeapChildResult>(child, `heap child (${config.contender})`);
  await exited;
  return result;
}

/** Runs section 5. */
export async function runHeap(scale: Scale): Promise<SectionResult> {
  const sizes = SIZES[scale];
  // The server may live here: what is measured is each child's own memory.
  const seed = Object.assign({}, ...HOLDERS.map((holder) => benchSeed(holder.prefix, sizes.keys)));
  const server = await startDevServer({ seed });
  const results = new Map<HeapContender, HeapChildResult>();
  let bodyBytes = 0;
  try {
    // Every prefix has the same length, so every body has the same size.
    const response = await request(`${server.address}/v1/kv/${HOLDERS[0]!.prefix}?recurse`);
    bodyBytes = (await response.body.arrayBuffer()).byteLength;
    const measured = await Promise.all(
      HOLDERS.map((holder) =>
        measure({
          address: server.address,
          prefix: holder.prefix,
          keys: sizes.keys,
          changes: sizes.changes,
          // One key of the prefix, watched by a throwaway instance: nothing of it is reused afterwards.
          warmupKey: benchKey(holder.prefix, 0),
          contender: holder.id,
        }),
      ),
    );
    HOLDERS.forEach((holder, i) => {
      const result = measured[i]!;
      if (result.keys !== sizes.keys) {
        throw new Error(`bench: ${holder.id} saw ${result.keys} keys, expected ${sizes.keys}`);
      }
      results.set(holder.id, result);
    });
  } finally {
    await server.close();
  }
  const total = (id: HeapContender) => {
    const result = results.get(id)!;
    return result.heapBytes + result.externalBytes;
  };
  const growth = (id: HeapContender) => {
    const after = results.get(id)!.afterChangesBytes;
    return after === undefined ? undefined : (after - total(id)) / sizes.changes;
  };
  const table: Table = {
    title: `Retained memory for a ${sizes.keys.toLocaleString('en-US')}-key prefix; response body ${formatBytes(bodyBytes)}`,
    columns: [
      'holder',
      'heap',
      'external',
      'total',
      'per key',
      'x body',
      'vs consul npm',
      `growth per change (${sizes.changes} changes)`,
    ],
    rows: HOLDERS.map(({ id, name }) => {
      const result = results.get(id)!;
      const perChange = growth(id);
      return [
        name,
        formatBytes(result.heapBytes),
        formatBytes(result.externalBytes),
        formatBytes(total(id)),
        formatBytes(total(id) / sizes.keys),
        formatRatio(total(id), bodyBytes),
        formatRatio(total(id), total('consul-npm')),
        perChange === undefined ? 'n/a' : formatBytes(perChange),
      ];
    }),
  };
  const ours = total('consul-hotreload');
  const checks: Check[] = [
    {
      name: 'retained memory vs response body',
      target: `<= ${TARGET_VS_BODY}x`,
      measured: `${formatRatio(ours, bodyBytes)} (${formatBytes(ours)} for a ${formatBytes(bodyBytes)} body)`,
      pass: ours <= TARGET_VS_BODY * bodyBytes,
    },
  ];
  return {
    id: 'heap',
    title: 'Retained memory for a large prefix',
    tables: [table],
    checks,
    notes: [
      'each holder in a fresh `node --expose-gc` child, on a prefix of its own, all at once; heapUsed + external after two full GCs, ready minus before',
      'growth per change: measured again after the one-key changes (each PUT from the child, awaited until its app sees it), minus the ready figure, divided by the changes',
      'values are decoded as text by both libraries (consul-hotreload format "text"; the consul package decodes every value to a string)',
      'consul-hotreload keeps the snapshot for diffing (KVEntry objects), the decoded values, the tree `current`, `entries` and its decode cache',
    ],
    values: {
      bodyBytes,
      hotreloadBytes: ours,
      hotreloadNoCacheBytes: total('consul-hotreload-nocache'),
      consulNpmBytes: total('consul-npm'),
      jsonParseBytes: total('json-parse'),
      ratioVsBody: ours / bodyBytes,
      hotreloadGrowthPerChangeBytes: growth('consul-hotreload')!,
      consulNpmGrowthPerChangeBytes: growth('consul-npm')!,
    },
  };
}
