/**
 * Consul's `?filter` over plain JSON answers: an expression is parsed (filter-parse.ts), checked against the
 * fields of the answer type as go-bexpr v0.1.2 checks a Go struct (selector, operator, value coercion, regexp),
 * then evaluated item by item; failures carry Consul's full text.
 * @module
 */
import { type FilterAst, type MatchOperator, parseExpression } from './filter-parse.js';
import { goQuote } from './go-strconv.js';

/**
 * The Go type of a selectable field, as bexpr derives its field configuration from reflection: strings, ints and
 * bools; slices (`list`); `map[string]X` (`map`, any key selects); structs. A field missing from the JSON item
 * is its Go zero value (`Port` omitted means `0`).
 */
export type FilterFieldType =
  | { readonly kind: 'string' | 'int' | 'bool' }
  | { readonly kind: 'list' | 'map'; readonly of: FilterFieldType }
  | { readonly kind: 'struct'; readonly fields: Readonly<Record<string, FilterFieldType>> };

/** The selectable fields of one answer item (the element type, not the list). */
export type FilterFields = Extract<FilterFieldType, { kind: 'struct' }>;

/** A parsed, checked filter; `evaluate` says whether an item is kept. */
export type ParsedFilter = { ok: true; evaluate(item: unknown): boolean } | { ok: false; error: string };

/** The items a filter kept, in their order, or Consul's error text for the expression. */
export type FilterResult<T> = { ok: true; items: T[] } | { ok: false; error: string };

const STRING: FilterFieldType = { kind: 'string' };
const INT: FilterFieldType = { kind: 'int' };
const BOOL: FilterFieldType = { kind: 'bool' };
const list = (of: FilterFieldType): FilterFieldType => ({ kind: 'list', of });
const map = (of: FilterFieldType): FilterFieldType => ({ kind: 'map', of });
const struct = (fields: Record<string, FilterFieldType>): FilterFields => ({ kind: 'struct', fields });

const MESH_GATEWAY = struct({ Mode: STRING });
const SERVICE_ADDRESS = struct({ Address: STRING, Port: INT });
const WEIGHTS = struct({ Passing: INT, Warning: INT });
const CONNECT = struct({ Native: BOOL });
const PROXY = struct({
  DestinationServiceID: STRING,
  DestinationServiceName: STRING,
  LocalServiceAddress: STRING,
  LocalServicePort: INT,
  Mode: STRING,
  TransparentProxy: struct({ OutboundListenerPort: INT }),
  MeshGateway: MESH_GATEWAY,
  Upstreams: list(
    struct({
      Datacenter: STRING,
      DestinationName: STRING,
      DestinationNamespace: STRING,
      DestinationType: STRING,
      LocalBindAddress: STRING,
      LocalBindPort: INT,
      MeshGateway: MESH_GATEWAY,
    }),
  ),
});

/** A `HealthCheck`: the items of `/v1/health/checks`, `/health/state`, `/health/node` (Consul docs: Health HTTP API). */
export const HEALTH_CHECK_FIELDS: FilterFields = struct({
  CheckID: STRING,
  Name: STRING,
  Node: STRING,
  Notes: STRING,
  Output: STRING,
  ServiceID: STRING,
  ServiceName: STRING,
  ServiceTags: list(STRING),
  Status: STRING,
});

/** A `Node`: the items of `/v1/catalog/nodes` (`agent/consul/catalog_endpoint.go` ListNodes). */
export const NODE_FIELDS: FilterFields = struct({
  ID: STRING,
  Node: STRING,
  Address: STRING,
  Datacenter: STRING,
  TaggedAddresses: map(STRING),
  Meta: map(STRING),
});

/**
 * An `api.AgentService`: the values of `/v1/agent/services` (`agent/agent_endpoint.go` AgentServices filters
 * the map's values). Fields bexpr skips (`CreateIndex`, `ModifyIndex`, `ContentHash`, `Datacenter`) are left out.
 */
export const AGENT_SERVICE_FIELDS: FilterFields = struct({
  Kind: STRING,
  ID: STRING,
  Service: STRING,
  Tags: list(STRING),
  Meta: map(STRING),
  Port: INT,
  Address: STRING,
  SocketPath: STRING,
  TaggedAddresses: map(SERVICE_ADDRESS),
  Weights: WEIGHTS,
  EnableTagOverride: BOOL,
  Proxy: PROXY,
  Connect: CONNECT,
  PeerName: STRING,
});

