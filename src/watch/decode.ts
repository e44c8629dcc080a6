/**
 * Values: bytes → decoded value (text, JSON, YAML or a custom decoder), cached per key + format (latest version).
 * @module
 */

import { createRequire } from 'node:module';
import { LRUCache } from 'lru-cache';
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

/** One key + format's latest decode; a key read in other formats too chains their slots. */
interface Slot {
  readonly format: WatchFormat;
  modifyIndex: number;
  rawValue: string | null;
  outcome: DecodeOutcome;
  /** The same key's slot for another format. */
  readonly other: Slot | undefined;
}

/** Formats kept per key: a key is almost always read in one; custom decoders made per watch must not pile up. */
const FORMATS_PER_KEY = 4;

function chainLength(slot: Slot): number {
  let length = 0;
  for (let at: Slot | undefined = slot; at !== undefined; at = at.other) length++;
  return length;
}

/**
 * The latest decoded value of each key, per format, shared by every subscription of a Watcher: an
 * `lru-cache` keyed by the entry's own key (no key string is built per lookup), `max` slots in all (a key
 * read in two formats counts twice). One slot per key and format, not per version: a key's new version
 * replaces the old one in place, which costs no eviction on each change and keeps the cache for keys
 * rather than for dead versions.
 *
 * Within one Consul cluster the ModifyIndex identifies a key's bytes. A hit is still checked against the
 * base64 text it was decoded from (a string comparison, far cheaper than decoding), so a rebuilt cluster
 * that reuses indexes cannot serve an old value. Only work is saved: a miss (never seen, or evicted)
 * decodes again. Failures are cached too, so a broken value is not re-parsed by every subscription.
 */
export class DecodeCache {
  readonly #cache: LRUCache<string, Slot> | undefined;
  #decodes = 0;

  /** @param max - key + format pairs kept; 0 disables the cache */
  constructor(max: number) {
    this.#cache = max > 0 ? new LRUCache({ maxSize: max, sizeCalculation: chainLength }) : undefined;
  }

  /** How many times a decoder actually ran (cache misses), for tests and stats. */
  get decodes(): number {
    return this.#decodes;
  }

  /** Decodes `entry` with `format`, from the cache when possible. Never throws. */
  decode(entry: DecodableEntry, format: WatchFormat): DecodeOutcome {
    const cache = this.#cache;
    if (cache === undefined) return this.#run(entry, format);
    const first = cache.get(entry.key);
    let slot = first;
    while (slot !== undefined && slot.format !== format) slot = slot.other;
    if (slot !== undefined) {
      if (slot.modifyIndex === entry.modifyIndex && slot.rawValue === entry.rawValue) return slot.outcome;
      // The key's new version takes its old one's slot.
      const outcome = this.#run(entry, format);
      slot.modifyIndex = entry.modifyIndex;
      slot.rawValue = entry.rawValue;
      slot.outcome = outcome;
      return outcome;
    }
    const outcome = this.#run(entry, format);
    // A new head for the key (lru-cache sizes a value when it is set), the oldest format dropped past the cap.
    const other = first !== undefined && chainLength(first) >= FORMATS_PER_KEY ? withoutLast(first) : first;
    cache.set(entry.key, {
      format,
      modifyIndex: entry.modifyIndex,
      rawValue: entry.rawValue,
      outcome,
      other,
    });
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

  /** Drops every cached value. */
  clear(): void {
    this.#cache?.clear();
  }
}

/** A copy of the chain without its last slot. */
function withoutLast(slot: Slot): Slot | undefined {
  if (slot.other === undefined) return undefined;
  return { ...slot, other: withoutLast(slot.other) };
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
