/** Balancer: strategies with injected randomness, ejection on an injected clock, panic mode, atomic updates. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServiceInstance } from '../../../src/consul/health.js';
import { InvalidArgumentError, NoHealthyInstanceError } from '../../../src/errors.js';
import { Balancer } from '../../../src/services/balancer.js';
import type { ServiceList, Watcher } from '../../../src/watch/watcher.js';
import { MockConsul } from '../watch/mock-consul.js';
import { healthBody, type InstanceSpec, mockWatcher } from './health-fixtures.js';

let consul: MockConsul;
let watcher: Watcher | undefined;

const BASE = '/v1/health/service/web';

beforeEach(() => {
  consul = new MockConsul();
});

afterEach(async () => {
  await watcher?.close();
  watcher = undefined;
  await consul.close();
});

/** A live list whose answers the test releases one by one; the first is served at once. */
async function liveList(
  states: InstanceSpec[][],
  options: { passing?: boolean } = {},
): Promise<{ list: ServiceList; next: () => Promise<void> }> {
  const base = options.passing === false ? BASE : `${BASE}?passing=`;
  const sep = options.passing === false ? '?' : '&';
  const releases: Array<{ release: () => void }> = [];
  consul.answer(base, { status: 200, index: 10, body: healthBody(states[0] ?? []) });
  for (let step = 1; step < states.length; step++) {
    releases.push(
      consul.answer(
        `${base}${sep}index=${9 + step}&wait=300000ms`,
        { status: 200, index: 10 + step, body: healthBody(states[step] ?? []) },
        { hold: true },
      ),
    );
  }
  consul.hang(`${base}${sep}index=${9 + states.length}&wait=300000ms`);
  watcher = mockWatcher(consul.agent);
  const list = watcher.service('web', { passing: options.passing ?? true });
  await list.ready;
  return {
    list,
    next: () =>
      new Promise<void>((resolve) => {
        list.once('change', () => resolve());
        releases.shift()?.release();
      }),
  };
}

const ids = (balancer: Balancer, n: number) => Array.from({ length: n }, () => balancer.pick().id);

describe('Balancer: strategies', () => {
  it('picks round-robin by default, in the list’s order', async () => {
    const { list } = await liveList([[{ id: 'a' }, { id: 'b' }, { id: 'c' }]]);
    expect(ids(new Balancer(list), 7)).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  });

  it('picks in proportion to Weights.Passing, and Weights.Warning for a warning instance', async () => {
    const { list } = await liveList(
      [
        [
          { id: 'a', weights: { Passing: 3, Warning: 1 } },
          { id: 'b', weights: { Passing: 1, Warning: 1 } },
          { id: 'w', status: 'warning', weights: { Passing: 10, Warning: 0 } },
          { id: 'x', status: 'critical' },
        ],
      ],
      { passing: false },
    );
    // Total weight 4 (w weighs 0 while warning, x is critical): a covers [0, 3), b [3, 4).
    const points = [0, 0.5, 0.74, 0.75, 0.99];
    const balancer = new Balancer(list, { strategy: 'weighted', random: () => points.shift() ?? 0 });
    expect(ids(balancer, 5)).toEqual(['a', 'a', 'a', 'b', 'b']);
  });

  it('picks uniformly at random with the injected randomness', async () => {
    const { list } = await liveList([[{ id: 'a' }, { id: 'b' }, { id: 'c' }]]);
    const points = [0.9, 0, 0.5, 0.34];
    const balancer = new Balancer(list, { strategy: 'random', random: () => points.shift() ?? 0 });
    expect(ids(balancer, 4)).toEqual(['c', 'a', 'b', 'b']);
  });

  it('refuses a bad option at construction, naming it', async () => {
    const { list } = await liveList([[{ id: 'a' }]]);
    expect(() => new Balancer(list, { strategy: 'fastest' as 'random' })).toThrow(InvalidArgumentError);
    expect(() => new Balancer(list, { ejectFor: -1 })).toThrow(/ejectFor/);
  });
});

