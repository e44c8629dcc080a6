import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { BlockingLoop } from '../../../src/watch/loop.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('BlockingLoop memory', () => {
  it('keeps no earlier answer alive once it has been handled', async () => {
    const refs: Array<WeakRef<object>> = [];
    let answered = 0;
    let enough: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      enough = resolve;
    });
    const loop = new BlockingLoop<{ index: number; body: number[] }>({
      fetch: async (index, signal) => {
        if (refs.length === 20) {
          // Hold the 21st request open, as a blocking query does while nothing changes.
          return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        }
        const answer = { index: index + 1, body: new Array<number>(1000).fill(index) };
        refs.push(new WeakRef(answer));
        return answer;
      },
      onResult: () => {
        answered += 1;
        if (answered === 20) enough();
      },
      onError: () => {},
      minIntervalMs: 0,
      churnIntervalMs: 15_000,
      backoff: { minMs: 1, maxMs: 1 },
      staleAfterMs: 60_000,
    });
    loop.start();
    await done;
    // While the loop waits on its next request, collect: every handled answer but the last must be gone.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    const alive = refs.slice(0, -1).filter((ref) => ref.deref() !== undefined).length;
    await loop.close();
    expect(alive).toBe(0);
  });
});
