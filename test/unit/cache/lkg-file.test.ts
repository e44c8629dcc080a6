import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LkgFile, type LkgFileHooks, type LkgFileTestOptions } from '../../../src/cache/lkg-file.js';
import {
  canonicalJson,
  type LkgSnapshot,
  lkgChecksum,
  type SavedLkgSnapshot,
} from '../../../src/cache/lkg-format.js';
import type { Logger } from '../../../src/logger.js';
import type { LkgInterleavedWriterInput } from '../../fixtures/lkg-interleaved-writer.js';
import type { LkgWriterInput } from '../../fixtures/lkg-writer.js';

const NOW_MS = Date.parse('2025-03-01T12:00:00.000Z');
const SAVED_AT = '2025-03-01T12:00:00.000Z';
const SECRET = 's3cr3t-db-password';
const SECRET_BASE64 = Buffer.from(SECRET).toString('base64');
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WRITER_FIXTURE = fileURLToPath(new URL('../../fixtures/lkg-writer.ts', import.meta.url));
const INTERLEAVED_FIXTURE = fileURLToPath(
  new URL('../../fixtures/lkg-interleaved-writer.ts', import.meta.url),
);
const posixOnly = process.platform === 'win32' ? it.skip : it;

type LogCall = [Record<string, unknown>, string | undefined];

function recordingLogger(): { logger: Logger; warnings: LogCall[] } {
  const warnings: LogCall[] = [];
  return { logger: { warn: (obj, msg) => warnings.push([obj, msg]) }, warnings };
}

function snapshot(key: string, index: number, value: string | null = SECRET_BASE64): LkgSnapshot {
  return { key, index, entries: [{ key: `${key}db/password`, modifyIndex: 7, flags: 0, value }] };
}

function saved(written: LkgSnapshot): SavedLkgSnapshot {
  return { ...written, savedAt: SAVED_AT };
}

/** The snapshot of `key` in the file, through readAll(); undefined when the file is unusable or lacks it. */
async function readKey(file: LkgFile, key: string): Promise<SavedLkgSnapshot | undefined> {
  return (await file.readAll())?.get(key);
}

