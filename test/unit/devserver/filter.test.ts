import { describe, expect, it } from 'vitest';
import {
  applyFilter,
  CATALOG_SERVICE_FIELDS,
  HEALTH_CHECK_FIELDS,
  parseFilter,
  parseGoInt,
} from '../../../src/devserver/filter.js';

const PREFIX = 'Failed to create boolean expression evaluator: ';

const check = (CheckID: string, Status: string) => ({
  Node: 'node-a',
  CheckID,
  Name: CheckID,
  Status,
  ServiceTags: [],
});

// Health entries as /v1/health/service answers them; web-2 omits Port (Go omitempty: 0).
const entries = [
  {
    Node: { Node: 'node-a', Address: '10.0.0.1', Meta: { rack: 'r1' } },
    Service: { ID: 'web-1', Service: 'web', Tags: ['v1', 'primary'], Meta: { env: 'prod' }, Port: 8080 },
    Checks: [check('serfHealth', 'passing'), check('service:web-1', 'passing')],
  },
  {
    Node: { Node: 'node-b', Address: '10.0.0.2', Meta: {} },
    Service: { ID: 'web-2', Service: 'web', Tags: ['v2'], Meta: { env: 'staging', 'a-b': 'x' } },
    Checks: [check('serfHealth', 'passing'), check('service:web-2', 'critical')],
  },
  {
    Node: { Node: 'node-c', Address: '10.0.0.3' },
    Service: { ID: 'web-3', Service: 'web', Tags: [], Meta: {}, Port: 9090, EnableTagOverride: true },
    Checks: [],
  },
];

const ids = (expression: string): string[] | string => {
  const result = applyFilter(expression, entries);
  return result.ok ? result.items.map((entry) => entry.Service.ID) : result.error;
};

describe('parseFilter over health entries: what a service consumer filters on', () => {
  it.each<[string, string[]]>([
    ['Service.Tags contains "v1"', ['web-1']],
    ['Service.Tags contains v1', ['web-1']],
    ['"v1" in Service.Tags', ['web-1']],
    ['`v1` in Service.Tags', ['web-1']],
    ['"v1" not in Service.Tags', ['web-2', 'web-3']],
    ['Service.Tags not contains "v1"', ['web-2', 'web-3']],
    ['Service.Tags contains "V1"', []],
    ['Service.Tags is empty', ['web-3']],
    ['Service.Tags is not empty', ['web-1', 'web-2']],
    ['Service.Meta.env == "prod"', ['web-1']],
    ['Service.Meta.env == "PROD"', []],
    ['Service.Meta.env != "prod"', ['web-2', 'web-3']],
    ['Service.Meta["a-b"] == "x"', ['web-2']],
    ['Service.Meta[`a-b`] == x', ['web-2']],
    ['"a-b" in Service.Meta', ['web-2']],
    ['"env" in Service.Meta', ['web-1', 'web-2']],
    ['Service.Meta is empty', ['web-3']],
    ['Service.Meta.env matches "^pro"', ['web-1']],
    ['Service.Meta.env not matches "^pro"', ['web-2', 'web-3']],
    ['Node.Meta.rack == r1', ['web-1']],
    ['Node.Meta is empty', ['web-2', 'web-3']],
    ['Checks.Status == "critical"', ['web-2']],
    ['Checks.Status != "critical"', ['web-1', 'web-2']],
    ['not Checks.Status == critical', ['web-1', 'web-3']],
    ['Checks.CheckID == "service:web-1"', ['web-1']],
    ['Checks is empty', ['web-3']],
    ['Service.Port == 8080', ['web-1']],
    ['Service.Port == "8080"', ['web-1']],
    ['Service.Port == "0x1F90"', ['web-1']],
    ['Service.Port == 0', ['web-2']],
    ['Service.Port != 8080', ['web-2', 'web-3']],
    ['Service.EnableTagOverride == true', ['web-3']],
    ['Service.EnableTagOverride == F', ['web-1', 'web-2']],
    ['Service.ID matches "^web-[12]$"', ['web-1', 'web-2']],
    ['Service.ID matches "(?i)^WEB-3"', ['web-3']],
    ['"eb-" in Service.ID', ['web-1', 'web-2', 'web-3']],
    ['Service.ID == "web-1" or Service.ID == "web-3"', ['web-1', 'web-3']],
    ['Service.Service == web and Service.Tags contains v2', ['web-2']],
  ])('%s', (expression, expected) => {
    expect(ids(expression)).toEqual(expected);
  });
});