/** A `CheckServiceNode` (`{ Node, Service, Checks }`): the items of `/v1/health/service/<name>` (Consul docs). */
export const HEALTH_SERVICE_FIELDS: FilterFields = struct({
  Node: NODE_FIELDS,
  Service: struct({
    Kind: STRING,
    ID: STRING,
    Service: STRING,
    Tags: list(STRING),
    Address: STRING,
    TaggedAddresses: map(SERVICE_ADDRESS),
    Meta: map(STRING),
    Port: INT,
    Weights: WEIGHTS,
    EnableTagOverride: BOOL,
    Proxy: PROXY,
    Connect: CONNECT,
  }),
  Checks: list(HEALTH_CHECK_FIELDS),
});

/** A `ServiceNode`: the items of `/v1/catalog/service/<name>` (Consul docs: Catalog HTTP API). */
export const CATALOG_SERVICE_FIELDS: FilterFields = struct({
  ID: STRING,
  Node: STRING,
  Address: STRING,
  Datacenter: STRING,
  TaggedAddresses: map(STRING),
  NodeMeta: map(STRING),
  ServiceKind: STRING,
  ServiceID: STRING,
  ServiceName: STRING,
  ServiceTags: list(STRING),
  ServiceAddress: STRING,
  ServiceTaggedAddresses: map(SERVICE_ADDRESS),
  ServiceWeights: WEIGHTS,
  ServiceMeta: map(STRING),
  ServicePort: INT,
  ServiceEnableTagOverride: BOOL,
  ServiceProxy: PROXY,
  ServiceConnect: CONNECT,
});

// bexpr's filter.go wraps every parse and validation error in this.
const ERROR_PREFIX = 'Failed to create boolean expression evaluator: ';

type Primitive = 'string' | 'int' | 'bool';
type Expected = string | bigint | boolean;

const STRING_OPERATORS: readonly MatchOperator[] = [
  'Equal',
  'Not Equal',
  'In',
  'Not In',
  'Matches',
  'Not Matches',
];
const isPrimitive = (type: FilterFieldType): type is { kind: Primitive } =>
  type.kind === 'string' || type.kind === 'int' || type.kind === 'bool';

// bexpr field_config.go: what each kind of field supports.
function supportedOperators(type: FilterFieldType): readonly MatchOperator[] {
  switch (type.kind) {
    case 'string':
      return STRING_OPERATORS;
    case 'int':
    case 'bool':
      return ['Equal', 'Not Equal'];
    case 'list':
      return isPrimitive(type.of)
        ? ['In', 'Not In', 'Is Empty', 'Is Not Empty']
        : ['Is Empty', 'Is Not Empty'];
    case 'map':
      return ['Is Empty', 'Is Not Empty', 'In', 'Not In'];
    case 'struct':
      return [];
  }
}

// The next selector segment: a struct field, any key of a map, or a field of a list's structs.
function subfield(type: FilterFieldType, name: string): FilterFieldType | undefined {
  if (type.kind === 'struct') return Object.hasOwn(type.fields, name) ? type.fields[name] : undefined;
  if (type.kind === 'map') return type.of;
  if (type.kind === 'list' && !isPrimitive(type.of)) return subfield(type.of, name);
  return undefined;
}

// The Go kind a match value is coerced to: the field's, a primitive list's element's, a map's key (string).
function coercedKind(type: FilterFieldType): Primitive | undefined {
  if (isPrimitive(type)) return type.kind;
  if (type.kind === 'list' && isPrimitive(type.of)) return type.of.kind;
  if (type.kind === 'map') return 'string';
  return undefined;
}

// bexpr ast.go NotPresentDisposition: a missing map key equals nothing, contains nothing and is empty.
const WHEN_KEY_MISSING: Readonly<Record<MatchOperator, boolean>> = {
  Equal: false,
  'Not Equal': true,
  In: false,
  'Not In': true,
  'Is Empty': true,
  'Is Not Empty': false,
  Matches: false,
  'Not Matches': true,
};

type Predicate = (item: unknown) => boolean;

function compile(ast: FilterAst, fields: FilterFields): Predicate | string {
  if (ast.kind === 'match') return compileMatch(ast, fields);
  if (ast.kind === 'not') {
    const operand = compile(ast.operand, fields);
    return typeof operand === 'string' ? operand : (item) => !operand(item);
  }
  const left = compile(ast.left, fields);
  if (typeof left === 'string') return left;
  const right = compile(ast.right, fields);
  if (typeof right === 'string') return right;
  return ast.kind === 'and' ? (item) => left(item) && right(item) : (item) => left(item) || right(item);
}

