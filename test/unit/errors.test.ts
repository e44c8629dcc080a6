import { describe, expect, it } from 'vitest';
import * as errors from '../../src/errors.js';
import {
  AclDeniedError,
  ConfigValidationError,
  ConsulError,
  errorText,
  isConsulError,
  NoLeaderError,
  RateLimitedError,
  ServerError,
  UnauthorizedError,
} from '../../src/errors.js';

/** A second copy of the module, as when two versions of the package are installed side by side. */
async function secondCopy(): Promise<typeof errors> {
  // A static specifier with a query is a separate module instance for vite.
  return (await import('../../src/errors.js?second-copy' as string)) as typeof errors;
}

const at = { operation: 'kv.get', key: 'config/app/db' };

describe('error classes', () => {
  it('declare their own code and retryable', () => {
    const made = [
      new errors.InvalidArgumentError('m', at),
      new errors.ConfigurationError('m', at),
      new errors.AclDeniedError('m', at),
      new errors.UnauthorizedError('m', at),
      new errors.ProxyAuthRequiredError('m', at),
      new errors.RateLimitedError('m', at),
      new errors.ServerError('m', at),
      new errors.NoLeaderError('m', at),
      new errors.UnknownDatacenterError('m', at),
      new errors.BadRequestError('m', at),
      new errors.ValueTooLargeError('m', at),
      new errors.TxnTooLargeError('m', at),
      new errors.TransportError('m', at),
      new errors.TimeoutError('m', at),
      new errors.MalformedResponseError('m', at),
      new errors.ResponseTooLargeError('m', at),
      new errors.AbortedError('m', at),
      new errors.ClosedError('m', at),
      new errors.ConfigValidationError('watch', 'config/app/', []),
    ];
    expect(made.map((e) => [e.name, e.code, e.retryable])).toEqual([
      ['InvalidArgumentError', 'CONSUL_INVALID_ARGUMENT', false],
      ['ConfigurationError', 'CONSUL_CONFIG_INVALID', false],
      ['AclDeniedError', 'CONSUL_ACL_DENIED', false],
      ['UnauthorizedError', 'CONSUL_UNAUTHORIZED', false],
      ['ProxyAuthRequiredError', 'CONSUL_PROXY_AUTH_REQUIRED', false],
      ['RateLimitedError', 'CONSUL_RATE_LIMITED', true],
      ['ServerError', 'CONSUL_SERVER_ERROR', true],
      ['NoLeaderError', 'CONSUL_NO_LEADER', true],
      ['UnknownDatacenterError', 'CONSUL_UNKNOWN_DATACENTER', false],
      ['BadRequestError', 'CONSUL_BAD_REQUEST', false],
      ['ValueTooLargeError', 'CONSUL_VALUE_TOO_LARGE', false],
      ['TxnTooLargeError', 'CONSUL_TXN_TOO_LARGE', false],
      ['TransportError', 'CONSUL_TRANSPORT', true],
      ['TimeoutError', 'CONSUL_TIMEOUT', true],
      ['MalformedResponseError', 'CONSUL_MALFORMED_RESPONSE', true],
      ['ResponseTooLargeError', 'CONSUL_RESPONSE_TOO_LARGE', false],
      ['AbortedError', 'CONSUL_ABORTED', false],
      ['ClosedError', 'CONSUL_CLOSED', false],
      ['ConfigValidationError', 'CONSUL_CONFIG_VALIDATION', false],
    ]);
    expect(made.every((e) => e instanceof ConsulError && e instanceof Error && isConsulError(e))).toBe(true);
  });

  it('keep the deprecated ServerError code argument working', () => {
    expect(new ServerError('m', at, 'CONSUL_NO_LEADER').code).toBe('CONSUL_NO_LEADER');
  });

  it('brand each class with a Symbol.for key', () => {
    const error = new NoLeaderError('m', at);
    for (const name of ['ConsulError', 'ServerError', 'NoLeaderError']) {
      expect(
        (error as unknown as Record<symbol, unknown>)[Symbol.for(`consul-hotreload.error.${name}`)],
      ).toBe(true);
    }
    expect(
      (error as unknown as Record<symbol, unknown>)[Symbol.for('consul-hotreload.error.RateLimitedError')],
    ).toBeUndefined();
  });
});

