/**
 * flagd definitions as Consul holds them → the flags flagd-core can serve plus the flags it refuses, each
 * refusal naming its Consul key. Flags are parsed one at a time, as flagd does, so one broken flag never
 * takes the rest of its document down with it.
 * @module
 */

import { type FeatureFlag, FlagdCore } from '@openfeature/flagd-core';
import { ErrorCode, type FlagMetadata, type Logger as OpenFeatureLogger } from '@openfeature/server-sdk';
import type { ValidationIssue } from '../errors.js';
import { looksSecret } from '../logger.js';
import type { Decoder } from '../watch/types.js';

const EVALUATORS_KEY = '$evaluators';

/** One Consul key below the watched key or prefix and its decoded value (undefined for an empty value). */
export interface ConsulDocument {
  readonly key: string;
  readonly value: unknown;
}

/** What one load of the definitions in Consul yields. */
export interface FlagSet {
  /** Flags flagd-core parsed, by flag key. */
  readonly flags: Map<string, FeatureFlag>;
  /** Flags flagd-core refuses, by flag key, each with the problem and the Consul key it came from. */
  readonly broken: Map<string, ValidationIssue>;
  /** Every problem (broken flags and the rest), sorted by Consul key, then path. */
  readonly issues: ValidationIssue[];
  /** The value is not a flagd document at all: nothing in it can be used. */
  readonly unusable: boolean;
  /** The document's own `metadata` (flagd's flag-set metadata). */
  readonly metadata: FlagMetadata;
}

/** A prefix-layout value that is not JSON: kept as a value so the refusal stays with its one flag. */
class NotJson {
  constructor(readonly message: string) {}
}

/**
 * The watcher's `'json'` format, except that a value that is not JSON decodes to a {@link NotJson} instead of
 * refusing the whole answer: under a prefix, one key is one flag. Parser messages quote the input, so a
 * secret-looking key gets none (as the watcher does).
 */
export const decodeFlagValue: Decoder = (bytes, key) => {
  if (bytes === null || bytes.length === 0) return undefined;
  const text = bytes.toString('utf8');
  try {
    return JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch (error) {
    const detail = looksSecret(key) ? '' : `: ${(error as Error).message.split('\n')[0]}`;
    return new NotJson(`not valid JSON${detail}`);
  }
};

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof NotJson);
}

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The definitions gathered from Consul, before flagd-core sees them. */
interface Gathered {
  /** Each flag's raw definition and where it came from. */
  flags: Map<string, { definition: unknown; key: string; path: string[] }>;
  /** `$evaluators` and `metadata`: carried into every single-flag document. */
  shared: Record<string, unknown>;
  issues: ValidationIssue[];
  unusable: boolean;
}

function emptyGathered(): Gathered {
  return { flags: new Map(), shared: {}, issues: [], unusable: false };
}

/** Keeps `$evaluators` when it is an object; otherwise reports it, and `$ref`s to it break their flags. */
function takeEvaluators(into: Gathered, value: unknown, key: string, path: string[]): void {
  if (isPlainObject(value)) into.shared[EVALUATORS_KEY] = value;
  else {
    const message = value instanceof NotJson ? value.message : 'expected an object of named evaluators';
    into.issues.push({ key, path, message });
  }
}

/** Single-key layout: the value is a flagd document as flagd itself reads it from a file. */
function gatherFromKey(key: string, value: unknown): Gathered {
  const result = emptyGathered();
  if (value === undefined) return result;
  if (!isPlainObject(value) || !isPlainObject(value.flags)) {
    result.unusable = true;
    result.issues.push({
      key,
      path: [],
      message: 'expected a flagd document: an object with a "flags" object',
      received: isPlainObject(value) ? `"flags": ${typeName(value.flags)}` : typeName(value),
    });
    return result;
  }
  const { flags, [EVALUATORS_KEY]: evaluators, ...rest } = value;
  result.shared = rest;
  if (evaluators !== undefined) takeEvaluators(result, evaluators, key, [EVALUATORS_KEY]);
  for (const [name, definition] of Object.entries(flags)) {
    result.flags.set(name, { definition, key, path: ['flags', name] });
  }
  return result;
}

/** Prefix layout: one key per flag; `$evaluators` holds shared evaluators; any other `$` name is a mistake. */
function gatherFromPrefix(prefix: string, documents: readonly ConsulDocument[]): Gathered {
  const result = emptyGathered();
  for (const { key, value } of documents) {
    const name = key.slice(prefix.length);
    // An empty value defines nothing (the watcher already leaves folder keys such as `flags/team/` out).
    if (value === undefined) continue;
    if (name === EVALUATORS_KEY) {
      takeEvaluators(result, value, key, []);
    } else if (name.startsWith('$')) {
      result.issues.push({
        key,
        path: [],
        message: `unknown reserved key "${name}"; the only one is "${EVALUATORS_KEY}"`,
      });
    } else {
      result.flags.set(name, { definition: value, key, path: [] });
    }
  }
  return result;
}

