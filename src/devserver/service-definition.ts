/**
 * Decoding and validating agent service and check definitions the way Consul's agent does: strict JSON with
 * Go's error texts, case-insensitive keys and snake_case aliases, durations as strings or nanoseconds, then
 * the validation texts in Consul's order (consul-semantics §S1.2, §S1.3, §S2.1).
 * @module
 */
import { scanGoJson } from './go-json-syntax.js';
import { goQuote, parseGoDuration } from './go-strconv.js';

/** A check status Consul accepts. */
export type CheckStatus = 'passing' | 'warning' | 'critical';

/** What a check definition says about how the check runs (Consul's CheckType). */
export interface CheckSpec {
  readonly checkId: string;
  readonly name: string;
  readonly status: string;
  readonly notes: string;
  readonly http: string;
  readonly header: Readonly<Record<string, readonly string[]>>;
  readonly method: string;
  readonly body: string;
  readonly disableRedirects: boolean;
  readonly tcp: string;
  readonly tlsSkipVerify: boolean;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly ttlMs: number;
  readonly successBeforePassing: number;
  readonly failuresBeforeWarning: number;
  readonly failuresBeforeCritical: number;
  readonly deregisterCriticalServiceAfterMs: number;
  readonly outputMaxSize: number;
  /** The Consul check type (`ttl`, `http`, `tcp`…) or `''` when the definition names none. */
  readonly type: string;
}

/** A decoded, validated `PUT /v1/agent/service/register` body. */
export interface ServiceRegistration {
  readonly id: string;
  readonly name: string;
  readonly tags: readonly string[];
  readonly address: string;
  readonly taggedAddresses: Readonly<Record<string, { Address: string; Port: number }>>;
  readonly meta: Readonly<Record<string, string>>;
  readonly port: number;
  readonly kind: string;
  readonly enableTagOverride: boolean;
  readonly weights: { readonly passing: number; readonly warning: number };
  readonly checks: readonly CheckSpec[];
}

/** A decoded, validated `PUT /v1/agent/check/register` body. */
export interface CheckRegistration extends CheckSpec {
  readonly serviceId: string;
}

/** Decoding or validation failed: the HTTP status and Consul's text. */
export interface DefinitionError {
  readonly ok: false;
  readonly status: number;
  readonly text: string;
}

type Decoded<T> = { ok: true; value: T } | DefinitionError;

type FieldKind =
  | 'string'
  | 'int'
  | 'bool'
  | 'strings'
  | 'stringMap'
  | 'headers'
  | 'duration'
  | 'opaque'
  | StructSpec
  | { readonly arrayOf: StructSpec };

interface StructSpec {
  readonly goName: string;
  readonly fields: Readonly<Record<string, FieldKind>>;
  /**
   * Consul gives the type its own `UnmarshalJSON` that decodes into an anonymous struct (ServiceDefinition,
   * CheckType, CheckDefinition), so Go's errors name no struct for its fields (`Go struct field .Port`).
   */
  readonly custom?: boolean;
}

/**
 * Where a value sits, for Go's type-error text (Go 1.22+ `addErrorContext`): the struct Go names and the
 * field path. Below a nested custom type the outer frame's struct name wins (`locked`).
 */
interface PathContext {
  readonly struct: string;
  readonly stack: readonly string[];
  readonly locked: boolean;
}

function topContext(spec: StructSpec): PathContext {
  return { struct: spec.custom === true ? '' : spec.goName, stack: [], locked: false };
}

function enter(ctx: PathContext, field: string, spec?: StructSpec): PathContext {
  const stack = [...ctx.stack, field];
  if (spec === undefined || ctx.locked) return { ...ctx, stack };
  if (spec.custom === true) return { struct: ctx.struct, stack, locked: true };
  return { struct: spec.goName, stack, locked: false };
}

function structOf(kind: FieldKind): StructSpec | undefined {
  if (typeof kind !== 'object') return undefined;
  return 'arrayOf' in kind ? kind.arrayOf : kind;
}

const WEIGHTS: StructSpec = { goName: 'Weights', fields: { Passing: 'int', Warning: 'int' } };