/** A hook that stops the first rename until `release()`; `paused` resolves when the write reaches it. */
function pauseFirstRename(): {
  hooks: LkgFileHooks;
  paused: Promise<void>;
  release: () => void;
  renames: () => number;
} {
  let renames = 0;
  let onPaused = (): void => {};
  let release = (): void => {};
  const paused = new Promise<void>((resolve) => {
    onPaused = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const hooks: LkgFileHooks = {
    beforeRename: async () => {
      renames += 1;
      if (renames === 1) {
        onPaused();
        await released;
      }
    },
  };
  return { hooks, paused, release, renames: () => renames };
}

describe('LkgFile', () => {
  let folder: string;
  let path: string;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'lkg-file-'));
    path = join(folder, 'cache.json');
  });

  afterEach(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
    await rm(folder, { recursive: true, force: true });
  });

  function open(extra: Omit<LkgFileTestOptions, 'path'> = {}): LkgFile {
    const options: LkgFileTestOptions = { path, now: () => NOW_MS, ...extra };
    return new LkgFile(options);
  }

  it('reads back the snapshot it wrote, stamped with savedAt from the clock', async () => {
    const cache = open();
    const written = snapshot('config/app/', 42);

    await cache.write(written);

    expect(await readKey(cache, 'config/app/')).toEqual(saved(written));
    expect(await readKey(open(), 'config/app/')).toEqual(saved(written));
  });

  it('keeps one snapshot per watched key and replaces only the key written', async () => {
    const cache = open();
    const first = snapshot('config/app/', 1);
    const other = snapshot('flags/', 2, null);
    const second = snapshot('config/app/', 3);

    await cache.write(first);
    await cache.write(other);
    await cache.write(second);

    expect(await cache.readAll()).toEqual(
      new Map([
        ['config/app/', saved(second)],
        ['flags/', saved(other)],
      ]),
    );
  });

  it('keeps the snapshots already in the file when a new instance writes another key', async () => {
    const before = snapshot('config/app/', 1);
    const after = snapshot('flags/', 2);

    await open().write(before);
    await open().write(after);

    expect(await open().readAll()).toEqual(
      new Map([
        ['config/app/', saved(before)],
        ['flags/', saved(after)],
      ]),
    );
  });

  it('verifies the checksum over the canonical payload, so a file with other field order and layout reads', async () => {
    await open().write(snapshot('config/app/', 1));
    const file = JSON.parse(await readFile(path, 'utf8')) as {
      payload: { snapshots: Record<string, object> };
    };
    const reordered = Object.fromEntries(Object.entries(file.payload.snapshots['config/app/']!).reverse());
    await writeFile(
      path,
      JSON.stringify({ ...file, payload: { snapshots: { 'config/app/': reordered } } }, null, 2),
    );
    const { logger, warnings } = recordingLogger();

    expect(await readKey(open({ logger }), 'config/app/')).toEqual(saved(snapshot('config/app/', 1)));
    expect(warnings).toEqual([]);
  });

  it('restores every key Consul allows, including __proto__ and other Object.prototype names', async () => {
    const keys = [
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'a//b',
      'конфиг/ключ 🙂',
      '',
      '/',
    ];
    const written = keys.map((key, i) => snapshot(key, i + 1));
    const cache = open();

    for (const each of written) await cache.write(each);

    const expected = new Map(written.map((each) => [each.key, saved(each)]));
    expect(await open().readAll()).toEqual(expected);
    for (const each of written) expect(await readKey(open(), each.key)).toEqual(saved(each));
    expect(Object.getPrototypeOf((await readKey(open(), '__proto__'))!)).toBe(Object.prototype);
  });

  describe('size cap', () => {
    it('refuses to read a file over the default 64 MiB cap, with one warning, without reading it', async () => {
      await writeFile(path, '');
      // Sparse: 64 MiB + 1 byte of zeros costs no disk; reading it would cost the memory.
      await truncate(path, 64 * 1024 * 1024 + 1);
      const { logger, warnings } = recordingLogger();

      expect(await open({ logger }).readAll()).toBeUndefined();

      expect(warnings).toEqual([
        [
          { path, reason: 'too-large', size: 64 * 1024 * 1024 + 1, maxBytes: 64 * 1024 * 1024 },
          'last-known-good cache not used: the file is larger than maxBytes',
        ],
      ]);
    });

    it('reads a file of exactly maxBytes', async () => {
      await open().write(snapshot('config/app/', 1));
      const { size } = await stat(path);

      expect(await readKey(open({ maxBytes: size }), 'config/app/')).toEqual(
        saved(snapshot('config/app/', 1)),
      );
      expect(await open({ maxBytes: size - 1, logger: recordingLogger().logger }).readAll()).toBe(undefined);
    });

    it('refuses the snapshot that would make the file too large, keeps its saved version, and saves the others', async () => {
      const big = (index: number, bytes: number): LkgSnapshot =>
        snapshot('config/big/', index, Buffer.alloc(bytes, 'x').toString('base64'));
      const cache = open({ maxBytes: 4096 });
      await cache.write(big(1, 1000));

      const results = await Promise.allSettled([
        cache.write(big(2, 5000)),
        cache.write(snapshot('flags/', 3)),
      ]);

      expect(results[1]).toEqual({ status: 'fulfilled', value: undefined });
      expect(results[0].status).toBe('rejected');
      const error = (results[0] as PromiseRejectedResult).reason as Error;
      expect(error).toMatchObject({
        name: 'ValueTooLargeError',
        code: 'CONSUL_VALUE_TOO_LARGE',
        operation: 'cache.write',
        key: 'config/big/',
      });
      expect(error.message).toMatch(
        /^cache\.write config\/big\/: not saved: the cache file would be \d+ bytes, over maxBytes \(4096\); this snapshot is \d+ bytes \(raise maxBytes or watch less\)$/,
      );
      expect(await open().readAll()).toEqual(
        new Map([
          ['config/big/', saved(big(1, 1000))],
          ['flags/', saved(snapshot('flags/', 3))],
        ]),
      );
      expect((await stat(path)).size).toBeLessThanOrEqual(4096);
      expect(await readdir(folder)).toEqual(['cache.json']);
    });

    it.each([0, -1, 1.5, Number.NaN])('throws InvalidArgumentError for maxBytes %s', (maxBytes) => {
      expect(() => open({ maxBytes })).toThrow(
        expect.objectContaining({
          code: 'CONSUL_INVALID_ARGUMENT',
          message: `cache: options.maxBytes must be a positive integer (bytes), got ${maxBytes}`,
        }),
      );
    });
  });

  it('reads a file that starts with a UTF-8 byte order mark', async () => {
    await open().write(snapshot('config/app/', 1));
    await writeFile(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), await readFile(path)]));
    const { logger, warnings } = recordingLogger();

    expect(await open({ logger }).readAll()).toEqual(
      new Map([['config/app/', saved(snapshot('config/app/', 1))]]),
    );
    expect(warnings).toEqual([]);
  });

  posixOnly(
    'creates the temporary file with mode 0600 and renames it over a looser existing file',
    async () => {
      await writeFile(path, 'old content');
      await chmod(path, 0o644);
      const tempModes: number[] = [];
      const cache = open({
        hooks: {
          beforeRename: async ({ tempPath }) => {
            tempModes.push((await stat(tempPath)).mode & 0o777);
          },
        },
      });

      await cache.write(snapshot('config/app/', 1));

      expect(tempModes).toEqual([0o600]);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
    },
  );

  it('writes the version, the checksum of the canonical payload, then the payload', async () => {
    await open().write(snapshot('config/app/', 42));

    const text = await readFile(path, 'utf8');
    const file = JSON.parse(text) as { version: number; checksum: string; payload: unknown };
    expect(Object.keys(file)).toEqual(['version', 'checksum', 'payload']);
    expect(file.version).toBe(1);
    expect(file.checksum).toBe(lkgChecksum(canonicalJson(file.payload)));
    expect(file.payload).toEqual({ snapshots: { 'config/app/': saved(snapshot('config/app/', 42)) } });
    expect(text.endsWith('}\n')).toBe(true);
  });

  describe('reading a file it cannot trust', () => {
    const cases: Array<{
      name: string;
      prepare: (path: string) => Promise<void>;
      warning: Record<string, unknown>;
      message: string;
    }> = [
      {
        name: 'a missing file',
        prepare: async () => {},
        warning: { reason: 'missing' },
        message: 'last-known-good cache not used: the file does not exist',
      },
      {
        name: 'a truncated file',
        prepare: async (path) => {
          await new LkgFile({ path }).write(snapshot('config/app/', 1));
          await truncate(path, Math.floor((await stat(path)).size / 2));
        },
        warning: { reason: 'invalid-json' },
        message: 'last-known-good cache not used: the file is not valid JSON (truncated or corrupted)',
      },
      {
        name: 'garbage',
        prepare: (path) => writeFile(path, Buffer.from([0x00, 0xff, 0x7b, 0x22, 0x6e])),
        warning: { reason: 'invalid-json' },
        message: 'last-known-good cache not used: the file is not valid JSON (truncated or corrupted)',
      },
      {
        name: 'a payload that does not match its checksum',
        prepare: async (path) => {
          await new LkgFile({ path }).write(snapshot('config/app/', 1));
          const text = await readFile(path, 'utf8');
          expect(text).toContain('"modifyIndex":7');
          await writeFile(path, text.replace('"modifyIndex":7', '"modifyIndex":8'));
        },
        warning: { reason: 'checksum-mismatch' },
        message: 'last-known-good cache not used: the checksum does not match the content (corrupted)',
      },
      {
        name: 'another format version',
        prepare: async (path) => {
          await new LkgFile({ path }).write(snapshot('config/app/', 1));
          const text = await readFile(path, 'utf8');
          await writeFile(path, text.replace('{"version":1,', '{"version":2,'));
        },
        warning: { reason: 'unsupported-version' },
        message: 'last-known-good cache not used: the file was not written in format version 1',
      },
      {
        name: 'a payload of the wrong shape under a valid checksum',
        prepare: async (path) => {
          const bad = { snapshots: { 'config/app/': { ...saved(snapshot('config/app/', 1)), index: -1 } } };
          const payload = canonicalJson(bad);
          await writeFile(path, `{"version":1,"checksum":"${lkgChecksum(payload)}","payload":${payload}}`);
        },
        warning: { reason: 'invalid-shape' },
        message: 'last-known-good cache not used: the content does not have the expected shape',
      },
      {
        name: 'a snapshot filed under another key than its own',
        prepare: async (path) => {
          const bad = { snapshots: { 'config/app/': saved(snapshot('config/other/', 1)) } };
          const payload = canonicalJson(bad);
          await writeFile(path, `{"version":1,"checksum":"${lkgChecksum(payload)}","payload":${payload}}`);
        },
        warning: { reason: 'invalid-shape' },
        message: 'last-known-good cache not used: the content does not have the expected shape',
      },
      {
        name: 'a path that cannot be read as a file',
        prepare: (path) => mkdir(path),
        warning: { reason: 'unreadable', code: 'EISDIR' },
        message: 'last-known-good cache not used: the file cannot be read',
      },
    ];

    it.each(cases)(
      'returns undefined with exactly one warning for $name',
      async ({ prepare, warning, message }) => {
        await prepare(path);
        const { logger, warnings } = recordingLogger();

        expect(await open({ logger }).readAll()).toBeUndefined();

        expect(warnings).toEqual([[{ path, ...warning }, message]]);
        expect(JSON.stringify(warnings)).not.toContain(SECRET_BASE64);
      },
    );

    it('returns undefined with exactly one warning for a file cut off inside its envelope', async () => {
      await writeFile(path, '{"version":1,"checksum":');
      const { logger, warnings } = recordingLogger();

      expect(await open({ logger }).readAll()).toBeUndefined();

      expect(warnings).toEqual([
        [
          { path, reason: 'invalid-json' },
          'last-known-good cache not used: the file is not valid JSON (truncated or corrupted)',
        ],
      ]);
    });

    it('replaces a corrupted file on the next write, with one warning saying so', async () => {
      await writeFile(path, 'garbage');
      const { logger, warnings } = recordingLogger();
      const cache = open({ logger });

      await cache.write(snapshot('config/app/', 5));

      expect(warnings).toEqual([
        [
          { path, reason: 'invalid-json' },
          'last-known-good cache replaced: the file is not valid JSON (truncated or corrupted)',
        ],
      ]);
      expect(await open().readAll()).toEqual(new Map([['config/app/', saved(snapshot('config/app/', 5))]]));
    });
  });

  it('rejects a snapshot of the wrong shape with InvalidArgumentError and writes nothing', async () => {
    const cache = open();
    const bad = {
      key: 'config/app/',
      index: -1,
      entries: [{ key: 'config/app/x', modifyIndex: 1, flags: 0 }],
    };

    const error = await cache.write(bad as unknown as LkgSnapshot).catch((caught: unknown) => caught);

    expect(error).toMatchObject({
      name: 'InvalidArgumentError',
      code: 'CONSUL_INVALID_ARGUMENT',
      operation: 'cache.write',
      key: 'config/app/',
    });
    expect((error as Error).message).toBe(
      'cache.write config/app/: invalid snapshot: index: Too small: expected number to be >=0; ' +
        'entries.0.value: Invalid input: expected string, received undefined',
    );
    expect(await readdir(folder)).toEqual([]);
  });

  it('supersedes a queued write with a later write of the same key, and resolves both', async () => {
    const pause = pauseFirstRename();
    const cache = open({ hooks: pause.hooks });
    const first = cache.write(snapshot('config/app/', 1));
    await pause.paused;

    const queued = cache.write(snapshot('config/app/', 2));
    const latest = cache.write(snapshot('config/app/', 3));
    pause.release();
    await Promise.all([first, queued, latest]);

    expect(pause.renames()).toBe(2);
    expect(await cache.readAll()).toEqual(new Map([['config/app/', saved(snapshot('config/app/', 3))]]));
  });

  it('ends with the last snapshot when many writes are made at once, in one file write', async () => {
    let renames = 0;
    const cache = open({
      hooks: {
        beforeRename: () => {
          renames += 1;
        },
      },
    });

    await Promise.all(Array.from({ length: 10 }, (_, i) => cache.write(snapshot('config/app/', i + 1))));

    expect(renames).toBe(1);
    expect(await readKey(cache, 'config/app/')).toEqual(saved(snapshot('config/app/', 10)));
  });

  it('lands every key when writes of several keys queue behind one in progress', async () => {
    const pause = pauseFirstRename();
    const cache = open({ hooks: pause.hooks });
    const first = cache.write(snapshot('config/app/', 1));
    await pause.paused;

    const others = [cache.write(snapshot('flags/', 2)), cache.write(snapshot('config/app/', 3))];
    pause.release();
    await Promise.all([first, ...others]);

    expect(pause.renames()).toBe(2);
    expect(await cache.readAll()).toEqual(
      new Map([
        ['config/app/', saved(snapshot('config/app/', 3))],
        ['flags/', saved(snapshot('flags/', 2))],
      ]),
    );
  });

  it('waits in close() for queued writes, then refuses writes with ClosedError', async () => {
    const pause = pauseFirstRename();
    const cache = open({ hooks: pause.hooks });
    const written = cache.write(snapshot('config/app/', 1));
    await pause.paused;
    const queued = cache.write(snapshot('config/app/', 2));

    const closing = cache.close();
    expect(cache.close()).toBe(closing);
    expect(cache[Symbol.asyncDispose]()).toBe(closing);
    pause.release();
    await closing;

    await expect(written).resolves.toBeUndefined();
    await expect(queued).resolves.toBeUndefined();
    expect(await readKey(cache, 'config/app/')).toEqual(saved(snapshot('config/app/', 2)));
    await expect(cache.write(snapshot('config/app/', 3))).rejects.toMatchObject({
      name: 'ClosedError',
      code: 'CONSUL_CLOSED',
      operation: 'cache.write',
      key: 'config/app/',
      message: 'cache.write config/app/: the cache file was closed',
    });
  });

  it('rejects with the file system error, removes its temporary file, and retries the snapshot on the next write', async () => {
    await mkdir(path);
    const cache = open();

    await expect(cache.write(snapshot('config/app/', 1))).rejects.toMatchObject({ code: 'EISDIR' });
    expect(await readdir(folder)).toEqual(['cache.json']);

    await rm(path, { recursive: true });
    await cache.write(snapshot('flags/', 2));
    expect(await cache.readAll()).toEqual(
      new Map([
        ['config/app/', saved(snapshot('config/app/', 1))],
        ['flags/', saved(snapshot('flags/', 2))],
      ]),
    );
  });

  it('ignores leftover temporary files when reading', async () => {
    await open().write(snapshot('config/app/', 1));
    await writeFile(join(folder, `.cache.json.${process.pid}.0123456789ab.tmp`), 'half a fi');

    expect(await readKey(open(), 'config/app/')).toEqual(saved(snapshot('config/app/', 1)));
  });

  it('removes temporary files older than a minute on its first write and keeps newer ones', async () => {
    const stale = `.cache.json.4242.aaaaaaaaaaaa.tmp`;
    // Written by a live process (this one), so only its age could make it a leftover.
    const fresh = `.cache.json.${process.pid}.bbbbbbbbbbbb.tmp`;
    const unrelated = '.other.json.4242.cccccccccccc.tmp';
    for (const name of [stale, fresh, unrelated]) await writeFile(join(folder, name), 'leftover');
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    await utimes(join(folder, stale), twoMinutesAgo, twoMinutesAgo);
    await utimes(join(folder, unrelated), twoMinutesAgo, twoMinutesAgo);

    await new LkgFile({ path }).write(snapshot('config/app/', 1));

    expect((await readdir(folder)).sort()).toEqual([fresh, unrelated, 'cache.json'].sort());
  });

  /** Runs test/fixtures/lkg-writer.ts, lets it write `old`, and SIGKILLs it just before its next rename. */
  async function killWriterBeforeRename(old: LkgSnapshot): Promise<{ tempPath: string; pid: number }> {
    const input: LkgWriterInput = { path, old, bigEntryCount: 1000, valueBytes: 3000, nowMs: NOW_MS };
    const writer = spawn(process.execPath, ['--import', 'tsx', WRITER_FIXTURE, JSON.stringify(input)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = writer;
    let stderr = '';
    writer.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const exited = once(writer, 'exit');
    const lines: string[] = [];
    let tempPath = '';
    for await (const line of createInterface({ input: writer.stdout! })) {
      lines.push(line);
      if (line.startsWith('about-to-rename ')) {
        tempPath = line.slice('about-to-rename '.length);
        break;
      }
    }
    expect({ lines, stderr }).toEqual({ lines: ['old-written', `about-to-rename ${tempPath}`], stderr: '' });

    writer.kill('SIGKILL');
    expect(await exited).toEqual([null, 'SIGKILL']);
    return { tempPath, pid: writer.pid! };
  }

  it('leaves the previous file valid when the writer is killed between writing and renaming', async () => {
    const old = snapshot('config/app/', 41);
    const { tempPath } = await killWriterBeforeRename(old);

    const { logger, warnings } = recordingLogger();
    expect(await readKey(new LkgFile({ path, logger }), 'config/app/')).toEqual(saved(old));
    expect(warnings).toEqual([]);
    // The big snapshot was complete on disk: only the missing rename kept it out of the cache file.
    const interrupted = await readKey(new LkgFile({ path: tempPath }), 'config/app/');
    expect({ index: interrupted?.index, entries: interrupted?.entries.length }).toEqual({
      index: 42,
      entries: 1000,
    });

    // The next writer, a minute later, removes the leftover.
    await new LkgFile({ path, now: () => Date.now() + 61_000 }).write(snapshot('flags/', 1));
    expect(await readdir(folder)).toEqual(['cache.json']);
  });

  it("removes the temporary file of a killed writer on the next write at once, and keeps a live writer's", async () => {
    const { tempPath, pid } = await killWriterBeforeRename(snapshot('config/app/', 41));
    const live = `.cache.json.${process.pid}.dddddddddddd.tmp`;
    const otherPath = `.other.json.${pid}.eeeeeeeeeeee.tmp`;
    await writeFile(join(folder, live), 'a write in progress');
    await writeFile(join(folder, otherPath), 'not ours');
    // The killed writer also held the writers' lock: its pid is gone, so the next writer takes it over.
    expect((await readdir(folder)).sort()).toEqual(
      ['.cache.json.lock', 'cache.json', basename(tempPath), live, otherPath].sort(),
    );

    const cache = new LkgFile({ path });
    await cache.write(snapshot('flags/', 1));
    expect((await readdir(folder)).sort()).toEqual(['cache.json', live, otherPath].sort());

    // A writer sharing the file killed later is cleaned up by this writer's next write, not only its first.
    const lateLeftover = `.cache.json.${pid}.ffffffffffff.tmp`;
    await writeFile(join(folder, lateLeftover), 'half a fi');
    await cache.write(snapshot('flags/', 2));
    expect((await readdir(folder)).sort()).toEqual(['cache.json', live, otherPath].sort());
  });

  describe('sharing one file between processes', () => {
    it("re-reads the file under the lock, so a second writer keeps the first one's keys", async () => {
      const pause = pauseFirstRename();
      const first = open({ hooks: pause.hooks });
      let busy = 0;
      let onBusy = (): void => {};
      const sawBusy = new Promise<void>((resolve) => {
        onBusy = resolve;
      });
      const second = open({
        hooks: {
          onLockBusy: () => {
            busy += 1;
            onBusy();
          },
        },
      });
      await second.write(snapshot('flags/', 1));
      const held = first.write(snapshot('config/app/', 1));
      await pause.paused;

      const waiting = second.write(snapshot('flags/', 2));
      await sawBusy;
      expect(await open().readAll()).toEqual(new Map([['flags/', saved(snapshot('flags/', 1))]]));
      pause.release();
      await Promise.all([held, waiting]);

      expect(busy).toBeGreaterThan(0);
      expect(await open().readAll()).toEqual(
        new Map([
          ['config/app/', saved(snapshot('config/app/', 1))],
          ['flags/', saved(snapshot('flags/', 2))],
        ]),
      );
      expect((await readdir(folder)).sort()).toEqual(['cache.json']);
    });

    it('never lets a writer replace a newer snapshot another writer saved, unless its own index went backwards', async () => {
      const behind = open();
      const ahead = open();
      await behind.write(snapshot('config/app/', 10));
      await ahead.write(snapshot('config/app/', 20));

      await behind.write(snapshot('config/app/', 15));
      expect(await readKey(open(), 'config/app/')).toEqual(saved(snapshot('config/app/', 20)));

      // 3 is below the 10 this writer last saved: Consul's index went backwards (restore, rebuilt cluster).
      await behind.write(snapshot('config/app/', 3));
      expect(await readKey(open(), 'config/app/')).toEqual(saved(snapshot('config/app/', 3)));
    });

    it('lets a restarted writer replace the snapshot its previous run saved with a lower index', async () => {
      await open().write(snapshot('config/app/', 1000));

      await open().write(snapshot('config/app/', 5));

      expect(await readKey(open(), 'config/app/')).toEqual(saved(snapshot('config/app/', 5)));
    });

    it('takes over a lock whose owner died, and one older than 30 s whose owner lives', async () => {
      const lockPath = join(folder, '.cache.json.lock');
      const { tempPath, pid } = await killWriterBeforeRename(snapshot('config/app/', 1));
      await rm(tempPath);
      expect(JSON.parse(await readFile(lockPath, 'utf8'))).toMatchObject({ pid });

      await open().write(snapshot('config/app/', 2));
      expect(await readdir(folder)).toEqual(['cache.json']);

      await writeFile(lockPath, JSON.stringify({ pid: process.pid, host: hostname(), token: 'hung' }));
      const lockedAt = (await stat(lockPath)).mtimeMs;
      let busy = 0;
      await open({ now: () => lockedAt + 30_001, hooks: { onLockBusy: () => (busy += 1) } }).write(
        snapshot('config/app/', 3),
      );

      expect(busy).toBe(0);
      expect(await readdir(folder)).toEqual(['cache.json']);
      expect(await readKey(open(), 'config/app/')).toEqual({
        ...snapshot('config/app/', 3),
        savedAt: new Date(lockedAt + 30_001).toISOString(),
      });
    });

    it("ends with each of two writer processes' last snapshot of its keys when they write interleaved", async () => {
      const count = 60;
      const writers = [
        { ownKey: 'one/', sharedBase: 0 },
        { ownKey: 'two/', sharedBase: 5 },
      ].map(({ ownKey, sharedBase }) => {
        const input: LkgInterleavedWriterInput = {
          path,
          ownKey,
          sharedKey: 'shared/',
          sharedBase,
          count,
          nowMs: NOW_MS,
        };
        const writer = spawn(
          process.execPath,
          ['--import', 'tsx', INTERLEAVED_FIXTURE, JSON.stringify(input)],
          { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
        );
        const lines = createInterface({ input: writer.stdout! })[Symbol.asyncIterator]();
        return { writer, lines, exited: once(writer, 'exit') };
      });
      try {
        for (const { lines } of writers) expect((await lines.next()).value).toBe('ready');
        for (const { writer } of writers) writer.stdin!.write('go\n');
        for (const { lines } of writers) expect((await lines.next()).value).toBe('done');
        for (const { exited } of writers) expect(await exited).toEqual([0, null]);
      } finally {
        for (const { writer } of writers) if (writer.exitCode === null) writer.kill('SIGKILL');
      }

      const last = (key: string, index: number, owner: string): SavedLkgSnapshot => ({
        key,
        index,
        savedAt: SAVED_AT,
        entries: [
          {
            key: `${key}value`,
            modifyIndex: index,
            flags: 0,
            value: Buffer.from(`${owner} turn ${count}`).toString('base64'),
          },
        ],
      });
      expect(await open().readAll()).toEqual(
        new Map([
          ['one/', last('one/', count, 'one/')],
          ['two/', last('two/', count, 'two/')],
          ['shared/', last('shared/', 5 + 10 * count, 'two/')],
        ]),
      );
      expect((await readdir(folder)).sort()).toEqual(['cache.json']);
    });
  });
});