describe('instanceof across two loaded copies', () => {
  it('recognises an error made by the other copy as the same class, its base and nothing else', async () => {
    const other = await secondCopy();
    expect(other.AclDeniedError).not.toBe(AclDeniedError);
    const theirs = new other.AclDeniedError('kv.get a: 403 Permission denied', at);
    expect(theirs instanceof AclDeniedError).toBe(true);
    expect(theirs instanceof ConsulError).toBe(true);
    expect(theirs instanceof RateLimitedError).toBe(false);
    expect(theirs instanceof UnauthorizedError).toBe(false);
    expect(isConsulError(theirs)).toBe(true);
    const ours = new NoLeaderError('m', at);
    expect(ours instanceof other.ServerError).toBe(true);
    expect(ours instanceof other.NoLeaderError).toBe(true);
    expect(ours instanceof other.ConfigValidationError).toBe(false);
    expect(new other.ConfigValidationError('watch', 'k', []) instanceof ConfigValidationError).toBe(true);
  });

  it('refuses values that are not errors of this library', () => {
    expect(new Error('x') instanceof ConsulError).toBe(false);
    expect({ code: 'CONSUL_ACL_DENIED' } instanceof AclDeniedError).toBe(false);
    expect((null as unknown as object) instanceof ConsulError).toBe(false);
    expect(('CONSUL_ACL_DENIED' as unknown as object) instanceof ConsulError).toBe(false);
  });

  it('falls back to the prototype chain for a subclass defined outside the library', () => {
    class MyError extends AclDeniedError {}
    expect(new MyError('m', at) instanceof MyError).toBe(true);
    expect(new MyError('m', at) instanceof AclDeniedError).toBe(true);
    expect(new AclDeniedError('m', at) instanceof MyError).toBe(false);
  });
});

describe('errorText', () => {
  const secret = '8d1e6e3a-super-secret-token';

  it("quotes an Error's message, a string or a Buffer on one line", () => {
    expect(errorText(new Error('ENOENT: no such file'))).toBe('ENOENT: no such file');
    expect(errorText('  two\n  lines\t ')).toBe('two lines');
    expect(errorText(Buffer.from('No cluster leader'))).toBe('No cluster leader');
    expect(errorText(42)).toBe('42');
  });

  it('removes secrets before cutting, so a secret across the cut leaves no piece', () => {
    const text = errorText(`${'x'.repeat(290)}${secret}`, { secrets: [secret] });
    expect(text).toBe(`${'x'.repeat(290)}[redacted]`);
  });

  it('removes the start of a secret left at the end of text cut before it arrived', () => {
    expect(errorText(`denied for ${secret.slice(0, 12)}`, { secrets: [secret] })).toBe(
      'denied for [redacted]',
    );
    // Fewer than 4 characters are left alone: too short to tell from ordinary text.
    expect(errorText('ends with 8d1', { secrets: [secret] })).toBe('ends with 8d1');
  });

  it('cuts at maxLength with an ellipsis', () => {
    expect(errorText('abcdef', { maxLength: 3 })).toBe('abc…');
    expect(errorText('x'.repeat(301))).toBe(`${'x'.repeat(300)}…`);
  });

  it('escapes C0, DEL, C1 and bidi controls', () => {
    expect(errorText('a\u0000b\u001bc\u007fd\u0085e\u061cf\u200eg\u202eh\u2069i')).toBe(
      'a\\u0000b\\u001bc\\u007fd\\u0085e\\u061cf\\u200eg\\u202eh\\u2069i',
    );
  });
});
