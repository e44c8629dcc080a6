import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { createFlag, type Flag, parseFlagText } from '../../../src/bindings/flag.js';
import {
  ConfigValidationError,
  InvalidArgumentError,
  TimeoutError,
  TransportError,
} from '../../../src/errors.js';
import { FakeWatcher, recordingLogger } from './fake-watch.js';

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
  const parsed = (type: Parameters<typeof parseFlagText>[0], text: string) => {
    const result = parseFlagText(type, 'flags/x', text);
    return result.ok ? result : { ok: false, message: result.issues[0]?.message };
  };

  it('accepts true and false in any letter case with surrounding whitespace, and nothing else', () => {
    expect(['true', 'TRUE', 'True', ' false\n', 'FALSE'].map((text) => parsed('boolean', text))).toEqual([
      ok(true),
      ok(true),
      ok(true),
      ok(false),
      ok(false),
    ]);
    for (const text of ['1', '0', 'yes', 'on', 'ture', 't', '"true"', 'true false']) {
      expect(parsed('boolean', text)).toEqual({ ok: false, message: 'expected true or false' });
    }
  });

  it('accepts decimal numbers only', () => {
    expect(
      ['42', '-1.5', '1e3', ' 7 \n', '.5', '+3', '0', '2.'].map((text) => parsed('number', text)),
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
      expect(parsed('number', text)).toEqual({ ok: false, message: 'expected a decimal number' });
    }
  });

  it('keeps string values exactly as stored', () => {
    expect(parsed('string', ' blue\n')).toEqual(ok(' blue\n'));
  });

  it('accepts JSON objects and arrays for object flags', () => {
    expect(parsed('object', '{"rollout": 10}')).toEqual(ok({ rollout: 10 }));
    expect(parsed('object', '[1, 2]')).toEqual(ok([1, 2]));
    for (const text of ['null', '3', '"s"', 'true']) {
      expect(parsed('object', text)).toEqual({ ok: false, message: 'expected a JSON object or array' });
    }
    expect(parsed('object', '{bad')).toEqual({
      ok: false,
      message: expect.stringMatching(/^not valid JSON \(.+\); expected a JSON object or array$/),
    });
  });

  it('reports the key, what was expected and what was found', () => {
    expect(parseFlagText('number', 'flags/limit', '12px')).toEqual({
      ok: false,
      issues: [
        {
          key: 'flags/limit',
          path: [],
          message: 'expected a decimal number',
          expected: 'a decimal number',
          received: '"12px"',
        },
      ],
    });
  });
});

