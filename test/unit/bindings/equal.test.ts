import { describe, expect, it } from 'vitest';
import { deepEqual } from '../../../src/bindings/equal.js';

describe('deepEqual', () => {
  it('compares primitives like Object.is', () => {
    expect(deepEqual(1, 1)).toBe(true);
    expect(deepEqual('a', 'a')).toBe(true);
    expect(deepEqual(Number.NaN, Number.NaN)).toBe(true);
    expect(deepEqual(0, -0)).toBe(false);
    expect(deepEqual(1, '1')).toBe(false);
    expect(deepEqual(null, undefined)).toBe(false);
    expect(deepEqual(null, {})).toBe(false);
  });

  it('compares nested plain objects and arrays by content, not identity', () => {
    expect(
      deepEqual({ db: { pool: { min: 1, max: [2, 3] } } }, { db: { pool: { min: 1, max: [2, 3] } } }),
    ).toBe(true);
    expect(deepEqual({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(deepEqual({ db: { pool: { max: 10 } } }, { db: { pool: { max: 11 } } })).toBe(false);
    expect(deepEqual([1, 2], [1, 2, 3])).toBe(false);
    expect(deepEqual([1, 2], { 0: 1, 1: 2 })).toBe(false);
  });

  it('tells a key holding undefined from a missing key', () => {
    expect(deepEqual({ a: undefined }, {})).toBe(false);
    expect(deepEqual({ a: undefined }, { b: undefined })).toBe(false);
  });

  it('compares dates by time and regular expressions by source and flags', () => {
    expect(deepEqual(new Date(5), new Date(5))).toBe(true);
    expect(deepEqual(new Date(5), new Date(6))).toBe(false);
    expect(deepEqual(/a/g, /a/g)).toBe(true);
    expect(deepEqual(/a/g, /a/i)).toBe(false);
  });

  it('compares maps, sets and byte arrays by content', () => {
    expect(deepEqual(new Map([['a', { x: 1 }]]), new Map([['a', { x: 1 }]]))).toBe(true);
    expect(deepEqual(new Map([['a', { x: 1 }]]), new Map([['a', { x: 2 }]]))).toBe(false);
    expect(deepEqual(new Set([1, { x: 1 }]), new Set([{ x: 1 }, 1]))).toBe(true);
    expect(deepEqual(new Set([{ x: 1 }, { x: 1 }]), new Set([{ x: 1 }, { x: 2 }]))).toBe(false);
    expect(deepEqual(Buffer.from('abc'), Buffer.from('abc'))).toBe(true);
    expect(deepEqual(Buffer.from('abc'), Buffer.from('abd'))).toBe(false);
  });

  it('never equates objects of different prototypes', () => {
    expect(deepEqual(new Date(0), {})).toBe(false);
    expect(deepEqual(Object.create(null), {})).toBe(false);
    expect(deepEqual(new Uint8Array([1]), Buffer.from([1]))).toBe(false);
  });
});
