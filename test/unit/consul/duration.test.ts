import { describe, expect, it } from 'vitest';
import { checkTimerMs, MAX_TIMER_MS, parseDuration } from '../../../src/consul/duration.js';
import { InvalidArgumentError } from '../../../src/errors.js';

describe('parseDuration', () => {
  it('returns a number of milliseconds unchanged', () => {
    expect(parseDuration(1500, 'wait')).toBe(1500);
    expect(parseDuration(0, 'wait')).toBe(0);
    expect(parseDuration(0.5, 'wait')).toBe(0.5);
  });

  it.each([
    ['55s', 55_000],
    ['5m', 300_000],
    ['1500ms', 1500],
    ['1h30m', 5_400_000],
    ['1.5s', 1500],
    ['.5s', 500],
    ['2.s', 2000],
    ['+10s', 10_000],
    ['0', 0],
    ['0s', 0],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['250μs', 0.25],
    ['1000000ns', 1],
    ['1m0.5s', 60_500],
  ])('parses the Go duration %s', (text, ms) => {
    expect(parseDuration(text, 'wait')).toBe(ms);
  });

  it.each([['10'], [''], ['-5s'], ['5 s'], ['5x'], ['s'], ['.s'], ['5s '], ['1d']])(
    'refuses %j with an InvalidArgumentError naming the option',
    (text) => {
      expect(() => parseDuration(text, 'wait', 'kv.get')).toThrowError(
        new InvalidArgumentError(
          `kv.get: wait must be a non-negative number of milliseconds or a Go duration such as '55s', '5m' or '1500ms'; got '${text}'`,
          { operation: 'kv.get' },
        ),
      );
    },
  );

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY]])('refuses the number %s', (value) => {
    let caught: unknown;
    try {
      parseDuration(value, 'interval');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidArgumentError);
    expect((caught as InvalidArgumentError).message).toBe(
      `options: interval must be a non-negative number of milliseconds or a Go duration such as '55s', '5m' or '1500ms'; got ${value}`,
    );
    expect((caught as InvalidArgumentError).code).toBe('CONSUL_INVALID_ARGUMENT');
  });

  it.each([
    [3e9, '3000000000'],
    ['720h', '2592000000'],
    [MAX_TIMER_MS + 1, '2147483648'],
  ])('refuses %j, past the longest a Node.js timer can wait (it would fire after 1 ms)', (value, shown) => {
    expect(() => parseDuration(value, 'startTimeout', 'watch')).toThrowError(
      new InvalidArgumentError(
        `watch: startTimeout must be at most 2147483647 ms (about 24.8 days, the longest a Node.js timer can wait); got ${shown}`,
        { operation: 'watch' },
      ),
    );
  });

  it('accepts exactly the longest timer', () => {
    expect(parseDuration(MAX_TIMER_MS, 'staleAfter')).toBe(2_147_483_647);
    expect(checkTimerMs(MAX_TIMER_MS, 'staleAfter')).toBe(2_147_483_647);
    expect(() => checkTimerMs(MAX_TIMER_MS + 0.5, 'backoff.max', 'watch')).toThrowError(
      'watch: backoff.max must be at most 2147483647 ms (about 24.8 days, the longest a Node.js timer can wait); got 2147483647.5',
    );
  });
});