const CHECK_TYPE_FIELDS: Record<string, FieldKind> = {
  CheckID: 'string',
  Name: 'string',
  Status: 'string',
  Notes: 'string',
  ScriptArgs: 'strings',
  HTTP: 'string',
  Header: 'headers',
  Method: 'string',
  Body: 'string',
  DisableRedirects: 'bool',
  TCP: 'string',
  TCPUseTLS: 'bool',
  UDP: 'string',
  Interval: 'duration',
  AliasNode: 'string',
  AliasService: 'string',
  DockerContainerID: 'string',
  Shell: 'string',
  GRPC: 'string',
  GRPCUseTLS: 'bool',
  H2PING: 'string',
  H2PingUseTLS: 'bool',
  OSService: 'string',
  TLSServerName: 'string',
  TLSSkipVerify: 'bool',
  Timeout: 'duration',
  TTL: 'duration',
  SuccessBeforePassing: 'int',
  FailuresBeforeWarning: 'int',
  FailuresBeforeCritical: 'int',
  ProxyHTTP: 'string',
  ProxyGRPC: 'string',
  DeregisterCriticalServiceAfter: 'duration',
  OutputMaxSize: 'int',
};

const CHECK_TYPE: StructSpec = { goName: 'CheckType', fields: CHECK_TYPE_FIELDS, custom: true };

const CHECK_DEFINITION: StructSpec = {
  goName: 'CheckDefinition',
  custom: true,
  fields: { ...CHECK_TYPE_FIELDS, ID: 'string', ServiceID: 'string', Token: 'string' },
};

const SERVICE_DEFINITION: StructSpec = {
  goName: 'ServiceDefinition',
  custom: true,
  fields: {
    ID: 'string',
    Name: 'string',
    Tags: 'strings',
    Address: 'string',
    TaggedAddresses: 'opaque',
    Meta: 'stringMap',
    Port: 'int',
    SocketPath: 'string',
    Kind: 'string',
    EnableTagOverride: 'bool',
    Weights: WEIGHTS,
    Check: CHECK_TYPE,
    Checks: { arrayOf: CHECK_TYPE },
    Proxy: 'opaque',
    Connect: 'opaque',
    Token: 'string',
    Locality: 'opaque',
  },
};

class DecodeFailure extends Error {}

/** `EnableTagOverride` → `enable_tag_override`, `TTL` → `ttl`, `TLSSkipVerify` → `tls_skip_verify`. */
function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

/** Lower-cased Go name or snake alias → Go name, per struct (consul-semantics §S1.2: keys match case-insensitively). */
const lookupTables = new WeakMap<StructSpec, Map<string, string>>();

function fieldLookup(spec: StructSpec): Map<string, string> {
  let table = lookupTables.get(spec);
  if (table === undefined) {
    table = new Map();
    for (const name of Object.keys(spec.fields)) {
      table.set(name.toLowerCase(), name);
      table.set(snakeCase(name), name);
    }
    lookupTables.set(spec, table);
  }
  return table;
}

function jsonTypeOf(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'boolean') return 'bool';
  return typeof value === 'object' ? 'object' : typeof value;
}

const GO_TYPE: Record<string, string> = {
  string: 'string',
  int: 'int',
  bool: 'bool',
  strings: '[]string',
  stringMap: 'map[string]string',
  headers: 'map[string][]string',
  duration: 'time.Duration',
};

/**
 * Go's UnmarshalTypeError text. A number says `number` for a non-numeric target and `number <literal>` for an
 * int it does not fit; a list or map element names the element's type.
 */
function typeError(value: unknown, ctx: PathContext, goType: string): DecodeFailure {
  const found =
    typeof value === 'number' ? (goType === 'int' ? `number ${value}` : 'number') : jsonTypeOf(value);
  const path = `${ctx.struct}.${ctx.stack.join('.')}`;
  return new DecodeFailure(`json: cannot unmarshal ${found} into Go struct field ${path} of type ${goType}`);
}

function decodeStrings(value: unknown, ctx: PathContext, listType: string): unknown {
  if (!Array.isArray(value)) throw typeError(value, ctx, listType);
  const wrong = value.find((item) => item !== null && typeof item !== 'string');
  if (wrong !== undefined) throw typeError(wrong, ctx, 'string');
  return value;
}

function decodeField(kind: FieldKind, value: unknown, ctx: PathContext): unknown {
  if (value === null) return undefined; // Go leaves the zero value for null.
  if (typeof kind === 'object') {
    if ('arrayOf' in kind) {
      if (!Array.isArray(value)) throw typeError(value, ctx, `structs.${kind.arrayOf.goName}s`);
      return value.map((item) => (item === null ? undefined : decodeStruct(kind.arrayOf, item, ctx)));
    }
    return decodeStruct(kind, value, ctx);
  }
  const fail = () => typeError(value, ctx, GO_TYPE[kind] ?? kind);
  switch (kind) {
    case 'string':
      if (typeof value !== 'string') throw fail();
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw fail();
      return value;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw fail();
      return value;
    case 'strings':
      return decodeStrings(value, ctx, '[]string');
    case 'stringMap': {
      if (jsonTypeOf(value) !== 'object') throw fail();
      const wrong = Object.values(value as object).find((item) => item !== null && typeof item !== 'string');
      if (wrong !== undefined) throw typeError(wrong, ctx, 'string');
      return value;
    }
    case 'headers':
      if (jsonTypeOf(value) !== 'object') throw fail();
      for (const item of Object.values(value as object)) {
        if (item !== null) decodeStrings(item, ctx, '[]string');
      }
      return value;
    case 'duration':
      return decodeDuration(value);
    case 'opaque':
      return value;
  }
}

