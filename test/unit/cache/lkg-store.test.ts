import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CacheableEntry, LkgStore } from '../../../src/cache/lkg-store.js';
import { type Logger, resolveLogger } from '../../../src/logger.js';

type LogCall = [Record<string, unknown>, string | undefined];

function recordingLogger(): { logger: Required<Logger>; warnings: LogCall[] } {
  const warnings: LogCall[] = [];
  return { logger: resolveLogger({ warn: (obj, msg) => warnings.push([obj, msg]) }), warnings };
}

function entry(key: string, value: string, modifyIndex = 7): CacheableEntry {
  return { key, modifyIndex, flags: 0, rawValue: Buffer.from(value).toString('base64') };
}

describe('LkgStore', () => {
  let folder: string;
  let path: string;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'lkg-store-'));
    path = join(folder, 'cache.json');
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('restores watched keys named like Object.prototype members, as KV entries', async () => {
    const keys = ['__proto__', 'constructor', 'toString', 'a//b', 'ключ/🙂'];
    const writer = new LkgStore(path, recordingLogger().logger);
    for (const [i, key] of keys.entries())
      writer.save(key, i + 1, () => [entry(`${key}/x`, `value of ${key}`)]);
    await writer.close();

    const { logger, warnings } = recordingLogger();
    const reader = new LkgStore(path, logger);
    const restored = await Promise.all(keys.map((key) => reader.load(key)));

    expect(
      restored.map((snapshot) => ({
        index: snapshot?.index,
        entries: snapshot?.entries.map((kv) => [kv.key, kv.modifyIndex, kv.value?.toString('utf8')]),
      })),
    ).toEqual(keys.map((key, i) => ({ index: i + 1, entries: [[`${key}/x`, 7, `value of ${key}`]] })));
    expect(warnings).toEqual([]);
  });

  it('logs one warning naming the key when its snapshot would make the file exceed maxBytes', async () => {
    const { logger, warnings } = recordingLogger();
    const store = new LkgStore(path, logger, { maxBytes: 2048 });
    store.save('config/small/', 1, () => [entry('config/small/a', 'small')]);
    store.save('config/big/', 2, () => [entry('config/big/a', 'x'.repeat(4000))]);
    await store.close();

    expect(warnings).toHaveLength(1);
    const [fields, message] = warnings[0]!;
    expect(fields).toMatchObject({ path, key: 'config/big/' });
    expect((fields.err as { code?: string }).code).toBe('CONSUL_VALUE_TOO_LARGE');
    expect(message).toMatch(
      /^last-known-good cache: could not save config\/big\/: cache\.write config\/big\/: not saved: the cache file would be \d+ bytes, over maxBytes \(2048\)/,
    );
    const onDisk = JSON.parse(await readFile(path, 'utf8')) as { payload: { snapshots: object } };
    expect(Object.keys(onDisk.payload.snapshots)).toEqual(['config/small/']);
  });
});
