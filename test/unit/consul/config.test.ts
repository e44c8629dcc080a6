import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { MockAgent } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type ConsulClientOptions,
  parseGoBool,
  type ResolvedClientConfig,
  resolveClientConfig,
} from '../../../src/consul/config.js';
import { ConfigurationError, InvalidArgumentError } from '../../../src/errors.js';

const TOKEN = 'f3a1c2d4-secret-token';
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'consul-config-test-'));
  writeFileSync(join(dir, 'token'), `  ${TOKEN}\n`);
  writeFileSync(join(dir, 'empty-token'), ' \n');
  writeFileSync(join(dir, 'ca.pem'), PEM);
  writeFileSync(join(dir, 'client.pem'), 'CLIENT CERT');
  writeFileSync(join(dir, 'client.key'), 'CLIENT KEY');
  mkdirSync(join(dir, 'cas', 'nested'), { recursive: true });
  writeFileSync(join(dir, 'cas', 'a.pem'), `${PEM}a`);
  writeFileSync(join(dir, 'cas', 'nested', 'b.pem'), `${PEM}b`);
  mkdirSync(join(dir, 'bad-cas'));
  writeFileSync(join(dir, 'bad-cas', 'notes.txt'), 'not a cert');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function resolve(options: ConsulClientOptions = {}): ResolvedClientConfig {
  return resolveClientConfig({ env: {}, ...options });
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe('resolveClientConfig defaults', () => {
  it('uses 127.0.0.1:8500 over HTTP with the documented defaults when nothing is set', () => {
    const config = resolve();
    expect(config).toEqual({
      address: 'http://127.0.0.1:8500',
      scheme: 'http',
      origin: 'http://127.0.0.1:8500',
      pathPrefix: '',
      socketPath: undefined,
      tls: { ca: undefined, cert: undefined, servername: undefined, verify: true },
      connections: 64,
      allowH2: false,
      requestTimeout: 30_000,
      maxResponseBytes: 64 * 1024 * 1024,
      dispatcher: undefined,
    });
    expect(config.token).toBeUndefined();
    expect(config.auth).toBeUndefined();
    expect(config.tls.key).toBeUndefined();
  });

  it('reads process.env when no env option is given', () => {
    vi.stubEnv('CONSUL_HTTP_ADDR', 'consul.example:8600');
    try {
      expect(resolveClientConfig().origin).toBe('http://consul.example:8600');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('address (consul-semantics §5 CONSUL_HTTP_ADDR)', () => {
  it.each([
    ['10.0.0.1:8500', 'http', 'http://10.0.0.1:8500', ''],
    ['consul', 'http', 'http://consul', ''],
    ['http://consul:8500', 'http', 'http://consul:8500', ''],
    ['https://consul:8501', 'https', 'https://consul:8501', ''],
    ['https://consul:8501/proxy/consul/', 'https', 'https://consul:8501', '/proxy/consul'],
    ['http://consul:8500/prefix', 'http', 'http://consul:8500', '/prefix'],
    ['[::1]:8500', 'http', 'http://[::1]:8500', ''],
  ])('parses %s from the environment', (value, scheme, origin, pathPrefix) => {
    const config = resolve({ env: { CONSUL_HTTP_ADDR: value } });
    expect({ scheme: config.scheme, origin: config.origin, pathPrefix: config.pathPrefix }).toEqual({
      scheme,
      origin,
      pathPrefix,
    });
    expect(config.socketPath).toBeUndefined();
  });

  it('connects to a unix socket for unix:///path.sock', () => {
    const config = resolve({ env: { CONSUL_HTTP_ADDR: 'unix:///run/consul/http.sock' } });
    expect(config).toMatchObject({
      address: 'unix:///run/consul/http.sock',
      origin: 'http://localhost',
      socketPath: '/run/consul/http.sock',
      scheme: 'http',
      pathPrefix: '',
    });
  });

  it('prefers the address option over CONSUL_HTTP_ADDR', () => {
    const config = resolve({ address: 'http://explicit:1', env: { CONSUL_HTTP_ADDR: 'env:2' } });
    expect(config.origin).toBe('http://explicit:1');
  });

  it('refuses an unknown scheme with the Go client message, naming where it came from', () => {
    const error = thrown(() => resolve({ env: { CONSUL_HTTP_ADDR: 'ftp://consul:21' } }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ code: 'CONSUL_CONFIG_INVALID', operation: 'config' });
    expect(error.message).toBe(
      'Unknown protocol scheme: ftp (in CONSUL_HTTP_ADDR; use host:port, http://, https:// or unix:///path.sock)',
    );
    const explicit = thrown(() => resolve({ address: 'tcp://x:1' }));
    expect(explicit.message).toBe(
      'Unknown protocol scheme: tcp (in the address option; use host:port, http://, https:// or unix:///path.sock)',
    );
  });

  it('refuses credentials in the address without echoing them', () => {
    const error = thrown(() => resolve({ address: 'http://user:hunter2@consul:8500' }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      'the address option: credentials in the address are not supported; use CONSUL_HTTP_AUTH or the auth option',
    );
  });

  it('refuses an address that is not host[:port] and a unix address without a path', () => {
    expect(thrown(() => resolve({ address: 'consul:port' })).message).toBe(
      "the address option: not a valid host[:port]: 'consul:port'",
    );
    expect(thrown(() => resolve({ env: { CONSUL_HTTP_ADDR: 'unix://' } })).message).toBe(
      'CONSUL_HTTP_ADDR: unix:// needs a socket path, e.g. unix:///run/consul.sock',
    );
  });

  it('ignores an empty CONSUL_HTTP_ADDR like the Go client', () => {
    expect(resolve({ env: { CONSUL_HTTP_ADDR: '' } }).origin).toBe('http://127.0.0.1:8500');
  });
});

describe('ssl (consul-semantics §5 CONSUL_HTTP_SSL)', () => {
  it.each(['1', 't', 'T', 'TRUE', 'true', 'True'])('switches to HTTPS for %s', (value) => {
    const config = resolve({ env: { CONSUL_HTTP_SSL: value, CONSUL_HTTP_ADDR: 'consul:8501' } });
    expect(config.origin).toBe('https://consul:8501');
    expect(config.scheme).toBe('https');
  });

  it.each(['0', 'f', 'F', 'FALSE', 'false', 'False'])('stays on HTTP for %s', (value) => {
    expect(resolve({ env: { CONSUL_HTTP_SSL: value } }).scheme).toBe('http');
  });

  it('stays on HTTP and warns for an unparseable value', () => {
    const warn = vi.fn();
    const config = resolveClientConfig({ env: { CONSUL_HTTP_SSL: 'yes' }, logger: { warn } });
    expect(config.scheme).toBe('http');
    expect(warn.mock.calls).toEqual([
      [
        { variable: 'CONSUL_HTTP_SSL' },
        'CONSUL_HTTP_SSL is not a boolean (1/0, t/f, true/false); using HTTP',
      ],
    ]);
  });

  it('never downgrades to HTTP for an http:// address when ssl is on (Go rule)', () => {
    expect(resolve({ env: { CONSUL_HTTP_SSL: 'true', CONSUL_HTTP_ADDR: 'http://consul:8501' } }).scheme).toBe(
      'https',
    );
  });

  it('lets an https:// address force TLS even with ssl false', () => {
    expect(resolve({ ssl: false, address: 'https://consul:8501' }).scheme).toBe('https');
  });

  it('prefers the ssl option over CONSUL_HTTP_SSL', () => {
    expect(resolve({ ssl: false, env: { CONSUL_HTTP_SSL: 'true' } }).scheme).toBe('http');
    expect(resolve({ ssl: true, env: { CONSUL_HTTP_SSL: 'false' } }).scheme).toBe('https');
  });
});

describe('token (consul-semantics §5 CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE)', () => {
  it('reads CONSUL_HTTP_TOKEN', () => {
    expect(resolve({ env: { CONSUL_HTTP_TOKEN: TOKEN } }).token).toBe(TOKEN);
  });

  it('reads the token file once, trimmed, and prefers it over CONSUL_HTTP_TOKEN', () => {
    const config = resolve({
      env: { CONSUL_HTTP_TOKEN: 'other-token', CONSUL_HTTP_TOKEN_FILE: join(dir, 'token') },
    });
    expect(config.token).toBe(TOKEN);
  });

  it('falls back to CONSUL_HTTP_TOKEN when the token file is blank', () => {
    const config = resolve({
      env: { CONSUL_HTTP_TOKEN: 'other-token', CONSUL_HTTP_TOKEN_FILE: join(dir, 'empty-token') },
    });
    expect(config.token).toBe('other-token');
  });

  it('prefers explicit token options over the environment, tokenFile over token', () => {
    const env = { CONSUL_HTTP_TOKEN: 'env-token', CONSUL_HTTP_TOKEN_FILE: join(dir, 'missing') };
    expect(resolve({ token: 'explicit-token', env }).token).toBe('explicit-token');
    expect(resolve({ token: 'explicit-token', tokenFile: join(dir, 'token'), env }).token).toBe(TOKEN);
  });

  it('treats an empty token option as unset (Go rule)', () => {
    expect(resolve({ token: '', env: { CONSUL_HTTP_TOKEN: 'env-token' } }).token).toBe('env-token');
  });

  it('fails with "Error loading token file" for an unreadable file, without any token', () => {
    const path = join(dir, 'missing-token');
    const error = thrown(() => resolve({ env: { CONSUL_HTTP_TOKEN: TOKEN, CONSUL_HTTP_TOKEN_FILE: path } }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      `Error loading token file: ${path} (from CONSUL_HTTP_TOKEN_FILE): ENOENT: no such file or directory, open '${path}'`,
    );
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(inspect(error, { depth: 5 })).not.toContain(TOKEN);
  });

  it('refuses a token that cannot be sent in a header, without echoing it', () => {
    const error = thrown(() => resolve({ token: 'bad token\n' }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      'the ACL token contains spaces or non-ASCII characters; it cannot be sent in a header',
    );
  });

  it('keeps the token and auth out of JSON and inspect output', () => {
    const config = resolve({ token: TOKEN, auth: `admin:${TOKEN}-pw` });
    expect(config.token).toBe(TOKEN);
    expect(JSON.stringify(config)).not.toContain(TOKEN);
    expect(inspect(config, { depth: 5 })).not.toContain(TOKEN);
  });

  it('hides token, auth and the TLS key from showHidden inspection, own property names and JSON', () => {
    const key = `-----BEGIN PRIVATE KEY-----\n${TOKEN}-key\n-----END PRIVATE KEY-----`;
    const config = resolve({ token: TOKEN, auth: `admin:${TOKEN}-pw`, tls: { cert: 'CERT', key } });
    for (const shown of [
      inspect(config, { depth: 10, showHidden: true }),
      inspect(config, { depth: 10, showHidden: true, getters: true }),
      JSON.stringify(config),
      JSON.stringify(Object.getOwnPropertyNames(config)),
      JSON.stringify(Object.getOwnPropertyNames(config.tls)),
    ]) {
      expect(shown).not.toContain(TOKEN);
      expect(shown).not.toContain('admin');
      expect(shown).not.toMatch(/\btoken\b|\bauth\b|\bkey\b/);
    }
    expect([config.token, config.auth, config.tls.key]).toEqual([
      TOKEN,
      { username: 'admin', password: `${TOKEN}-pw` },
      key,
    ]);
  });
});

describe('auth (consul-semantics §5 CONSUL_HTTP_AUTH)', () => {
  it('splits user:pass at the first colon', () => {
    expect(resolve({ env: { CONSUL_HTTP_AUTH: 'admin:pa:ss' } }).auth).toEqual({
      username: 'admin',
      password: 'pa:ss',
    });
  });

  it('takes a value without a colon as the user name only', () => {
    expect(resolve({ env: { CONSUL_HTTP_AUTH: 'admin' } }).auth).toEqual({ username: 'admin', password: '' });
  });

  it('prefers the auth option', () => {
    expect(resolve({ auth: 'me:x', env: { CONSUL_HTTP_AUTH: 'env:y' } }).auth).toEqual({
      username: 'me',
      password: 'x',
    });
  });
});

describe('TLS (consul-semantics §5 CONSUL_HTTP_SSL_VERIFY, CONSUL_CACERT, CONSUL_CAPATH, client cert/key, server name)', () => {
  it('turns verification off for a false CONSUL_HTTP_SSL_VERIFY', () => {
    expect(resolve({ env: { CONSUL_HTTP_SSL_VERIFY: 'false' } }).tls.verify).toBe(false);
    expect(resolve({ env: { CONSUL_HTTP_SSL_VERIFY: '0' } }).tls.verify).toBe(false);
    expect(resolve({ env: { CONSUL_HTTP_SSL_VERIFY: 'true' } }).tls.verify).toBe(true);
  });

  it('keeps verification on for an unparseable CONSUL_HTTP_SSL_VERIFY and warns (unlike the Go client)', () => {
    const warn = vi.fn();
    const config = resolveClientConfig({ env: { CONSUL_HTTP_SSL_VERIFY: 'nope' }, logger: { warn } });
    expect(config.tls.verify).toBe(true);
    expect(warn.mock.calls).toEqual([
      [
        { variable: 'CONSUL_HTTP_SSL_VERIFY' },
        'CONSUL_HTTP_SSL_VERIFY is not a boolean (1/0, t/f, true/false); keeping TLS verification on',
      ],
    ]);
  });

  it('prefers tls.verify over CONSUL_HTTP_SSL_VERIFY', () => {
    expect(resolve({ tls: { verify: true }, env: { CONSUL_HTTP_SSL_VERIFY: 'false' } }).tls.verify).toBe(
      true,
    );
  });

  it('reads the CA file named by CONSUL_CACERT and every file under CONSUL_CAPATH', () => {
    const config = resolve({
      env: { CONSUL_CACERT: join(dir, 'ca.pem'), CONSUL_CAPATH: join(dir, 'cas') },
    });
    expect(config.tls.ca?.map((ca) => ca.toString())).toEqual([PEM, `${PEM}a`, `${PEM}b`]);
  });

  it('prefers tls.ca contents over CONSUL_CACERT', () => {
    const config = resolve({ tls: { ca: 'EXPLICIT' }, env: { CONSUL_CACERT: join(dir, 'missing.pem') } });
    expect(config.tls.ca).toEqual(['EXPLICIT']);
  });

  it('fails clearly for an unreadable CA file or a CA path without certificates', () => {
    const missing = join(dir, 'missing.pem');
    expect(thrown(() => resolve({ env: { CONSUL_CACERT: missing } })).message).toBe(
      `Error loading CA file: ${missing} (from CONSUL_CACERT): ENOENT: no such file or directory, open '${missing}'`,
    );
    const bad = join(dir, 'bad-cas');
    const error = thrown(() => resolve({ env: { CONSUL_CAPATH: bad } }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      `Error loading CA path: ${join(bad, 'notes.txt')} (from CONSUL_CAPATH) holds no PEM certificate`,
    );
  });

  it('reads the client certificate and key files', () => {
    const config = resolve({
      env: { CONSUL_CLIENT_CERT: join(dir, 'client.pem'), CONSUL_CLIENT_KEY: join(dir, 'client.key') },
    });
    expect(config.tls.cert?.toString()).toBe('CLIENT CERT');
    expect(config.tls.key?.toString()).toBe('CLIENT KEY');
    expect(Object.keys(config.tls)).not.toContain('key');
  });

  it.each([
    [{ CONSUL_CLIENT_CERT: 'client.pem' }, 'certificate'],
    [{ CONSUL_CLIENT_KEY: 'client.key' }, 'key'],
  ])('requires both client cert and key (%j)', (vars, got) => {
    const env = Object.fromEntries(Object.entries(vars).map(([name, file]) => [name, join(dir, file)]));
    const error = thrown(() => resolve({ env }));
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.message).toBe(
      `both client cert and client key must be provided (got only the ${got}; check tls.cert/tls.key or CONSUL_CLIENT_CERT/CONSUL_CLIENT_KEY)`,
    );
  });

  it.each([
    ['consul.service:8501', 'consul.service'],
    ['consul.service', 'consul.service'],
    ['[::1]:8501', '::1'],
    ['::1', '::1'],
  ])('takes the server name from CONSUL_TLS_SERVER_NAME %s without its port', (value, expected) => {
    expect(resolve({ env: { CONSUL_TLS_SERVER_NAME: value } }).tls.servername).toBe(expected);
  });

  it('prefers tls.servername over CONSUL_TLS_SERVER_NAME', () => {
    expect(resolve({ tls: { servername: 'a:1' }, env: { CONSUL_TLS_SERVER_NAME: 'b' } }).tls.servername).toBe(
      'a',
    );
  });

  it('warns that tls options are ignored over HTTP', () => {
    const warn = vi.fn();
    resolveClientConfig({ env: {}, tls: { verify: false }, logger: { warn } });
    expect(warn.mock.calls).toEqual([
      [{ address: '127.0.0.1:8500' }, 'tls options are ignored because the Consul address uses HTTP'],
    ]);
  });
});

describe('datacenter, namespace and partition (consul-semantics §5 CONSUL_NAMESPACE, CONSUL_PARTITION)', () => {
  it('reads namespace and partition from the environment, datacenter only from options', () => {
    const config = resolve({
      datacenter: 'dc2',
      env: { CONSUL_NAMESPACE: 'team-a', CONSUL_PARTITION: 'part-1', CONSUL_DATACENTER: 'ignored' },
    });
    expect([config.datacenter, config.namespace, config.partition]).toEqual(['dc2', 'team-a', 'part-1']);
  });

  it('prefers the options over the environment', () => {
    const config = resolve({
      namespace: 'ns-opt',
      partition: 'p-opt',
      env: { CONSUL_NAMESPACE: 'team-a', CONSUL_PARTITION: 'part-1' },
    });
    expect([config.namespace, config.partition]).toEqual(['ns-opt', 'p-opt']);
  });

  it('leaves them unset when not configured', () => {
    const config = resolve();
    expect('datacenter' in config || 'namespace' in config || 'partition' in config).toBe(false);
  });
});

describe('option validation', () => {
  it('keeps an injected dispatcher', () => {
    const agent = new MockAgent();
    expect(resolve({ dispatcher: agent }).dispatcher).toBe(agent);
  });

  it.each([
    [{ connections: 0 }, 'ConsulClient option connections must be a positive integer'],
    [{ connections: 1.5 }, 'ConsulClient option connections must be a positive integer'],
    [{ requestTimeout: 0 }, 'ConsulClient option requestTimeout must be a positive number of milliseconds'],
    [
      { requestTimeout: Number.NaN },
      'ConsulClient option requestTimeout must be a positive number of milliseconds',
    ],
    [
      { requestTimeout: 3e9 },
      'ConsulClient option requestTimeout must be at most 2147483647 ms (about 24.8 days, the longest a Node.js timer can wait); got 3000000000',
    ],
    [{ maxResponseBytes: -1 }, 'ConsulClient option maxResponseBytes must be a positive integer'],
    [{ address: '' }, 'ConsulClient option address must be a non-empty string'],
    [{ address: 8500 }, 'ConsulClient option address must be a string'],
    [{ token: 42 }, 'ConsulClient option token must be a string'],
    [{ ssl: 'yes' }, 'ConsulClient option ssl must be a boolean'],
    [{ allowH2: 1 }, 'ConsulClient option allowH2 must be a boolean'],
    [{ dispatcher: {} }, 'ConsulClient option dispatcher must be an undici Dispatcher'],
    [{ tls: { ca: 5 } }, 'ConsulClient option tls.ca must be a PEM string or Buffer'],
    [{ tls: { verify: 'no' } }, 'ConsulClient option tls.verify must be a boolean'],
    [{ env: null }, 'ConsulClient option env must be an object'],
  ])('throws InvalidArgumentError for %j', (options, message) => {
    // A timer past 2^31-1 ms fires after 1 ms in Node.js, so requestTimeout: 3e9 used to time out at once.
    const error = thrown(() => resolveClientConfig({ env: {}, ...(options as ConsulClientOptions) }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe(message);
  });
});

describe('parseGoBool', () => {
  it('accepts exactly the forms of Go strconv.ParseBool', () => {
    const forms = [
      '1',
      't',
      'T',
      'TRUE',
      'true',
      'True',
      '0',
      'f',
      'F',
      'FALSE',
      'false',
      'False',
      'yes',
      'tRUE',
      '',
    ];
    expect(forms.map(parseGoBool)).toEqual([
      true,
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
      false,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
