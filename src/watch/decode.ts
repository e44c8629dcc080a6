/**
 * Values: bytes → decoded value (text, JSON, YAML or a custom decoder), cached per key + format (latest version).
 * @module
 */

import { createRequire } from 'node:module';
import { errorText } from '../errors.js';
import { looksSecret } from '../logger.js';
import type { Decoder, WatchFormat } from './types.js';

/** The fields of a KV entry decoding reads; `KVEntry` from src/consul/kv.ts has them. */
export interface DecodableEntry {
  readonly key: string;
  readonly modifyIndex: number;
  /** The value as Consul sent it (base64 or null): checked on a cache hit. */
  readonly rawValue: string | null;
  /** The value's bytes; read only on a cache miss. */
  readonly value: Buffer | null;
}

/** Result of decoding one value. A failure keeps only a message safe to show (see {@link decodeFailure}). */
export type DecodeOutcome = { ok: true; value: unknown } | { ok: false; message: string; cause: unknown };

const BOM = '\uFEFF';

function utf8(value: Buffer): string {
  const text = value.toString('utf8');
  return text.startsWith(BOM) ? text.slice(1) : text;
}

/** Text that starts like a JSON object, array or string: it must be valid JSON, never read as plain text. */
const LOOKS_LIKE_JSON = /^\s*[[{"]/;

/**
 * JSON, or plain text for a value that is not JSON at all: `db.internal` is the string it looks like, while
 * `5432`, `true` and `{"a":1}` are JSON. A value that starts like a JSON object, array or string and does not
 * parse is an error, so a broken object is never taken for a string.
 */
function parseJsonOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    if (LOOKS_LIKE_JSON.test(text)) throw error;
    return text;
  }
}

/** The `yaml` package, loaded on the first YAML value: apps that never read YAML never load it. */
let yamlParse: ((text: string) => unknown) | undefined;
function parseYaml(text: string): unknown {
  yamlParse ??= (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse;
  return yamlParse(text);
}

const BUILT_IN: Readonly<Record<'text' | 'json' | 'yaml', Decoder>> = {
  text: (value) => (value === null ? '' : value.toString('utf8')),
  json: (value) => (value === null || value.length === 0 ? undefined : parseJsonOrText(utf8(value))),
  yaml: (value) => (value === null || value.length === 0 ? undefined : parseYaml(utf8(value))),
};

const FORMAT_NAME: Readonly<Record<'text' | 'json' | 'yaml', string>> = {
  text: 'text',
  json: 'JSON',
  yaml: 'YAML',
};

/** Returns the decoder function for a format. */
export function decoderFor(format: WatchFormat): Decoder {
  return typeof format === 'function' ? format : BUILT_IN[format];
}

/** True when `format` names a built-in format or is a function. */
export function isWatchFormat(format: unknown): format is WatchFormat {
  return typeof format === 'function' || format === 'text' || format === 'json' || format === 'yaml';
}

/**
 * Turns a decoder's exception into a message. Parser messages can quote the input (`JSON.parse` does), so
 * for a secret-looking key only the format is named.
 */
export function decodeFailure(format: WatchFormat, key: string, error: unknown): string {
  const what =
    typeof format === 'function' ? 'the custom decoder failed' : `not valid ${FORMAT_NAME[format]}`;
  if (looksSecret(key)) return what;
  return `${what}: ${errorText(error, { firstLine: true })}`;
}

/** One key + format's latest decode, and its place in the cache's recency list. */
interface Slot {
  readonly key: string;
  readonly format: WatchFormat;
  /** The map of the slot's format, to leave it on eviction. */
  readonly byKey: Map<string, Slot>;
  modifyIndex: number;
  rawValue: string | null;
  outcome: DecodeOutcome;
  /** Towards the least recently used slot. */
  older: Slot | undefined;
  /** Towards the most recently used slot. */
  newer: Slot | undefined;
}

/**
 * The latest decoded value of each key + format, shared by every subscription of a Watcher. One slot per key,
 * not per version: a key's new version replaces the old one in place, which costs no eviction on each change
 * and keeps the cache for keys rather than for dead versions. Past `max` slots the least recently used goes.
 *
 * Within one Consul cluster the ModifyIndex identifies a key's bytes. A hit is still checked against the
 * base64 text it was decoded from (a string comparison, far cheaper than decoding), so a rebuilt cluster
 * that reuses indexes cannot serve an old value. Only work is saved: a miss (never seen, or evicted)
 * decodes again. Failures are cached too, so a broken value is not re-parsed by every subscription.
 *
 * Slots are found by format, then by the entry's own key (no key string is built per lookup), and kept in
 * a linked recency list, so a lookup, a replaced version and an eviction each cost a few pointer moves.
 */
export class DecodeCache {
  readonly #max: number;
  /** Slots by format (a built-in format's name, or a custom decoder), then by key. */
  readonly #formats = new Map<WatchFormat, Map<string, Slot>>();
  #size = 0;
  #oldest: Slot | undefined;
  #newest: Slot | undefined;
  #decodes = 0;

  /** @param max - entries kept; 0 disables the cache */
  constructor(max: number) {
    this.#max = max;
  }

  /** How many times a decoder actually ran (cache misses), for tests and stats. */
  get decodes(): number {
    return this.#decodes;
  }

  /** Decodes `entry` with `format`, from the cache when possible. Never throws. */
  decode(entry: DecodableEntry, format: WatchFormat): DecodeOutcome {
    if (this.#max === 0) return this.#run(entry, format);
    let byKey = this.#formats.get(format);
    if (byKey === undefined) {
      byKey = new Map();
      this.#formats.set(format, byKey);
    }
    const slot = byKey.get(entry.key);
    if (slot === undefined) {
      const outcome = this.#run(entry, format);
      this.#add(format, byKey, entry, outcome);
      return outcome;
    }
    this.#touch(slot);
    if (slot.modifyIndex === entry.modifyIndex && slot.rawValue === entry.rawValue) return slot.outcome;
    // The key's new version takes its old one's slot.
    const outcome = this.#run(entry, format);
    slot.modifyIndex = entry.modifyIndex;
    slot.rawValue = entry.rawValue;
    slot.outcome = outcome;
    return outcome;
  }

  #run(entry: DecodableEntry, format: WatchFormat): DecodeOutcome {
    this.#decodes++;
    let bytes: Buffer | null;
    try {
      bytes = entry.value;
    } catch (error) {
      return { ok: false, message: 'the value is not valid base64', cause: error };
    }
    try {
      return { ok: true, value: decoderFor(format)(bytes, entry.key) };
    } catch (error) {
      return { ok: false, message: decodeFailure(format, entry.key, error), cause: error };
    }
  }

  #add(format: WatchFormat, byKey: Map<string, Slot>, entry: DecodableEntry, outcome: DecodeOutcome): void {
    const slot: Slot = {
      key: entry.key,
      format,
      byKey,
      modifyIndex: entry.modifyIndex,
      rawValue: entry.rawValue,
      outcome,
      older: this.#newest,
      newer: undefined,
    };
    byKey.set(entry.key, slot);
    if (this.#newest === undefined) this.#oldest = slot;
    else this.#newest.newer = slot;
    this.#newest = slot;
    if (++this.#size <= this.#max) return;
    const oldest = this.#oldest!;
    this.#oldest = oldest.newer;
    this.#oldest!.older = undefined;
    oldest.byKey.delete(oldest.key);
    // A format with no slot left goes too: custom decoders made per watch must not pile up.
    if (oldest.byKey.size === 0) this.#formats.delete(oldest.format);
    this.#size--;
  }

  /** Makes `slot` the most recently used. */
  #touch(slot: Slot): void {
    const newer = slot.newer;
    if (newer === undefined) return;
    const older = slot.older;
    newer.older = older;
    if (older === undefined) this.#oldest = newer;
    else older.newer = newer;
    slot.older = this.#newest;
    slot.newer = undefined;
    this.#newest!.newer = slot;
    this.#newest = slot;
  }

  /** Drops every cached value. */
  clear(): void {
    this.#formats.clear();
    this.#size = 0;
    this.#oldest = undefined;
    this.#newest = undefined;
  }
}

const RECEIVED_MAX = 80;

/**
 * A short, log-safe rendering of a received value for an issue: strings quoted, objects as JSON with
 * secret-looking fields replaced by `[redacted]`, cut at 80 characters; `'[redacted]'` when `secret`.
 */
export function describeReceived(value: unknown, secret: boolean): string {
  if (secret) return '[redacted]';
  let text: string;
  if (value === undefined) text = 'undefined';
  else if (typeof value === 'bigint') text = `${value}n`;
  else if (typeof value === 'symbol' || typeof value === 'function') text = String(value);
  else {
    try {
      // Fields with secret-looking names inside an object are redacted too, not only whole secret keys.
      text = JSON.stringify(value, redactSecretFields) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > RECEIVED_MAX ? `${text.slice(0, RECEIVED_MAX - 1)}…` : text;
}

function redactSecretFields(this: unknown, name: string, value: unknown): unknown {
  return name !== '' && !Array.isArray(this) && looksSecret(name) ? '[redacted]' : value;
}
