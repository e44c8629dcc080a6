import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.js';
import { Watcher } from '../../../src/watch/watcher.js';

describe('Watcher churnInterval option', () => {
  it('refuses a negative value at construction, naming the option', () => {
    expect(() => new Watcher({ address: '127.0.0.1:1', env: {}, churnInterval: -1 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new Watcher({ address: '127.0.0.1:1', env: {}, churnInterval: -1 })).toThrow(
      /churnInterval/,
    );
  });

  it('accepts 0 (a fixed minInterval) and closes cleanly', async () => {
    const watcher = new Watcher({ address: '127.0.0.1:1', env: {}, churnInterval: 0 });
    await watcher.close();
    expect(watcher.closed).toBe(true);
  });
});
