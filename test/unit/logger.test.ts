import { describe, expect, it } from 'vitest';
import { redact, redactText } from '../../src/logger.js';

describe('redactText', () => {
  const token = 'f3a1c2d4-secret-token';

  it('removes a known secret whole, wrapped over lines, or cut at the end', () => {
    expect(redactText(`token ${token} denied`, [token])).toBe('token [redacted] denied');
    expect(redactText(`token ${token.slice(0, 9)}\n  ${token.slice(9)} denied`, [token])).toBe(
      'token [redacted] denied',
    );
    expect(redactText(`token ${token.slice(0, 10)}`, [token])).toBe('token [redacted]');
  });

  it('removes Basic and Bearer credentials and echoed token headers whatever their value', () => {
    expect(
      redactText(
        'authorization=Basic ZGVwbG95OnB3 Authorization: bearer eyJ.a-b_c X-Consul-Token: abc-123 ?token=zz&x=1',
      ),
    ).toBe(
      'authorization=Basic [redacted] Authorization: bearer [redacted] X-Consul-Token: [redacted] ?token=[redacted]&x=1',
    );
  });

  it('treats regular-expression characters in a secret literally', () => {
    expect(redactText('a.b+c (x) a-b-c', ['a.b+c'])).toBe('[redacted] (x) a-b-c');
  });
});

describe('redact', () => {
  it('replaces secret-looking fields one level deep', () => {
    expect(redact({ token: 'x', key: 'config/a', authHeader: 'y', nested: { token: 'z' } })).toEqual({
      token: '[redacted]',
      key: 'config/a',
      authHeader: '[redacted]',
      nested: { token: 'z' },
    });
  });
});
