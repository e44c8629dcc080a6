import { describe, expect, it } from 'vitest';
import { decodeServiceRegistration } from '../../../src/devserver/service-definition.js';

const decode = (body: string) => decodeServiceRegistration(Buffer.from(body));
const text = (body: string) => {
  const result = decode(body);
  return result.ok ? 'ok' : `${result.status} ${result.text}`;
};

describe('service definitions (consul-semantics §S1.2, §S1.3)', () => {
  it('refuses an empty body and unknown fields with Go decode texts', () => {
    expect(text('')).toBe('400 Request decode failed: EOF');
    expect(text('{"Name":"web","Nope":1}')).toBe('400 Request decode failed: json: unknown field "Nope"');
  });

  // consul-semantics §S9.2: ServiceDefinition and CheckType decode through their own UnmarshalJSON into an
  // anonymous struct, so Go names no struct for their fields; a plain nested struct is named.
  it('names mistyped fields as Go 1.22+ does through the anonymous decoding structs', () => {
    const mistyped = (body: string) =>
      text(body).replace('400 Request decode failed: json: cannot unmarshal ', '');
    expect(mistyped('{"Name":"web","Port":"80"}')).toBe('string into Go struct field .Port of type int');
    expect(mistyped('{"Name":"web","Port":1.5}')).toBe('number 1.5 into Go struct field .Port of type int');
    expect(mistyped('{"Name":5}')).toBe('number into Go struct field .Name of type string');
    expect(mistyped('{"Name":"w","Tags":["a",1]}')).toBe('number into Go struct field .Tags of type string');
    expect(mistyped('{"Name":"w","Tags":"a"}')).toBe('string into Go struct field .Tags of type []string');
    expect(mistyped('{"Name":"w","Meta":{"a":true}}')).toBe('bool into Go struct field .Meta of type string');
    expect(mistyped('{"Name":"w","Weights":{"Passing":"1"}}')).toBe(
      'string into Go struct field Weights.Weights.Passing of type int',
    );
    expect(mistyped('{"Name":"w","Check":{"Name":1}}')).toBe(
      'number into Go struct field .Check.Name of type string',
    );
    expect(mistyped('{"Name":"w","Checks":[{"HTTP":false}]}')).toBe(
      'bool into Go struct field .Checks.HTTP of type string',
    );
    expect(mistyped('{"Name":"w","Checks":{}}')).toBe(
      'object into Go struct field .Checks of type structs.CheckTypes',
    );
  });

  it("answers malformed JSON with the Go decoder's syntax texts and ignores what follows the value", () => {
    expect(text('   ')).toBe('400 Request decode failed: EOF');
    expect(text('{"Name":"web"')).toBe('400 Request decode failed: unexpected EOF');
    expect(text('{Name:"web"}')).toBe(
      "400 Request decode failed: invalid character 'N' looking for beginning of object key string",
    );
    expect(text('{"Name":"web",}')).toBe(
      "400 Request decode failed: invalid character '}' looking for beginning of object key string",
    );
    expect(text('{"Name" "web"}')).toBe("400 Request decode failed: invalid character '\"' after object key");
    expect(text('{"Name":"web" "Port":1}')).toBe(
      "400 Request decode failed: invalid character '\"' after object key:value pair",
    );
    expect(text('{"Name":tru}')).toBe(
      "400 Request decode failed: invalid character '}' in literal true (expecting 'e')",
    );
    expect(text('{"Name":"web"} trailing')).toBe('ok');
  });

  it('validates in Consul order with its texts', () => {
    expect(text('{"Port":1}')).toBe('400 Missing service name');
    expect(text('{"Name":"w","Address":"0.0.0.0"}')).toBe('400 Invalid service address');
    expect(text('{"Name":"w","Weights":{"Passing":0,"Warning":1}}')).toBe(
      '400 Invalid Weights: Passing must be greater than 0',
    );
    expect(text('{"Name":"w","Meta":{"consul-x":"v"}}')).toBe(
      "400 Invalid Service Meta: Couldn't load metadata pair ('consul-x', 'v'): Key prefix 'consul-' is reserved for internal use",
    );
    expect(text('{"Name":"w","Check":{"TTL":"10s","Interval":"10s"}}')).toBe(
      '400 Invalid check: Interval and TTL cannot both be specified',
    );
    expect(text('{"Name":"w","Check":{"HTTP":"http://x"}}')).toBe(
      '400 Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks',
    );
    expect(text('{"Name":"w","Check":{"TTL":"10s","Status":"ok"}}')).toBe(
      "400 Status for checks must 'passing', 'warning', 'critical'",
    );
  });

  it('accepts lower-case keys, snake_case aliases and nanosecond numbers', () => {
    const result = decode(
      '{"name":"web","enable_tag_override":true,"check":{"ttl":10000000000,"deregister_critical_service_after":"1m"}}',
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.enableTagOverride).toBe(true);
    expect(result.value.checks[0]).toMatchObject({
      checkId: 'service:web',
      name: "Service 'web' check",
      ttlMs: 10_000,
      deregisterCriticalServiceAfterMs: 60_000,
      type: 'ttl',
    });
  });

  it('defaults ID to Name, Weights to {1,1} and adds tagged addresses for an IP address', () => {
    const result = decode('{"Name":"web","Address":"10.0.0.1","Port":80}');
    expect(result.ok && result.value).toMatchObject({
      id: 'web',
      weights: { passing: 1, warning: 1 },
      taggedAddresses: {
        lan_ipv4: { Address: '10.0.0.1', Port: 80 },
        wan_ipv4: { Address: '10.0.0.1', Port: 80 },
      },
    });
  });
});