describe('parseFilter precedence: not binds tighter than and, and tighter than or', () => {
  it.each<[string, string[]]>([
    // or(prod, and(staging, 9090)); (prod or staging) and 9090 would keep nothing.
    ['Service.Meta.env == prod or Service.Meta.env == staging and Service.Port == 9090', ['web-1']],
    ['(Service.Meta.env == prod or Service.Meta.env == staging) and Service.Port == 8080', ['web-1']],
    // and(not prod, port 0); not(prod and port 0) would keep all three.
    ['not Service.Meta.env == prod and Service.Port == 0', ['web-2']],
    ['not (Service.Meta.env == prod and Service.Port == 0)', ['web-1', 'web-2', 'web-3']],
    ['not not Service.Meta.env == prod', ['web-1']],
    ['(Service.Meta.env == prod)', ['web-1']],
  ])('%s', (expression, expected) => {
    expect(ids(expression)).toEqual(expected);
  });
});

describe("parseFilter errors carry Consul's full text", () => {
  it.each<[string, string]>([
    // Texts seen from Consul (hashicorp/consul#7338, #9441) and go-bexpr's grammar tests.
    ['foo', '1:4 (3): no match found, expected: "!=", ".", "==", "[", [ \\t\\r\\n] or [a-zA-Z0-9_]'],
    ['Service.Address == 10.10.10.10', '1:25 (24): rule "number": Invalid number literal'],
    // A bare value must be a number literal, an identifier or a string: hex only quoted.
    ['Service.Port == 0x1F90', '1:18 (17): rule "number": Invalid number literal'],
    ['Service.ID == "web', '1:19 (18): rule "string": Unterminated string literal'],
    ['Service.ID == `web', '1:19 (18): rule "string": Unterminated string literal'],
    ['Service.Meta[3] == x', '1:14 (13): rule "index": Invalid index'],
    ['x in Service.Meta["env"', '1:24 (23): rule "index": Unclosed index expression'],
    ['x in 32', '1:6 (5): rule "match": Invalid selector'],
    ['32 == 32', '1:4 (3): no match found, expected: "in", "not" or [ \\t\\r\\n]'],
    ['Service.ID == x junk', '1:17 (16): no match found, expected: "and", "or", [ \\t\\r\\n] or EOF'],
    [
      'Service.ID == x and ',
      '1:21 (20): no match found, expected: "(", "-", "0", "\\"", "`", "not", [ \\t\\r\\n], [1-9] or [a-zA-Z]',
    ],
    ['(Service.ID == x', '1:17 (16): rule "grouping": Unmatched parentheses'],
    [
      '()',
      '1:2 (1): no match found, expected: "(", "-", "0", "\\"", "`", "not", [ \\t\\r\\n], [1-9] or [a-zA-Z]',
    ],
    ['Service.ID == "\\q"', '1:15 (14): rule "string": invalid syntax'],
    [
      'Service.Tags contains v1 AND Service.Port == 1',
      '1:26 (25): no match found, expected: "and", "or", [ \\t\\r\\n] or EOF',
    ],
    // Selectors are checked against the fields of the answer type (bexpr validate.go).
    ['Foo.Bar == 1', 'Selector "Foo" is not valid'],
    ['Service.Foo == 1', 'Selector "Service.Foo" is not valid'],
    ['Service.ID.Length == 1', 'Selector "Service.ID.Length" is not valid'],
    ['Service.CreateIndex == 1', 'Selector "Service.CreateIndex" is not valid'],
    ['Service == web', 'Invalid match operator "Equal" for selector "Service"'],
    ['Service.Meta.env is empty', 'Invalid match operator "Is Empty" for selector "Service.Meta.env"'],
    ['Service.Tags == v1', 'Invalid match operator "Equal" for selector "Service.Tags"'],
    ['Service.Port matches "80"', 'Invalid match operator "Matches" for selector "Service.Port"'],
    ['Checks == x', 'Invalid match operator "Equal" for selector "Checks"'],
    [
      'Service.Port == web',
      'Failed to coerce value "web" for selector "Service.Port": strconv.ParseInt: parsing "web": invalid syntax',
    ],
    [
      'Service.Port == 80.5',
      'Failed to coerce value "80.5" for selector "Service.Port": strconv.ParseInt: parsing "80.5": invalid syntax',
    ],
    [
      'Service.EnableTagOverride == yes',
      'Failed to coerce value "yes" for selector "Service.EnableTagOverride": strconv.ParseBool: parsing "yes": invalid syntax',
    ],
    [
      'Service.ID matches "(?=web)"',
      'Failed to compile regular expression "(?=web)": error parsing regexp: invalid or unsupported Perl syntax: `(?=`',
    ],
  ])('%s', (expression, detail) => {
    expect(parseFilter(expression)).toEqual({ ok: false, error: PREFIX + detail });
    expect(applyFilter(expression, entries)).toEqual({ ok: false, error: PREFIX + detail });
  });

  it('reports the first invalid selector, left to right', () => {
    expect(parseFilter('Service.ID == x and Foo == 1 or Bar == 2')).toEqual({
      ok: false,
      error: `${PREFIX}Selector "Foo" is not valid`,
    });
  });
});