describe('Balancer: fed from the list', () => {
  it('sees each Consul answer as one whole update', async () => {
    const { list, next } = await liveList([[{ id: 'a' }, { id: 'b' }], [{ id: 'c' }]]);
    const balancer = new Balancer(list);
    expect(ids(balancer, 1)).toEqual(['a']);
    await next();
    expect(ids(balancer, 3)).toEqual(['c', 'c', 'c']);
  });

  it('throws NoHealthyInstanceError when Consul lists none', async () => {
    const { list } = await liveList([[]]);
    const error = (() => {
      try {
        new Balancer(list).pick();
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(NoHealthyInstanceError);
    expect(error).toMatchObject({ code: 'CONSUL_NO_HEALTHY_INSTANCE', retryable: true, key: 'web' });
    expect((error as Error).message).toBe(
      'balancer web: no healthy instance (Consul lists no instance); retry later, or set panic: true to use every listed instance',
    );
  });
});

describe('Balancer: ejection (passive outlier detection)', () => {
  it('leaves a reported instance out for ejectFor on the injected clock, then takes it back', async () => {
    const { list } = await liveList([[{ id: 'a' }, { id: 'b' }]]);
    let now = 1_000;
    const balancer = new Balancer(list, { ejectFor: '10s', now: () => now });
    const a = list.instances[0]!;
    balancer.reportFailure(a);
    expect(ids(balancer, 3)).toEqual(['b', 'b', 'b']);
    expect(balancer.ejected.map((i) => i.id)).toEqual(['a']);
    now += 9_999;
    expect(balancer.healthy.map((i) => i.id)).toEqual(['b']);
    now += 1;
    expect(balancer.healthy.map((i) => i.id)).toEqual(['a', 'b']);
    expect(balancer.ejected).toEqual([]);
  });

  it('throws when every instance is ejected, naming the counts, unless panic mode uses them all', async () => {
    const { list } = await liveList([[{ id: 'a' }, { id: 'b' }]]);
    const strict = new Balancer(list, { now: () => 0, maxEjectionPercent: 100 });
    const panic = new Balancer(list, { now: () => 0, panic: true, maxEjectionPercent: 100 });
    for (const instance of list.instances) {
      strict.reportFailure(instance);
      panic.reportFailure(instance);
    }
    expect(() => strict.pick()).toThrow(
      'balancer web: no healthy instance (2 listed, 2 of them ejected after reported failures, the others not passing)',
    );
    expect(ids(panic, 3)).toEqual(['a', 'b', 'a']);
  });

  it('ejects at most maxEjectionPercent of the healthy instances (50 by default), and always one', async () => {
    const { list } = await liveList([[{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }, { id: 'e' }]]);
    const [a, b, c, d] = list.instances as [
      ServiceInstance,
      ServiceInstance,
      ServiceInstance,
      ServiceInstance,
    ];
    let now = 0;
    const balancer = new Balancer(list, { now: () => now });
    // 50% of 5 healthy instances: 2 may be out at once; a third report is ignored.
    expect([a, b, c].map((instance) => balancer.reportFailure(instance))).toEqual([true, true, false]);
    expect(balancer.ejected.map((instance) => instance.id)).toEqual(['a', 'b']);
    // A report on an instance already out restarts its time, at the cap too.
    now = 20_000;
    expect(balancer.reportFailure(a)).toBe(true);
    now = 31_000; // b is back; a is out until 50 s
    expect(balancer.reportFailure(d)).toBe(true);
    expect(balancer.ejected.map((instance) => instance.id)).toEqual(['a', 'd']);
    const one = new Balancer(list, { now: () => 0, maxEjectionPercent: 0 });
    expect([a, b].map((instance) => one.reportFailure(instance))).toEqual([true, false]);
    expect(() => new Balancer(list, { maxEjectionPercent: 101 })).toThrow(
      'Balancer: maxEjectionPercent must be a number from 0 to 100; got 101',
    );
  });

  it('in panic mode reaches critical instances of a passing: false list, never those in maintenance', async () => {
    const { list } = await liveList(
      [
        [
          { id: 'down', status: 'critical' },
          { id: 'drained', maintenance: true },
        ],
      ],
      { passing: false },
    );
    expect(() => new Balancer(list).pick()).toThrow(NoHealthyInstanceError);
    expect(ids(new Balancer(list, { panic: true }), 2)).toEqual(['down', 'down']);
  });

  it('ignores reports with ejectFor 0', async () => {
    const { list } = await liveList([[{ id: 'a' }]]);
    const balancer = new Balancer(list, { ejectFor: 0 });
    balancer.reportFailure(list.instances[0]!);
    expect(ids(balancer, 2)).toEqual(['a', 'a']);
  });

  it('takes an ejected instance back at once when it left and Consul lists it again (a new registration)', async () => {
    const { list, next } = await liveList([
      [{ id: 'a' }, { id: 'b' }],
      [{ id: 'b' }],
      [{ id: 'a', port: 9090 }, { id: 'b' }],
    ]);
    const balancer = new Balancer(list, { ejectFor: '10s', now: () => 0 });
    balancer.reportFailure(list.instances[0]!);
    expect(balancer.ejected.map((i) => i.id)).toEqual(['a']);
    await next();
    await next();
    expect([balancer.ejected, balancer.healthy.map((i) => i.id)]).toEqual([[], ['a', 'b']]);
  });

  it('forgets a report of an instance that is not listed at the next change (no growth with churn)', async () => {
    const { list, next } = await liveList([
      [{ id: 'a' }, { id: 'b' }],
      [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
      [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'gone' }],
    ]);
    const balancer = new Balancer(list, { ejectFor: '10s', now: () => 0 });
    // A stale instance from an earlier answer, reported after it left.
    const stale = { ...list.instances[0]!, id: 'gone' };
    balancer.reportFailure(stale);
    balancer.reportFailure(list.instances[1]!);
    await next();
    await next();
    expect(balancer.ejected.map((i) => i.id)).toEqual(['b']);
    expect(balancer.healthy.map((i) => i.id)).toEqual(['a', 'c', 'gone']);
  });
});
