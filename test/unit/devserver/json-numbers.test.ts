import { describe, expect, it } from 'vitest';
import { JsonNumber, parseJsonKeepingNumbers } from '../../../src/devserver/json-numbers.js';

describe('parseJsonKeepingNumbers', () => {
  it('keeps each number literal exactly, inside arrays and objects, and leaves strings alone', () => {
    expect(parseJsonKeepingNumbers('[9007199254740993,{"a":-1.5e3,"s":"12 \\"3\\" 4"},null,true]')).toEqual([
      new JsonNumber('9007199254740993'),
      { a: new JsonNumber('-1.5e3'), s: '12 "3" 4' },
      null,
      true,
    ]);
  });

  it('throws JSON.parse errors for invalid JSON', () => {
    expect(() => parseJsonKeepingNumbers('[1 2]')).toThrow(SyntaxError);
  });
});