/**
 * consul-semantics §S1.2: a duration is a Go duration string or a JSON number of nanoseconds; returns ms.
 * Consul decodes it into an `interface{}` first, so any other JSON type is simply no duration.
 */
function decodeDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return value / 1e6;
  if (typeof value !== 'string') return undefined;
  const ms = parseGoDuration(value);
  if (ms === undefined) throw new DecodeFailure(`time: invalid duration ${goQuote(value)}`);
  return ms;
}

function decodeStruct(spec: StructSpec, value: unknown, ctx: PathContext): Record<string, unknown> {
  if (jsonTypeOf(value) !== 'object') throw typeError(value, ctx, `structs.${spec.goName}`);
  const lookup = fieldLookup(spec);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const name = spec.fields[key] === undefined ? lookup.get(key.toLowerCase()) : key;
    if (name === undefined) throw new DecodeFailure(`json: unknown field ${JSON.stringify(key)}`);
    const kind = spec.fields[name] as FieldKind;
    const decoded = decodeField(kind, item, enter(ctx, name, structOf(kind)));
    if (decoded !== undefined) out[name] = decoded;
  }
  return out;
}

/** Parses and strictly decodes a request body; an empty body is Go's `EOF`. */
function decodeBody(body: Buffer, spec: StructSpec): Decoded<Record<string, unknown>> {
  const fail = (why: string): DefinitionError => ({
    ok: false,
    status: 400,
    text: `Request decode failed: ${why}`,
  });
  // consul-semantics §S9.2: Go's Decoder reads one value and reports its scanner's text for bad syntax.
  const scan = scanGoJson(body);
  if (!scan.ok) return fail(scan.error);
  const parsed: unknown = JSON.parse(body.subarray(0, scan.end).toString('utf8'));
  try {
    return { ok: true, value: decodeStruct(spec, parsed, topContext(spec)) };
  } catch (error) {
    if (error instanceof DecodeFailure) return fail(error.message);
    throw error;
  }
}

const str = (fields: Record<string, unknown>, name: string): string => (fields[name] as string) ?? '';
const num = (fields: Record<string, unknown>, name: string): number => (fields[name] as number) ?? 0;
const bool = (fields: Record<string, unknown>, name: string): boolean => (fields[name] as boolean) ?? false;

/** Consul's CheckType.Type(): the first kind of probe the definition names. */
function checkTypeOf(fields: Record<string, unknown>): string {
  if (num(fields, 'TTL') > 0) return 'ttl';
  if (str(fields, 'HTTP') !== '') return 'http';
  if (str(fields, 'TCP') !== '') return 'tcp';
  if (str(fields, 'UDP') !== '') return 'udp';
  if (str(fields, 'GRPC') !== '') return 'grpc';
  if (str(fields, 'H2PING') !== '') return 'h2ping';
  if (str(fields, 'AliasService') !== '' || str(fields, 'AliasNode') !== '') return 'alias';
  if (str(fields, 'DockerContainerID') !== '') return 'docker';
  if (str(fields, 'OSService') !== '') return 'os_service';
  if (((fields.ScriptArgs as string[] | undefined) ?? []).length > 0) return 'script';
  return '';
}

