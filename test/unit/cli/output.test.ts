/**
 * Exit codes and error printing shared by the CLI commands.
 */
import { describe, expect, it } from 'vitest';
import { EXIT, exitCodeFor, printError, stderrLogger, UsageError } from '../../../src/cli/output.js';
import {
  AbortedError,
  AclDeniedError,
  BadRequestError,
  ConfigurationError,
  ConfigValidationError,
  InvalidArgumentError,
  MalformedResponseError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  TransportError,
  UnknownDatacenterError,
  ValueTooLargeError,
} from '../../../src/errors.js';
import { RecordingIo } from './cli-io.js';

const at = { operation: 'kv.get', key: 'app/flag' };

describe('exitCodeFor', () => {
  it('gives 2 when Consul was unreachable, too slow or refused the request', () => {
    const consulFailures = [
      new TransportError('down', at),
      new TimeoutError('slow', at),
      new AclDeniedError('denied', at),
      new RateLimitedError('limited', at),
      new ServerError('500', at),
      new UnknownDatacenterError('dc', at),
      new BadRequestError('400', at),
      new MalformedResponseError('garbage', at),
    ];
    expect(consulFailures.map(exitCodeFor)).toEqual(consulFailures.map(() => EXIT.consul));
  });

  it('gives 1 for bad input, invalid config and anything else', () => {
    const inputFailures = [
      new UsageError('missing <key>'),
      new InvalidArgumentError('bad key', at),
      new ConfigurationError('bad address', { operation: 'config' }),
      new ValueTooLargeError('too big', at),
      new ConfigValidationError('config.load', 'cfg/', [{ key: 'cfg/a', path: ['a'], message: 'bad' }]),
      new AbortedError('aborted', at),
      new Error('cannot read value file'),
      'a string',
    ];
    expect(inputFailures.map(exitCodeFor)).toEqual(inputFailures.map(() => EXIT.failed));
  });
});

describe('printError', () => {
  it('prints one error line, and a pointer to --help for a usage error', () => {
    const io = new RecordingIo();
    expect(printError(io, 'get', new TransportError('kv.get app/flag: cannot reach Consul', at))).toBe(2);
    expect(printError(io, 'put', new UsageError('missing <key>'))).toBe(1);
    expect(io.err).toBe(
      [
        'error: kv.get app/flag: cannot reach Consul',
        'error: missing <key>',
        'Run "consul-hotreload put --help" for usage.',
        '',
      ].join('\n'),
    );
    expect(io.out).toBe('');
  });
});

describe('stderrLogger', () => {
  it('prints warnings and errors on stderr and drops the rest', () => {
    const io = new RecordingIo();
    const logger = stderrLogger(io);
    logger.debug?.({}, 'debug');
    logger.info?.({}, 'info');
    logger.warn?.({ key: 'a' }, 'careful');
    logger.error?.({ key: 'a' }, 'broken');
    expect(io.err).toBe('warning: careful\nerror: broken\n');
  });
});
