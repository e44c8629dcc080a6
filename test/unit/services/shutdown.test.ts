/** closeInOrder(): one after the other, failures recorded, one timeout for all (consul-semantics §S7). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { closeInOrder, handleShutdownSignals } from '../../../src/services/shutdown.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('closeInOrder', () => {
  it('closes in the order given, the next only after the previous finished, and goes on after a failure', async () => {
    const order: string[] = [];
    const step = (name: string, fail = false) => ({
      close: async () => {
        order.push(`${name} start`);
        await Promise.resolve();
        order.push(`${name} end`);
        if (fail) throw new Error(`${name} broke`);
      },
    });
    const failing = step('lock', true);
    const result = await closeInOrder([step('registration'), failing, step('client')]);
    expect(order).toEqual([
      'registration start',
      'registration end',
      'lock start',
      'lock end',
      'client start',
      'client end',
    ]);
    expect(result.timedOut).toBe(false);
    expect(result.errors.map(({ index, error }) => [index, (error as Error).message])).toEqual([
      [1, 'lock broke'],
    ]);
  });

  it('bounds the whole sequence: at the timeout the rest are told to close without waiting, and no timer is left', async () => {
    vi.useFakeTimers();
    const calls: string[] = [];
    const hanging = { close: () => new Promise<void>(() => calls.push('hanging')) };
    const after = { close: async () => void calls.push('after') };
    const done = closeInOrder([hanging, after], { timeout: '2s' });
    await vi.advanceTimersByTimeAsync(1999);
    expect(calls).toEqual(['hanging']);
    await vi.advanceTimersByTimeAsync(1);
    expect(await done).toEqual({ timedOut: true, errors: [] });
    expect(calls).toEqual(['hanging', 'after']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses bad arguments at the call', () => {
    expect(() => handleShutdownSignals([{} as never])).toThrow(InvalidArgumentError);
    expect(() => handleShutdownSignals([], { signals: [] })).toThrow(InvalidArgumentError);
    return expect(closeInOrder([], { timeout: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('adds and removes its signal listeners without running the sequence', () => {
    const before = process.listenerCount('SIGTERM');
    const closed: string[] = [];
    const handle = handleShutdownSignals([{ close: async () => void closed.push('x') }], {
      signals: ['SIGTERM'],
    });
    expect(process.listenerCount('SIGTERM')).toBe(before + 1);
    handle.dispose();
    handle.dispose();
    expect(process.listenerCount('SIGTERM')).toBe(before);
    expect(closed).toEqual([]);
  });
});
