/**
 * Flags: a view over the real Watcher, fed by a scripted Consul on an undici MockAgent (no sockets). Values
 * are plain text in Consul.
 */
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { ConfigValidationError, InvalidArgumentError } from '../../../src/errors.js';
import { createFlag, type Flag, parseFlagText } from '../../../src/flags/flag.js';
import type { Logger } from '../../../src/logger.js';
import { Watcher } from '../../../src/watch/watcher.js';
import { recordingLogger } from '../../helpers/logger.js';
import { ADDRESS, MockConsul, type ScriptState, scriptKv } from '../watch/mock-consul.js';

let consul: MockConsul;
let watcher: Watcher | undefined;
const flags: Array<Flag<unknown>> = [];

beforeEach(() => {
  consul = new MockConsul();
});

afterEach(async () => {
  for (const flag of flags.splice(0)) await flag.close();
  await watcher?.close();
  watcher = undefined;
  await consul.close();
});

/** The Watcher of the test, on the scripted Consul: no pacing, a 0.5 ms retry. */
function sharedWatcher(logger?: Logger): Watcher {
  watcher ??= new Watcher({
    address: ADDRESS,
    dispatcher: consul.agent,
    env: {},
    minInterval: 0,
    backoff: { min: 1, max: 1 },
    random: () => 0.5,
    ...(logger === undefined ? {} : { logger }),
  });
  return watcher;
}

function track<T>(flag: Flag<T>): Flag<T> {
  flags.push(flag as Flag<unknown>);
  return flag;
}

/** Scripts `key` through `states` (`null`: missing) and waits for the flag's first value. */
async function scripted<T>(
  key: string,
  states: readonly ScriptState[],
  make: (watcher: Watcher) => Flag<T>,
): Promise<{ flag: Flag<T>; events: unknown[][]; script: ReturnType<typeof scriptKv> }> {
  const script = scriptKv(consul, key, states);
  const flag = track(make(sharedWatcher()));
  const events = record(flag);
  await flag.ready;
  await script.ready();
  return { flag, events, script };
}

/** Records every event of a flag, in order. */
function record<T>(flag: Flag<T>): unknown[][] {
  const events: unknown[][] = [];
  flag.on('change', (event) => events.push(['change', event]));
  flag.on('invalid', (error) => events.push(['invalid', error.issues]));
  flag.on('error', (error) => events.push(['error', error.code]));
  return events;
}

describe('parseFlagText', () => {
  const ok = (value: unknown) => ({ ok: true, value });

  it('accepts true and false in any letter case with surrounding whitespace, and nothing else', () => {
    expect(
      ['true', 'TRUE', 'True', ' false\n', 'FALSE'].map((text) => parseFlagText('boolean', text)),
    ).toEqual([ok(true), ok(true), ok(true), ok(false), ok(false)]);
    for (const text of ['1', '0', 'yes', 'on', 'ture', 't', '"true"', 'true false']) {
      expect(parseFlagText('boolean', text)).toEqual({ ok: false, message: 'expected true or false' });
    }
  });

  it('accepts decimal numbers only', () => {
    expect(
      ['42', '-1.5', '1e3', ' 7 \n', '.5', '+3', '0', '2.'].map((text) => parseFlagText('number', text)),
    ).toEqual([ok(42), ok(-1.5), ok(1000), ok(7), ok(0.5), ok(3), ok(0), ok(2)]);
    for (const text of [
      '0x10',
      '1_000',
      '12px',
      'NaN',
      'Infinity',
      '-Infinity',
      '1e999',
      ' ',
      '1,5',
      '0b1',
    ]) {
      expect(parseFlagText('number', text)).toEqual({ ok: false, message: 'expected a decimal number' });
    }
  });

  it('keeps string values exactly as stored', () => {
    expect(parseFlagText('string', ' blue\n')).toEqual(ok(' blue\n'));
  });

  it('accepts JSON objects and arrays for object flags', () => {
    expect(parseFlagText('object', '{"rollout": 10}')).toEqual(ok({ rollout: 10 }));
    expect(parseFlagText('object', '[1, 2]')).toEqual(ok([1, 2]));
    for (const text of ['null', '3', '"s"', 'true']) {
      expect(parseFlagText('object', text)).toEqual({
        ok: false,
        message: 'expected a JSON object or array',
      });
    }
    expect(parseFlagText('object', '{bad')).toEqual({
      ok: false,
      message: expect.stringMatching(/^not valid JSON \(.+\); expected a JSON object or array$/),
    });
  });
});