function checkSpecOf(fields: Record<string, unknown>, checkId: string): CheckSpec {
  const failuresBeforeCritical = num(fields, 'FailuresBeforeCritical');
  return {
    checkId,
    name: str(fields, 'Name'),
    status: str(fields, 'Status'),
    notes: str(fields, 'Notes'),
    http: str(fields, 'HTTP'),
    header: (fields.Header as Record<string, string[]>) ?? {},
    method: str(fields, 'Method'),
    body: str(fields, 'Body'),
    disableRedirects: bool(fields, 'DisableRedirects'),
    tcp: str(fields, 'TCP'),
    tlsSkipVerify: bool(fields, 'TLSSkipVerify'),
    intervalMs: num(fields, 'Interval'),
    timeoutMs: num(fields, 'Timeout'),
    ttlMs: num(fields, 'TTL'),
    successBeforePassing: num(fields, 'SuccessBeforePassing'),
    // consul-semantics §S2.4: FailuresBeforeWarning defaults to FailuresBeforeCritical.
    failuresBeforeWarning:
      fields.FailuresBeforeWarning === undefined
        ? failuresBeforeCritical
        : num(fields, 'FailuresBeforeWarning'),
    failuresBeforeCritical,
    deregisterCriticalServiceAfterMs: num(fields, 'DeregisterCriticalServiceAfter'),
    outputMaxSize: num(fields, 'OutputMaxSize'),
    type: checkTypeOf(fields),
  };
}

/** Consul's CheckType.Validate(): the texts after `Invalid check: ` (consul-semantics §S1.3). */
function checkProblem(fields: Record<string, unknown>): string | undefined {
  const interval = num(fields, 'Interval');
  const ttl = num(fields, 'TTL');
  const type = checkTypeOf(fields);
  if (interval > 0 && ttl > 0) return 'Interval and TTL cannot both be specified';
  const intervalType = ['http', 'tcp', 'udp', 'grpc', 'h2ping', 'script', 'os_service'].includes(type);
  if (intervalType && interval <= 0) {
    return 'Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks';
  }
  if (fields.TTL !== undefined && type === '' && ttl <= 0) return 'TTL must be > 0 for TTL checks';
  const critical = num(fields, 'FailuresBeforeCritical');
  if (fields.FailuresBeforeWarning !== undefined && num(fields, 'FailuresBeforeWarning') > critical) {
    return "FailuresBeforeWarning can't be higher than FailuresBeforeCritical";
  }
  if (num(fields, 'OutputMaxSize') < 0) return 'MaxOutputMaxSize must be positive';
  return undefined;
}

const STATUS_TEXT = "Status for checks must 'passing', 'warning', 'critical'";
const VALID_STATUS = new Set(['passing', 'warning', 'critical']);

/** consul-semantics §S1.3: Consul's service-meta rules, shared with node meta (hence "Node" in the 64-pair text). */
function metaProblem(meta: Record<string, string>): string | undefined {
  const pairs = Object.entries(meta);
  if (pairs.length > 64) return 'Node metadata cannot contain more than 64 key/value pairs';
  for (const [key, value] of pairs) {
    const pair = `Couldn't load metadata pair ('${key}', '${value}')`;
    if (key === '') return `${pair}: Key cannot be blank`;
    if (!/^[a-zA-Z0-9_-]+$/.test(key)) return `${pair}: Key contains invalid characters`;
    if (key.length > 128) return `${pair}: Key is too long (limit: 128 characters)`;
    if (key.startsWith('consul-')) return `${pair}: Key prefix 'consul-' is reserved for internal use`;
    if (value.length > 512) return `${pair}: Value is too long (limit: 512 characters)`;
  }
  return undefined;
}