// bexpr validate.go, in its order: selector, operator, value coercion, regular expression.
function compileMatch(
  match: Extract<FilterAst, { kind: 'match' }>,
  fields: FilterFields,
): Predicate | string {
  const { selector, operator, value: raw } = match;
  const quotedSelector = goQuote(selector.join('.'));
  let type: FilterFieldType = fields;
  for (const [i, name] of selector.entries()) {
    const next = subfield(type, name);
    if (next === undefined) return `Selector ${goQuote(selector.slice(0, i + 1).join('.'))} is not valid`;
    type = next;
  }
  if (!supportedOperators(type).includes(operator)) {
    return `Invalid match operator ${goQuote(operator)} for selector ${quotedSelector}`;
  }
  let expected: Expected = '';
  const kind = coercedKind(type);
  if (raw !== undefined && kind !== undefined) {
    const coerced = coerce(raw, kind);
    if (typeof coerced === 'object') {
      return `Failed to coerce value ${goQuote(raw)} for selector ${quotedSelector}: ${coerced.error}`;
    }
    expected = coerced;
  }
  let regexp: RegExp | undefined;
  if ((operator === 'Matches' || operator === 'Not Matches') && raw !== undefined) {
    const compiled = compileGoRegexp(raw);
    if (typeof compiled === 'string')
      return `Failed to compile regular expression ${goQuote(raw)}: ${compiled}`;
    regexp = compiled;
  }
  const test = (value: unknown, leaf: FilterFieldType): boolean => {
    switch (operator) {
      case 'Equal':
      case 'Not Equal':
        return equals(value, leaf, expected) === (operator === 'Equal');
      case 'In':
      case 'Not In':
        return contains(value, leaf, expected) === (operator === 'In');
      case 'Is Empty':
      case 'Is Not Empty':
        return (sizeOf(value) === 0) === (operator === 'Is Empty');
      case 'Matches':
      case 'Not Matches':
        return regexp?.test(stringOf(value)) === (operator === 'Matches');
    }
  };
  // bexpr evaluate.go: walk the selector; a list in the middle matches if any element does.
  const walk = (value: unknown, at: FilterFieldType, depth: number): boolean => {
    const name = selector[depth];
    if (name === undefined) return test(value, at);
    if (at.kind === 'list') return listOf(value).some((element) => walk(element, at.of, depth));
    if (at.kind === 'map') {
      const entry = recordOf(value)[name];
      return entry === undefined || entry === null
        ? WHEN_KEY_MISSING[operator]
        : walk(entry, at.of, depth + 1);
    }
    const next = subfield(at, name) as FilterFieldType;
    return walk(recordOf(value)[name], next, depth + 1);
  };
  return (item) => walk(item, fields, 0);
}

function equals(value: unknown, type: FilterFieldType, expected: Expected): boolean {
  if (type.kind === 'int') return intOf(value) === expected;
  if (type.kind === 'bool') return (value === true) === expected;
  return stringOf(value) === expected;
}

function contains(value: unknown, type: FilterFieldType, expected: Expected): boolean {
  if (type.kind === 'list') return listOf(value).some((element) => equals(element, type.of, expected));
  if (type.kind === 'map') return Object.hasOwn(recordOf(value), expected as string);
  return stringOf(value).includes(expected as string);
}

function sizeOf(value: unknown): number {
  return Array.isArray(value) ? value.length : Object.keys(recordOf(value)).length;
}

const stringOf = (value: unknown): string => (typeof value === 'string' ? value : '');
const listOf = (value: unknown): readonly unknown[] => (Array.isArray(value) ? value : []);
const recordOf = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
const intOf = (value: unknown): bigint =>
  typeof value === 'number' && Number.isInteger(value)
    ? BigInt(value)
    : typeof value === 'bigint'
      ? value
      : 0n;

function coerce(raw: string, kind: Primitive): Expected | { error: string } {
  if (kind === 'int') return parseGoInt(raw);
  if (kind === 'bool') return parseGoBool(raw);
  return raw;
}

const MAX_UINT64 = (1n << 64n) - 1n;
const INT64_CUTOFF = 1n << 63n;

