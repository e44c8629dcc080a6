import { describe, expect, it } from 'vitest';
import { DevServerFaults, parseChaosSpec } from '../../../src/devserver/faults.js';
import { InvalidArgumentError } from '../../../src/errors.js';

const read = (path = 'k', blocking = false) => ({ method: 'GET', path, blocking });

describe('DevServerFaults', () => {
  it('consumes rules in order, each for its number of times', () => {
    const faults = new DevServerFaults();
    faults.inject({ fault: { kind: 'status', status: 500 }, times: 2 });
    faults.inject({ fault: { kind: 'hang' } });
    expect([faults.take(read()), faults.take(read()), faults.take(read()), faults.take(read())]).toEqual([
      { kind: 'status', status: 500 },
      { kind: 'status', status: 500 },
      { kind: 'hang' },
      undefined,
    ]);
    expect(faults.pending()).toBe(0);
  });

  it('applies to reads unless the rule names another method', () => {
    const faults = new DevServerFaults();
    faults.inject({ fault: { kind: 'reset' }, match: { method: 'put' } });
    expect(faults.take(read())).toBeUndefined();
    expect(faults.take({ method: 'PUT', path: 'k', blocking: false })).toEqual({ kind: 'reset' });
  });

  it('matches the key path exactly for a string and by test for a RegExp', () => {
    const faults = new DevServerFaults();
    faults.inject({ fault: { kind: 'hang' }, match: { path: 'app/a' } });
    faults.inject({ fault: { kind: 'reset' }, match: { path: /^other\// } });
    expect(faults.take(read('app/ab'))).toBeUndefined();
    expect(faults.take(read('other/x'))).toEqual({ kind: 'reset' });
    expect(faults.take(read('app/a'))).toEqual({ kind: 'hang' });
  });

  it('keeps a spurious fault for the next blocking query', () => {
    const faults = new DevServerFaults();
    faults.inject({ fault: { kind: 'spurious' } });
    expect(faults.take(read('k', false))).toBeUndefined();
    expect(faults.take(read('k', true))).toEqual({ kind: 'spurious' });
  });

  it('keeps an Infinity rule until cleared', () => {
    const faults = new DevServerFaults();
    faults.inject({ fault: { kind: 'index', index: 0 }, times: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 5; i++) expect(faults.take(read())).toEqual({ kind: 'index', index: 0 });
    faults.clear();
    expect(faults.take(read())).toBeUndefined();
  });

  it('refuses bad rules at inject', () => {
    const faults = new DevServerFaults();
    expect(() => faults.inject({ fault: { kind: 'status', status: 42 } })).toThrow(InvalidArgumentError);
    expect(() => faults.inject({ fault: { kind: 'hang' }, times: 0 })).toThrow('fault times must be');
    expect(() => faults.inject({ fault: { kind: 'index', index: -1 } })).toThrow('fault index must be');
    expect(() => faults.inject({ fault: { kind: 'no-leader', durationMs: 0 } })).toThrow(
      'fault durationMs must be an integer > 0, got 0',
    );
    expect(() => faults.inject({ fault: { kind: 'agent-restart' }, match: { method: 'PUT' } })).toThrow(
      'the agent-restart fault applies to the next request of any kind and takes no match',
    );
  });
});

describe('DevServerFaults areas', () => {
  it('gives KV, agent and probe rules only to their own takers, each in order', () => {
    const faults = new DevServerFaults();
    faults.inject({ fault: { kind: 'check-hang' }, match: { path: 'service:db' } });
    faults.inject({ fault: { kind: 'no-leader', durationMs: 1_000 } });
    faults.inject({ fault: { kind: 'reset' } });
    faults.inject({ fault: { kind: 'agent-restart' } });
    const kv = { method: 'GET', path: 'app/k', blocking: false };
    expect(faults.take(kv)).toEqual({ kind: 'reset' });
    expect(faults.take(kv)).toBeUndefined();
    expect(faults.takeProbeHang('service:web')).toBe(false);
    expect(faults.takeAgent()).toEqual({ kind: 'no-leader', durationMs: 1_000 });
    expect(faults.takeAgent()).toEqual({ kind: 'agent-restart' });
    expect(faults.takeAgent()).toBeUndefined();
    expect(faults.takeProbeHang('service:db')).toBe(true);
    expect(faults.pending()).toBe(0);
  });
});

describe('parseChaosSpec', () => {
  it('maps each item onto a rule, in order', () => {
    expect(
      parseChaosSpec('status=500:3,hang:1, reset,malformed,index=missing:inf,index=0,spurious:2'),
    ).toEqual([
      { fault: { kind: 'status', status: 500 }, times: 3 },
      { fault: { kind: 'hang' }, times: 1 },
      { fault: { kind: 'reset' }, times: 1 },
      { fault: { kind: 'malformed' }, times: 1 },
      { fault: { kind: 'index', index: 'missing' }, times: Number.POSITIVE_INFINITY },
      { fault: { kind: 'index', index: 0 }, times: 1 },
      { fault: { kind: 'spurious' }, times: 2 },
    ]);
  });

  it('parses the agent and check kinds, with no-leader durations in ms, s or m', () => {
    expect(
      parseChaosSpec('agent-restart,no-leader=500ms,no-leader=5s:2,no-leader=2m,check-hang:inf'),
    ).toEqual([
      { fault: { kind: 'agent-restart' }, times: 1 },
      { fault: { kind: 'no-leader', durationMs: 500 }, times: 1 },
      { fault: { kind: 'no-leader', durationMs: 5_000 }, times: 2 },
      { fault: { kind: 'no-leader', durationMs: 120_000 }, times: 1 },
      { fault: { kind: 'check-hang' }, times: Number.POSITIVE_INFINITY },
    ]);
  });

  it.each([
    ['status', 'status needs a code'],
    ['status=abc', 'status needs a code'],
    ['hang=1', 'hang takes no argument'],
    ['reset:0', 'times must be a positive integer'],
    ['boom', 'unknown kind'],
    ['index=-1', 'index needs'],
    ['hang:1:2', 'too many ":"'],
    ['agent-restart=1', 'agent-restart takes no argument'],
    ['check-hang=5s', 'check-hang takes no argument'],
    ['no-leader', 'no-leader needs a duration, e.g. no-leader=5s'],
    ['no-leader=5', 'no-leader needs a duration, e.g. no-leader=5s'],
    ['no-leader=0s', 'no-leader needs a duration, e.g. no-leader=5s'],
    ['no-leader=1h', 'no-leader needs a duration, e.g. no-leader=5s'],
  ])('refuses %j naming the item', (spec, why) => {
    expect(() => parseChaosSpec(spec)).toThrow(`invalid --chaos item ${JSON.stringify(spec)}: ${why}`);
  });
});