/** A Check object with nothing set (or null) is ignored (consul-semantics §S1.2). */
function isEmptyCheck(fields: Record<string, unknown> | undefined): boolean {
  return fields === undefined || Object.keys(fields).length === 0;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** consul-semantics §S1.2: an IP-literal address gets `lan_*`/`wan_*` tagged addresses unless set. */
function taggedAddressesOf(
  given: Record<string, { Address: string; Port: number }>,
  address: string,
  port: number,
): Record<string, { Address: string; Port: number }> {
  const family = IPV4.test(address) ? 'ipv4' : address.includes(':') ? 'ipv6' : undefined;
  if (family === undefined) return given;
  return {
    [`lan_${family}`]: { Address: address, Port: port },
    [`wan_${family}`]: { Address: address, Port: port },
    ...given,
  };
}

function normalizeTaggedAddresses(value: unknown): Record<string, { Address: string; Port: number }> {
  const out: Record<string, { Address: string; Port: number }> = {};
  if (jsonTypeOf(value) !== 'object') return out;
  for (const [key, item] of Object.entries(value as Record<string, Record<string, unknown>>)) {
    const address = item?.Address ?? item?.address;
    const port = item?.Port ?? item?.port;
    out[key] = {
      Address: typeof address === 'string' ? address : '',
      Port: typeof port === 'number' ? port : 0,
    };
  }
  return out;
}

/** Decodes and validates a service registration body in Consul's order (consul-semantics §S1.3). */
export function decodeServiceRegistration(body: Buffer): Decoded<ServiceRegistration> {
  const decoded = decodeBody(body, SERVICE_DEFINITION);
  if (!decoded.ok) return decoded;
  const fields = decoded.value;
  const bad = (text: string, status = 400): DefinitionError => ({ ok: false, status, text });
  const name = str(fields, 'Name');
  if (name === '') return bad('Missing service name');
  const address = str(fields, 'Address');
  if (address === '0.0.0.0' || address === '::' || address === '[::]') return bad('Invalid service address');
  const weightFields = fields.Weights as Record<string, unknown> | undefined;
  // consul-semantics §S1.2: absent Weights default to {1, 1}.
  const weights =
    weightFields === undefined
      ? { passing: 1, warning: 1 }
      : { passing: num(weightFields, 'Passing'), warning: num(weightFields, 'Warning') };
  if (weights.passing < 1) return bad('Invalid Weights: Passing must be greater than 0');
  if (weights.warning < 0) return bad('Invalid Weights: Warning must be greater or equal than 0');
  const meta = (fields.Meta as Record<string, string>) ?? {};
  const metaError = metaProblem(meta);
  if (metaError !== undefined) return bad(`Invalid Service Meta: ${metaError}`);

  const checkFields: Record<string, unknown>[] = [];
  const single = fields.Check as Record<string, unknown> | undefined;
  if (!isEmptyCheck(single)) checkFields.push(single as Record<string, unknown>);
  for (const item of (fields.Checks as (Record<string, unknown> | undefined)[] | undefined) ?? []) {
    if (item !== undefined) checkFields.push(item);
  }
  for (const check of checkFields) {
    const problem = checkProblem(check);
    if (problem !== undefined) return bad(`Invalid check: ${problem}`);
  }
  for (const check of checkFields) {
    const status = str(check, 'Status');
    if (status !== '' && !VALID_STATUS.has(status)) return bad(STATUS_TEXT);
  }
  const id = str(fields, 'ID') || name;
  const checks = checkFields.map((check, i) => {
    // consul-semantics §S2.1: service:<id>, or service:<id>:<n> when there are several; an explicit CheckID wins.
    const fallback = checkFields.length > 1 ? `service:${id}:${i + 1}` : `service:${id}`;
    const spec = checkSpecOf(check, str(check, 'CheckID') || fallback);
    return spec.name === '' ? { ...spec, name: `Service '${name}' check` } : spec;
  });
  if (checks.some((check) => check.type === '')) return bad('Check type is not valid', 500);
  const port = num(fields, 'Port');
  return {
    ok: true,
    value: {
      id,
      name,
      tags: (fields.Tags as string[]) ?? [],
      address,
      taggedAddresses: taggedAddressesOf(normalizeTaggedAddresses(fields.TaggedAddresses), address, port),
      meta,
      port,
      kind: str(fields, 'Kind'),
      enableTagOverride: bool(fields, 'EnableTagOverride'),
      weights,
      checks,
    },
  };
}

/** Decodes and validates a `PUT /v1/agent/check/register` body (consul-semantics §S2.1). */
export function decodeCheckRegistration(body: Buffer): Decoded<CheckRegistration> {
  const decoded = decodeBody(body, CHECK_DEFINITION);
  if (!decoded.ok) return decoded;
  const fields = decoded.value;
  const bad = (text: string, status = 400): DefinitionError => ({ ok: false, status, text });
  const name = str(fields, 'Name');
  if (name === '') return bad('Missing check name');
  const status = str(fields, 'Status');
  if (status !== '' && !VALID_STATUS.has(status)) return bad('Bad check status');
  const problem = checkProblem(fields);
  if (problem !== undefined) return bad(`Invalid check: ${problem}`);
  const spec = checkSpecOf(fields, str(fields, 'ID') || str(fields, 'CheckID') || name);
  if (spec.type === '') return bad('Check type is not valid', 500);
  return { ok: true, value: { ...spec, serviceId: str(fields, 'ServiceID') } };
}

/** Decodes `PUT /v1/agent/check/update/<id>`'s `{Status, Output}` (consul-semantics §S2.5). */
export function decodeCheckUpdate(body: Buffer): Decoded<{ status: string; output: string }> {
  const decoded = decodeBody(body, {
    goName: 'checkUpdate',
    fields: { Status: 'string', Output: 'string' },
  });
  if (!decoded.ok) return decoded;
  const status = str(decoded.value, 'Status');
  if (!VALID_STATUS.has(status)) {
    return { ok: false, status: 400, text: `Invalid check status: '${status}'` };
  }
  return { ok: true, value: { status, output: str(decoded.value, 'Output') } };
}