/** The most telling message of a flagd-core error: its ParseError wraps the real reason as `cause`. */
function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    return error.cause instanceof Error ? error.cause.message : error.message;
  }
  return String(error);
}

/** Names used as `{ "$ref": name }` in `rule` (and in the evaluators it uses) that `evaluators` lacks. */
function missingRefs(rule: unknown, evaluators: Record<string, unknown>, seen = new Set<string>()): string[] {
  if (Array.isArray(rule)) return rule.flatMap((item) => missingRefs(item, evaluators, seen));
  if (!isPlainObject(rule)) return [];
  const names = Object.keys(rule);
  const ref = rule.$ref;
  if (names.length === 1 && typeof ref === 'string') {
    if (seen.has(ref)) return [];
    seen.add(ref);
    return Object.hasOwn(evaluators, ref) ? missingRefs(evaluators[ref], evaluators, seen) : [ref];
  }
  return names.flatMap((name) => missingRefs(rule[name], evaluators, seen));
}

/**
 * Parses one flag alone, in a document carrying the shared `$evaluators` and `metadata`, so `$ref`
 * expansion, metadata merging and the definition hash are exactly flagd-core's. Returns the flag, or why
 * flagd refuses it: a bad shape or state, a default variant missing from the variants, or targeting that does
 * not compile (flagd-core keeps such a flag and answers PARSE_ERROR for it; so do we, naming the reason).
 */
function parseFlag(
  name: string,
  definition: unknown,
  shared: Record<string, unknown>,
  logger: OpenFeatureLogger,
): FeatureFlag | string {
  if (definition instanceof NotJson) return definition.message;
  if (!isPlainObject(definition))
    return 'expected a flag definition object (state, variants, defaultVariant)';
  const single = new FlagdCore(undefined, logger);
  try {
    single.setConfigurations(JSON.stringify({ ...shared, flags: { [name]: definition } }));
  } catch (error) {
    return reasonOf(error);
  }
  const flag = single.getFlag(name);
  if (flag === undefined) return 'flagd-core did not load this flag';
  // A targeting parse error is reported before the rule runs, so an empty context is enough to see it.
  const probe = flag.evaluate({}, logger);
  if (probe.reason !== 'ERROR' || probe.errorCode !== ErrorCode.PARSE_ERROR) return flag;
  const evaluators = isPlainObject(shared[EVALUATORS_KEY]) ? shared[EVALUATORS_KEY] : {};
  const missing = [...new Set(missingRefs(definition.targeting, evaluators))];
  if (missing.length === 0) return probe.errorMessage ?? 'targeting does not compile';
  const list = missing.map((ref) => `"${ref}"`).join(', ');
  const which = missing.length === 1 ? 'evaluator' : 'evaluators';
  return `targeting refers to ${which} ${list}, which ${EVALUATORS_KEY} does not define`;
}

/**
 * Loads the definitions of one answer from Consul: the single key's document (`isPrefix` false) or the
 * prefix's keys. Never throws: every problem is an issue, with its Consul key (and for a single key, the path
 * of the flag inside it).
 */
export function loadFlagSet(
  source: string,
  isPrefix: boolean,
  documents: readonly ConsulDocument[],
  logger: OpenFeatureLogger,
): FlagSet {
  const gathered = isPrefix
    ? gatherFromPrefix(source, documents)
    : gatherFromKey(source, documents[0]?.value);
  const flags = new Map<string, FeatureFlag>();
  const broken = new Map<string, ValidationIssue>();
  const issues = [...gathered.issues];
  for (const [name, { definition, key, path }] of gathered.flags) {
    const parsed = parseFlag(name, definition, gathered.shared, logger);
    if (typeof parsed !== 'string') {
      flags.set(name, parsed);
      continue;
    }
    const issue = { key, path, message: parsed };
    broken.set(name, issue);
    issues.push(issue);
  }
  issues.sort((a, b) => compareText(a.key, b.key) || compareText(a.path.join('.'), b.path.join('.')));
  const metadata = gathered.shared.metadata;
  return {
    flags,
    broken,
    issues,
    unusable: gathered.unusable,
    metadata: isPlainObject(metadata) ? (metadata as FlagMetadata) : {},
  };
}

/** One issue as a line of text: `<Consul key>[ at <path>]: <message>`. */
export function issueText(issue: ValidationIssue): string {
  const path = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
  return `${issue.key}${path}: ${issue.message}`;
}