/** Go's `strconv.ParseInt(s, 0, 64)` (bexpr's CoerceInt on a 64-bit server): base prefixes and `_` separators. */
export function parseGoInt(text: string): bigint | { error: string } {
  const failure = (reason: string) => ({ error: `strconv.ParseInt: parsing ${goQuote(text)}: ${reason}` });
  const negative = text.startsWith('-');
  const unsigned = negative || text.startsWith('+') ? text.slice(1) : text;
  if (unsigned === '') return failure('invalid syntax');
  let base = 10n;
  let digits = unsigned;
  if (unsigned[0] === '0') {
    const prefix = unsigned[1]?.toLowerCase();
    const prefixed = unsigned.length >= 3 && (prefix === 'b' || prefix === 'o' || prefix === 'x');
    base = !prefixed ? 8n : prefix === 'b' ? 2n : prefix === 'o' ? 8n : 16n;
    digits = unsigned.slice(prefixed ? 2 : 1);
  }
  let value = 0n;
  let underscores = false;
  for (const char of digits) {
    if (char === '_') {
      underscores = true;
      continue;
    }
    const digit = /^[0-9a-zA-Z]$/.test(char) ? BigInt(Number.parseInt(char, 36)) : base;
    if (digit >= base) return failure('invalid syntax');
    value = value * base + digit;
    if (value > MAX_UINT64) return failure('value out of range');
  }
  if (underscores && !underscoresOk(unsigned)) return failure('invalid syntax');
  if (negative ? value > INT64_CUTOFF : value >= INT64_CUTOFF) return failure('value out of range');
  return negative ? -value : value;
}

// Go's strconv underscoreOK: `_` only between digits, or right after a base prefix.
function underscoresOk(text: string): boolean {
  let saw = '^';
  let i = 0;
  const prefix = text[1]?.toLowerCase();
  const hex = prefix === 'x';
  if (text.length >= 2 && text[0] === '0' && (prefix === 'b' || prefix === 'o' || hex)) {
    i = 2;
    saw = '0';
  }
  for (; i < text.length; i++) {
    const char = (text[i] as string).toLowerCase();
    if ((char >= '0' && char <= '9') || (hex && char >= 'a' && char <= 'f')) {
      saw = '0';
    } else if (char === '_') {
      if (saw !== '0') return false;
      saw = '_';
    } else {
      if (saw === '_') return false;
      saw = '!';
    }
  }
  return saw !== '_';
}

const GO_BOOLS: Readonly<Record<string, boolean>> = {
  '1': true,
  t: true,
  T: true,
  TRUE: true,
  true: true,
  True: true,
  '0': false,
  f: false,
  F: false,
  FALSE: false,
  false: false,
  False: false,
};

/** Go's `strconv.ParseBool`. */
export function parseGoBool(text: string): boolean | { error: string } {
  const value = Object.hasOwn(GO_BOOLS, text) ? GO_BOOLS[text] : undefined;
  return value ?? { error: `strconv.ParseBool: parsing ${goQuote(text)}: invalid syntax` };
}

/**
 * A Go (RE2) pattern as a JS RegExp: leading `(?flags)` become RegExp flags, and the lookarounds and
 * backreferences RE2 refuses are refused. Other syntax errors get a generic text, not Go's exact one.
 */
function compileGoRegexp(pattern: string): RegExp | string {
  const flagged = /^\(\?([ims]+)\)/.exec(pattern);
  const unsupported = /\(\?<?[=!]|\\[1-9]/.exec(pattern);
  if (unsupported) return `error parsing regexp: invalid or unsupported Perl syntax: \`${unsupported[0]}\``;
  try {
    return new RegExp(
      flagged ? pattern.slice(flagged[0].length) : pattern,
      [...new Set(flagged?.[1])].join(''),
    );
  } catch {
    return `error parsing regexp: invalid regular expression: \`${pattern}\``;
  }
}

/**
 * Parses and checks a Consul filter expression against the fields of one answer item.
 * @param fields the item type, {@link HEALTH_SERVICE_FIELDS} (a `/v1/health/service` entry) by default.
 * @returns `evaluate`, or the text Consul answers with (status 400) for an expression it cannot parse, a
 *   selector that is not a field of the item, an operator the field does not support, or a value it cannot
 *   coerce (`Failed to create boolean expression evaluator: Selector "Foo" is not valid`).
 */
export function parseFilter(expression: string, fields: FilterFields = HEALTH_SERVICE_FIELDS): ParsedFilter {
  const parsed = parseExpression(expression);
  if (!parsed.ok) return { ok: false, error: ERROR_PREFIX + parsed.error };
  const predicate = compile(parsed.ast, fields);
  if (typeof predicate === 'string') return { ok: false, error: ERROR_PREFIX + predicate };
  return { ok: true, evaluate: predicate };
}

/**
 * Keeps the items the expression matches (docs/dev-server.md, Filter expressions). Consul filters after the
 * blocking wait, so a caller takes the index from the unfiltered items. An undefined or empty expression keeps
 * every item.
 */
export function applyFilter<T>(
  expression: string | undefined,
  items: readonly T[],
  fields: FilterFields = HEALTH_SERVICE_FIELDS,
): FilterResult<T> {
  if (expression === undefined || expression === '') return { ok: true, items: [...items] };
  const filter = parseFilter(expression, fields);
  if (!filter.ok) return filter;
  return { ok: true, items: items.filter((item) => filter.evaluate(item)) };
}