describe('applyFilter', () => {
  it('keeps every item, in order and copied, when the expression is undefined or empty', () => {
    for (const expression of [undefined, '']) {
      const result = applyFilter(expression, entries);
      expect(result).toEqual({ ok: true, items: entries });
      expect(result.ok && result.items).not.toBe(entries);
    }
  });

  it('checks selectors against the fields of the endpoint it is given', () => {
    const catalog = [
      { ServiceID: 'web-1', ServiceTags: ['v1'], ServiceMeta: { env: 'prod' }, ServicePort: 8080 },
      { ServiceID: 'web-2', ServiceTags: ['v2'], ServiceMeta: {} },
    ];
    expect(applyFilter('ServiceTags contains v1', catalog, CATALOG_SERVICE_FIELDS)).toEqual({
      ok: true,
      items: [catalog[0]],
    });
    expect(applyFilter('ServiceMeta.env != prod', catalog, CATALOG_SERVICE_FIELDS)).toEqual({
      ok: true,
      items: [catalog[1]],
    });
    expect(applyFilter('Service.Tags contains v1', catalog, CATALOG_SERVICE_FIELDS)).toEqual({
      ok: false,
      error: `${PREFIX}Selector "Service" is not valid`,
    });
    const checks = [check('a', 'passing'), check('b', 'warning')];
    expect(applyFilter('Status == warning', checks, HEALTH_CHECK_FIELDS)).toEqual({
      ok: true,
      items: [checks[1]],
    });
  });

  it('parses once and evaluates any number of items', () => {
    const filter = parseFilter('Checks.Status == passing');
    expect(filter.ok && entries.map((entry) => filter.evaluate(entry))).toEqual([true, true, false]);
    expect(filter.ok && filter.evaluate({})).toBe(false);
  });
});

describe('parseGoInt (bexpr CoerceInt: strconv.ParseInt base 0, 64 bits)', () => {
  it.each<[string, bigint]>([
    ['8080', 8080n],
    ['-1', -1n],
    ['+7', 7n],
    ['0x1f', 31n],
    ['0o17', 15n],
    ['017', 15n],
    ['0b101', 5n],
    ['1_000', 1000n],
    ['9223372036854775807', 9223372036854775807n],
    ['-9223372036854775808', -9223372036854775808n],
  ])('parses %s', (text, value) => {
    expect(parseGoInt(text)).toBe(value);
  });

  it.each<[string, string]>([
    ['', 'invalid syntax'],
    ['08', 'invalid syntax'],
    ['1__0', 'invalid syntax'],
    ['_1', 'invalid syntax'],
    ['0x', 'invalid syntax'],
    ['9223372036854775808', 'value out of range'],
    ['99999999999999999999', 'value out of range'],
  ])('rejects %j', (text, reason) => {
    expect(parseGoInt(text)).toEqual({
      error: `strconv.ParseInt: parsing ${JSON.stringify(text)}: ${reason}`,
    });
  });
});