describe('createFlag', () => {
  it('infers the widened type of the default', () => {
    // Types only: never called, so nothing is watched.
    const inferred = (w: Watcher) => {
      expectTypeOf(createFlag(w, 'f/a', { type: 'boolean', default: false }).value).toEqualTypeOf<boolean>();
      expectTypeOf(createFlag(w, 'f/b', { type: 'string', default: 'blue' }).value).toEqualTypeOf<string>();
      expectTypeOf(createFlag(w, 'f/c', { type: 'number', default: 5 }).value).toEqualTypeOf<number>();
      expectTypeOf(createFlag(w, 'f/d', { type: 'object', default: { rollout: 0 } }).value).toEqualTypeOf<{
        rollout: number;
      }>();
    };
    expectTypeOf(inferred).toBeFunction();
    const w = sharedWatcher();
    // @ts-expect-error the type must match the default
    expect(() => createFlag(w, 'f/e', { type: 'number', default: 'x' })).toThrow(InvalidArgumentError);
    expect(w.stats().queries).toEqual([]);
  });

  it('watches the key as text and holds the default until Consul answers', async () => {
    const script = scriptKv(consul, 'flags/new-checkout', ['TRUE']);
    const flag = track(
      createFlag(sharedWatcher(), 'flags/new-checkout', { type: 'boolean', default: false }),
    );
    const events = record(flag);
    expect([flag.value, flag.reason]).toEqual([false, 'pending']);

    await flag.ready;
    await script.ready();
    // `TRUE` is not JSON: the key was read as text.
    expect([flag.value, flag.reason]).toEqual([true, 'stored']);
    expect(events).toEqual([['change', { value: true, previous: false }]]);
    expect(consul.requests()).toEqual([
      '/v1/kv/flags/new-checkout',
      '/v1/kv/flags/new-checkout?index=5&wait=300000ms',
    ]);
  });

  it('serves the default, without an invalid event, while the key is missing or empty', async () => {
    const { flag, events, script } = await scripted('flags/limit', [null, '250', '', null], (w) =>
      createFlag(w, 'flags/limit', { type: 'number', default: 100 }),
    );
    expect([flag.value, flag.reason]).toEqual([100, 'missing']);

    while (script.left > 0) await script.next();
    expect([flag.value, flag.reason]).toEqual([100, 'missing']);
    expect(events).toEqual([
      ['change', { value: 250, previous: 100 }],
      ['change', { value: 100, previous: 250 }],
    ]);
  });

  it('falls back to the default and emits invalid naming the key when the value does not parse', async () => {
    const { calls, logger } = recordingLogger();
    let error: ConfigValidationError | undefined;
    const { flag, events, script } = await scripted('flags/new-checkout', ['true', 'ture', 'TRUE'], (w) => {
      const made = createFlag(w, 'flags/new-checkout', { type: 'boolean', default: false, logger });
      made.on('invalid', (e) => {
        error = e;
      });
      return made;
    });

    await script.next();
    expect([flag.value, flag.reason]).toEqual([false, 'invalid']);
    await script.next();
    expect([flag.value, flag.reason]).toEqual([true, 'stored']);

    const issue = {
      key: 'flags/new-checkout',
      path: [],
      message: 'expected true or false',
      expected: 'true or false',
      received: '"ture"',
    };
    expect(events).toEqual([
      ['change', { value: true, previous: false }],
      ['change', { value: false, previous: true }],
      ['invalid', [issue]],
      ['change', { value: true, previous: false }],
    ]);
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect(error?.code).toBe('CONSUL_CONFIG_VALIDATION');
    expect(error?.key).toBe('flags/new-checkout');
    expect(error?.message).toBe(
      'invalid config under flags/new-checkout: 1 problem; the last good value keeps serving\n' +
        '  - flags/new-checkout: expected true or false (found "ture")',
    );
    expect(calls).toEqual([['warn', { key: 'flags/new-checkout', issues: 1 }, error?.message]]);
  });

  it('reports the key, what was expected and what was found for a value that does not parse', async () => {
    const { flag, events } = await scripted('flags/limit', ['12px'], (w) =>
      createFlag(w, 'flags/limit', { type: 'number', default: 100 }),
    );
    // The first value was refused: `ready` resolves all the same, with the default.
    expect([flag.value, flag.reason]).toEqual([100, 'invalid']);
    expect(events).toEqual([
      [
        'invalid',
        [
          {
            key: 'flags/limit',
            path: [],
            message: 'expected a decimal number',
            expected: 'a decimal number',
            received: '"12px"',
          },
        ],
      ],
    ]);
  });

  it('redacts the value of a secret-looking key in the invalid event and the log', async () => {
    const { calls, logger } = recordingLogger();
    const issues: unknown[] = [];
    await scripted('flags/rotate-api-key', ['sk_live_abc123'], (w) => {
      const made = createFlag(w, 'flags/rotate-api-key', { type: 'boolean', default: false, logger });
      made.on('invalid', (error) => issues.push(...error.issues));
      return made;
    });
    expect(issues).toEqual([
      {
        key: 'flags/rotate-api-key',
        path: [],
        message: 'expected true or false',
        expected: 'true or false',
        received: '[redacted]',
      },
    ]);
    expect(JSON.stringify(calls)).not.toContain('sk_live_abc123');
  });

  it('applies the schema to the parsed value and reports its issues with their paths', async () => {
    const schema = z.object({ rollout: z.number().min(0).max(100), variant: z.enum(['a', 'b']) });
    const { flag, events } = await scripted('flags/search', ['{"rollout": 150, "variant": "c"}'], (w) =>
      createFlag(w, 'flags/search', { type: 'object', default: { rollout: 0, variant: 'a' }, schema }),
    );
    expect(flag.value).toEqual({ rollout: 0, variant: 'a' });
    expect(events).toEqual([
      [
        'invalid',
        [
          {
            key: 'flags/search',
            path: ['rollout'],
            message: 'Too big: expected number to be <=100',
            expected: 'number <= 100',
            received: '150',
          },
          {
            key: 'flags/search',
            path: ['variant'],
            message: 'Invalid option: expected one of "a"|"b"',
            expected: '"a" | "b"',
            received: '"c"',
          },
        ],
      ],
    ]);
  });

  it('emits change only when an object value really changes', async () => {
    const { flag, events, script } = await scripted(
      'flags/search',
      ['{"rollout": 10}', '{ "rollout" : 10 }\n', '{"rollout": 20}'],
      (w) => createFlag(w, 'flags/search', { type: 'object', default: { rollout: 0 } }),
    );
    const first = flag.value;
    await script.next();
    expect(flag.value).toBe(first);
    await script.next();
    expect(events).toEqual([
      ['change', { value: { rollout: 10 }, previous: { rollout: 0 } }],
      ['change', { value: { rollout: 20 }, previous: { rollout: 10 } }],
    ]);
  });

  it('refuses bad arguments at the call', () => {
    const w = sharedWatcher();
    const attempt = (key: string, options: unknown) => () =>
      createFlag(w, key, options as Parameters<typeof createFlag>[2]);
    expect(attempt('', { type: 'boolean', default: false })).toThrow(
      'flag: key must be a non-empty Consul key without a leading or trailing \'/\', got ""',
    );
    expect(attempt('flags/', { type: 'boolean', default: false })).toThrow(InvalidArgumentError);
    expect(attempt('flags/x', { type: 'bool', default: false })).toThrow(
      "flag flags/x: type must be 'boolean', 'string', 'number' or 'object', got bool",
    );
    expect(attempt('flags/x', { type: 'boolean', default: 'false' })).toThrow(
      'flag flags/x: default must be true or false for a boolean flag, got "false"',
    );
    expect(attempt('flags/x', { type: 'number', default: Number.NaN })).toThrow(InvalidArgumentError);
    expect(attempt('flags/x', { type: 'object', default: null })).toThrow(InvalidArgumentError);
    expect(attempt('flags/x', { type: 'number', default: -1, schema: z.number().min(0) })).toThrow(
      "flag flags/x: default -1 does not pass the flag's schema",
    );
    expect(w.stats()).toMatchObject({ queries: [], subscriptions: 0 });
  });

  it('keeps the default and resolves ready when the first read fails, then applies a later value', async () => {
    const { calls, logger } = recordingLogger();
    // Refused (403): `ready` of the subscription rejects at once, and the watch keeps trying.
    const script = scriptKv(consul, 'flags/a', [{ status: 403, body: 'Permission denied' }, 'green']);
    const flag = track(createFlag(sharedWatcher(), 'flags/a', { type: 'string', default: 'blue', logger }));
    const events = record(flag);
    await flag.ready;
    expect([flag.value, flag.reason]).toEqual(['blue', 'pending']);
    expect(calls).toEqual([
      [
        'warn',
        { key: 'flags/a' },
        'flag flags/a: serving the default until Consul answers (kv.get flags/a: 403 Permission denied (the token needs key:read on this key))',
      ],
    ]);
    // The watch kept retrying: its first value arrives as a change.
    await script.next();
    expect([flag.value, flag.reason]).toEqual(['green', 'stored']);
    expect(events).toEqual([
      ['error', 'CONSUL_ACL_DENIED'],
      ['change', { value: 'green', previous: 'blue' }],
    ]);
    expect(consul.requests()).toEqual([
      '/v1/kv/flags/a',
      '/v1/kv/flags/a',
      '/v1/kv/flags/a?index=6&wait=300000ms',
    ]);
  });

  it('passes on watch errors without logging them again (the watcher logs them)', async () => {
    const { calls, logger } = recordingLogger();
    sharedWatcher(logger);
    const { flag, events, script } = await scripted(
      'flags/a',
      ['blue', { status: 503, body: 'busy' }, 'blue'],
      (w) => createFlag(w, 'flags/a', { type: 'string', default: 'white', logger }),
    );
    await script.next();
    await script.next();
    expect(flag.value).toBe('blue');
    expect(events).toEqual([
      ['change', { value: 'blue', previous: 'white' }],
      ['error', 'CONSUL_SERVER_ERROR'],
    ]);
    expect(calls).toEqual([
      ['info', { key: 'flags/a', state: 'ready' }, 'watch flags/a: connected'],
      [
        'warn',
        { key: 'flags/a', code: 'CONSUL_SERVER_ERROR', status: 503, attempt: 1, delayMs: 0 },
        'kv.get flags/a: 503 busy (Consul server error; reads may be retried); retrying in 0 ms',
      ],
    ]);
  });

  it('logs a throwing listener, still calls the next one and still updates', async () => {
    const { calls, logger } = recordingLogger();
    const script = scriptKv(consul, 'flags/a', ['2']);
    const flag = track(createFlag(sharedWatcher(), 'flags/a', { type: 'number', default: 1, logger }));
    const failure = new Error('listener bug');
    const seen: unknown[] = [];
    flag.on('change', () => {
      throw failure;
    });
    flag.on('change', (event) => seen.push(event));
    await flag.ready;
    await script.ready();
    expect(flag.value).toBe(2);
    expect(seen).toEqual([{ value: 2, previous: 1 }]);
    expect(calls).toEqual([
      ['error', { key: 'flags/a', event: 'change', err: failure }, "flag flags/a: a 'change' listener threw"],
    ]);
  });

  it('closes its subscription once and ignores later values', async () => {
    const hung = consul.hang('/v1/kv/flags/a');
    const w = sharedWatcher();
    const flag = createFlag(w, 'flags/a', { type: 'boolean', default: false });
    await hung;
    const first = flag.close();
    expect(flag.close()).toBe(first);
    await first;
    // The request in flight was aborted with the flag's only subscription.
    expect(w.stats()).toMatchObject({ queries: [], subscriptions: 0 });
    await flag.ready;
    expect([flag.value, flag.reason]).toEqual([false, 'pending']);
    expect(consul.requests()).toEqual(['/v1/kv/flags/a']);
  });
});