describe('createFlag', () => {
  it('infers the widened type of the default', () => {
    const watcher = new FakeWatcher();
    expectTypeOf(
      createFlag(watcher, 'f/a', { type: 'boolean', default: false }).value,
    ).toEqualTypeOf<boolean>();
    expectTypeOf(
      createFlag(watcher, 'f/b', { type: 'string', default: 'blue' }).value,
    ).toEqualTypeOf<string>();
    expectTypeOf(createFlag(watcher, 'f/c', { type: 'number', default: 5 }).value).toEqualTypeOf<number>();
    expectTypeOf(
      createFlag(watcher, 'f/d', { type: 'object', default: { rollout: 0 } }).value,
    ).toEqualTypeOf<{
      rollout: number;
    }>();
    // @ts-expect-error the type must match the default
    expect(() => createFlag(watcher, 'f/e', { type: 'number', default: 'x' })).toThrow(InvalidArgumentError);
  });

  it('watches the key as text and holds the default until Consul answers', async () => {
    const watcher = new FakeWatcher();
    const flag = createFlag(watcher, 'flags/new-checkout', { type: 'boolean', default: false });
    const events = record(flag);
    expect(watcher.subscriptions.map((s) => [s.key, s.options.format])).toEqual([
      ['flags/new-checkout', 'text'],
    ]);
    expect([flag.value, flag.reason]).toEqual([false, 'pending']);

    watcher.last.answer('true');
    await flag.ready;
    expect([flag.value, flag.reason]).toEqual([true, 'stored']);
    expect(events).toEqual([['change', { value: true, previous: false }]]);
  });

  it('serves the default, without an invalid event, while the key is missing or empty', async () => {
    const watcher = new FakeWatcher();
    const flag = createFlag(watcher, 'flags/limit', { type: 'number', default: 100 });
    const events = record(flag);
    watcher.last.answer(undefined);
    await flag.ready;
    expect([flag.value, flag.reason]).toEqual([100, 'missing']);

    watcher.last.change('250');
    watcher.last.change('');
    watcher.last.change(undefined);
    expect([flag.value, flag.reason]).toEqual([100, 'missing']);
    expect(events).toEqual([
      ['change', { value: 250, previous: 100 }],
      ['change', { value: 100, previous: 250 }],
    ]);
  });

  it('falls back to the default and emits invalid naming the key when the value does not parse', async () => {
    const watcher = new FakeWatcher();
    const { calls, logger } = recordingLogger();
    const flag = createFlag(watcher, 'flags/new-checkout', { type: 'boolean', default: false, logger });
    const events = record(flag);
    let error: ConfigValidationError | undefined;
    flag.on('invalid', (e) => {
      error = e;
    });
    watcher.last.answer('true');
    await flag.ready;

    watcher.last.change('ture');
    expect([flag.value, flag.reason]).toEqual([false, 'invalid']);
    watcher.last.change('TRUE');
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
    expect(error?.code).toBe('CONFIG_VALIDATION');
    expect(error?.key).toBe('flags/new-checkout');
    expect(error?.message).toContain('flags/new-checkout: expected true or false (found "ture")');
    expect(calls).toEqual([['warn', { key: 'flags/new-checkout' }, error?.message]]);
  });

  it('redacts the value of a secret-looking key in the invalid event and the log', async () => {
    const watcher = new FakeWatcher();
    const { calls, logger } = recordingLogger();
    const flag = createFlag(watcher, 'flags/rotate-api-key', { type: 'boolean', default: false, logger });
    const issues: unknown[] = [];
    flag.on('invalid', (error) => issues.push(...error.issues));
    watcher.last.answer('sk_live_abc123');
    await flag.ready;
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
    const watcher = new FakeWatcher();
    const schema = z.object({ rollout: z.number().min(0).max(100), variant: z.enum(['a', 'b']) });
    const flag = createFlag(watcher, 'flags/search', {
      type: 'object',
      default: { rollout: 0, variant: 'a' },
      schema,
    });
    const events = record(flag);
    watcher.last.answer('{"rollout": 150, "variant": "c"}');
    await flag.ready;
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
    const watcher = new FakeWatcher();
    const flag = createFlag(watcher, 'flags/search', { type: 'object', default: { rollout: 0 } });
    const events = record(flag);
    watcher.last.answer('{"rollout": 10}');
    await flag.ready;
    const first = flag.value;
    watcher.last.change('{ "rollout" : 10 }\n');
    expect(flag.value).toBe(first);
    watcher.last.change('{"rollout": 20}');
    expect(events).toEqual([
      ['change', { value: { rollout: 10 }, previous: { rollout: 0 } }],
      ['change', { value: { rollout: 20 }, previous: { rollout: 10 } }],
    ]);
  });

  it('refuses bad arguments at the call', () => {
    const watcher = new FakeWatcher();
    const attempt = (key: string, options: unknown) => () =>
      createFlag(watcher, key, options as Parameters<typeof createFlag>[2]);
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
    expect(watcher.subscriptions).toEqual([]);
  });

  it('keeps the default and resolves ready when the first read fails, then applies a later value', async () => {
    const watcher = new FakeWatcher();
    const { calls, logger } = recordingLogger();
    const flag = createFlag(watcher, 'flags/a', { type: 'string', default: 'blue', logger });
    const events = record(flag);
    watcher.last.fail(
      new TimeoutError('watch flags/a: no valid value within 30000 ms', {
        operation: 'watch',
        key: 'flags/a',
      }),
    );
    await flag.ready;
    expect([flag.value, flag.reason]).toEqual(['blue', 'pending']);
    expect(calls).toEqual([
      [
        'warn',
        { key: 'flags/a' },
        'flag flags/a: serving the default until Consul answers (watch flags/a: no valid value within 30000 ms)',
      ],
    ]);
    // The watch kept retrying: its first value arrives as a change.
    watcher.last.change('green');
    expect(flag.value).toBe('green');
    expect(events).toEqual([['change', { value: 'green', previous: 'blue' }]]);
  });

  it('passes on watch errors without logging them again (the watcher logs them)', async () => {
    const watcher = new FakeWatcher();
    const { calls, logger } = recordingLogger();
    const flag = createFlag(watcher, 'flags/a', { type: 'string', default: 'blue', logger });
    const events = record(flag);
    watcher.last.emit(
      'error',
      new TransportError('kv.list flags/: socket hang up', { operation: 'kv.list' }),
    );
    expect(events).toEqual([['error', 'CONSUL_TRANSPORT']]);
    expect(calls).toEqual([]);
  });

  it('logs a throwing listener and still updates', async () => {
    const watcher = new FakeWatcher();
    const { calls, logger } = recordingLogger();
    const flag = createFlag(watcher, 'flags/a', { type: 'number', default: 1, logger });
    const failure = new Error('listener bug');
    flag.on('change', () => {
      throw failure;
    });
    watcher.last.answer('2');
    await flag.ready;
    expect(flag.value).toBe(2);
    expect(calls).toEqual([
      ['error', { key: 'flags/a', err: failure }, 'flag flags/a: change listener threw'],
    ]);
  });

  it('closes its subscription once and ignores later values', async () => {
    const watcher = new FakeWatcher();
    const flag = createFlag(watcher, 'flags/a', { type: 'boolean', default: false });
    const subscription = watcher.last;
    const first = flag.close();
    expect(flag.close()).toBe(first);
    await first;
    expect(subscription.closed).toBe(true);
    expect(subscription.options.signal?.aborted).toBe(true);
    subscription.answer('true');
    await flag.ready;
    expect(flag.value).toBe(false);
  });
});
