import { describe, expect, it } from 'vitest';
import { WaiterRegistry, type WatchTarget } from '../../../src/devserver/waiters.js';

const key = (path: string): WatchTarget => ({ kind: 'key', path });
const prefix = (path: string): WatchTarget => ({ kind: 'prefix', path });

function registryWithLog() {
  const registry = new WaiterRegistry();
  const woken: string[] = [];
  const watch = (name: string, target: WatchTarget) => registry.add(target, () => woken.push(name));
  return { registry, woken, watch };
}

describe('WaiterRegistry', () => {
  it('wakes exactly the waiters a write touches: the key itself and every prefix of it', () => {
    const { registry, woken, watch } = registryWithLog();
    watch('key app/db/host', key('app/db/host'));
    watch('key app/db/port', key('app/db/port'));
    watch('prefix ""', prefix(''));
    watch('prefix app/', prefix('app/'));
    watch('prefix app/db/', prefix('app/db/'));
    watch('prefix app/db/host', prefix('app/db/host'));
    watch('prefix app/web/', prefix('app/web/'));
    watch('prefix app/db/host/x', prefix('app/db/host/x'));

    expect(registry.notify(['app/db/host'])).toBe(5);
    expect(woken.sort()).toEqual([
      'key app/db/host',
      'prefix ""',
      'prefix app/',
      'prefix app/db/',
      'prefix app/db/host',
    ]);
    expect(registry.counts()).toEqual({ held: 8, exact: 2, prefix: 6, wakeups: 5 });
  });

  it('does not wake a sibling prefix', () => {
    const { registry, woken, watch } = registryWithLog();
    watch('a', prefix('config/a/'));
    watch('b', prefix('config/b/'));
    registry.notify(['config/a/x']);
    expect(woken).toEqual(['a']);
  });

  it('matches prefixes as raw strings, so a write to apple wakes a prefix watch on app', () => {
    const { registry, woken, watch } = registryWithLog();
    watch('app', prefix('app'));
    watch('app/', prefix('app/'));
    registry.notify(['apple']);
    expect(woken).toEqual(['app']);
  });

  it('wakes a waiter once even when a transaction touches several of its keys', () => {
    const { registry, woken, watch } = registryWithLog();
    watch('tree', prefix('t/'));
    watch('key', key('t/a'));
    expect(registry.notify(['t/a', 't/b', 't/c'])).toBe(2);
    expect(woken.sort()).toEqual(['key', 'tree']);
  });

  it('keeps waking a waiter until it is removed, and removing twice is harmless', () => {
    const { registry, woken, watch } = registryWithLog();
    const remove = watch('k', key('k'));
    registry.notify(['k']);
    registry.notify(['k']);
    remove();
    remove();
    registry.notify(['k']);
    expect(woken).toEqual(['k', 'k']);
    expect(registry.counts()).toEqual({ held: 0, exact: 0, prefix: 0, wakeups: 2 });
  });

  it('forgets a removed waiter while others on the same key stay', () => {
    const { registry, woken, watch } = registryWithLog();
    const removeFirst = watch('first', prefix('p/'));
    watch('second', prefix('p/'));
    removeFirst();
    registry.notify(['p/x']);
    expect(woken).toEqual(['second']);
    expect(registry.counts().held).toBe(1);
  });

  it('lets a wake-up remove its own waiter and add a new one without disturbing the current round', () => {
    const registry = new WaiterRegistry();
    const woken: string[] = [];
    const remove = registry.add(key('k'), () => {
      woken.push('old');
      remove();
      registry.add(key('k'), () => woken.push('new'));
    });
    registry.notify(['k']);
    registry.notify(['k']);
    expect(woken).toEqual(['old', 'new']);
  });

  it('wakes only the two waiters of the written key out of 10,000 held', () => {
    const registry = new WaiterRegistry();
    let wakes = 0;
    for (let i = 0; i < 5_000; i++) registry.add(key(`svc/${i}/config`), () => wakes++);
    for (let i = 0; i < 5_000; i++) registry.add(prefix(`svc/${i}/`), () => wakes++);
    expect(registry.notify(['svc/4242/config'])).toBe(2);
    expect(wakes).toBe(2);
    expect(registry.counts()).toEqual({ held: 10_000, exact: 5_000, prefix: 5_000, wakeups: 2 });
  });

  it('shares one evaluation per read among the waiters of one notify round, and none across rounds', () => {
    const registry = new WaiterRegistry();
    let evaluations = 0;
    const answers: number[] = [];
    const evaluate = () => ++evaluations;
    for (let i = 0; i < 10; i++)
      registry.add(key('k'), () => answers.push(registry.shared('read k', evaluate)));
    registry.add(key('k'), () => answers.push(registry.shared('read other', evaluate)));
    registry.notify(['k']);
    expect(answers).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]);
    registry.notify(['k']);
    expect(evaluations).toBe(4);
    // Outside a round (a first read, a timeout) every call evaluates.
    registry.shared('read k', evaluate);
    registry.shared('read k', evaluate);
    expect(evaluations).toBe(6);
  });

  it('never hands the rest of a round an answer from before a write made inside it', () => {
    const registry = new WaiterRegistry();
    let state = 0;
    const seen: number[] = [];
    registry.add(key('a'), () => {
      seen.push(registry.shared('read', () => state));
      state++;
      registry.notify(['b']); // a write inside the round
    });
    registry.add(key('a'), () => seen.push(registry.shared('read', () => state)));
    registry.add(key('b'), () => seen.push(registry.shared('read', () => state)));
    registry.notify(['a']);
    expect(seen).toEqual([0, 1, 1]);
  });
});
