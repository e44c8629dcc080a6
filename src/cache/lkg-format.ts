/**
 * The last-known-good cache file's format: the snapshot types, the envelope (format version, sha256 checksum
 * of a canonical payload) and its strict parsing, which returns a rejection reason rather than partial data.
 * @module
 */
import { createHash } from 'node:crypto';
import { z } from 'zod/v4';

/** The format version this module writes and the only one it reads. */
export const LKG_FORMAT_VERSION = 1;

/** One Consul KV entry as cached: enough to rebuild the watched value without Consul. */
export interface LkgEntry {
  /** The full Consul key. */
  key: string;
  /** Consul's `ModifyIndex` of the entry. */
  modifyIndex: number;
  /** Consul's `Flags` of the entry. */
  flags: number;
  /** The value as Consul sends it: base64, or `null` when the key holds no value. */
  value: string | null;
}

/** What {@link LkgFile.write} persists for one watched key or prefix. */
export interface LkgSnapshot {
  /** The watched key or prefix (`''` for the whole KV store). One snapshot per key is kept. */
  key: string;
  /** The Consul index (`X-Consul-Index`) the entries were read at. */
  index: number;
  /** Every entry of the snapshot, in the order given. */
  entries: LkgEntry[];
}

/** A snapshot as read back from the file: {@link LkgSnapshot} plus when it was saved. */
export interface SavedLkgSnapshot extends LkgSnapshot {
  /** When the snapshot was written, as an ISO 8601 UTC date. */
  savedAt: string;
}

/**
 * Why a read returned `undefined`. Logged as `reason` in the warning.
 * - `missing`: there is no file at the path.
 * - `unreadable`: the file exists but cannot be read (the warning also carries the errno `code`).
 * - `invalid-json`: not JSON, typically a truncated or overwritten file.
 * - `unsupported-version`: written by another format version.
 * - `checksum-mismatch`: the payload does not match its checksum (corruption).
 * - `invalid-shape`: the checksum matches but the content is not what this module writes.
 * - `too-large`: the file is bigger than {@link LkgFileOptions.maxBytes}; it is not read (the warning also
 *   carries `size` and `maxBytes`).
 */
export type LkgRejectReason =
  | 'missing'
  | 'unreadable'
  | 'invalid-json'
  | 'unsupported-version'
  | 'checksum-mismatch'
  | 'invalid-shape'
  | 'too-large';

const entrySchema = z.strictObject({
  key: z.string().min(1),
  modifyIndex: z.int().nonnegative(),
  flags: z.int().nonnegative(),
  value: z.base64().nullable(),
});

const snapshotFields = {
  key: z.string(),
  index: z.int().nonnegative(),
  entries: z.array(entrySchema),
};

/** What write() accepts; parsing also copies it, so a caller mutating it later changes nothing queued. */
export const snapshotInputSchema = z.object(snapshotFields);

const savedSnapshotSchema = z.strictObject({ ...snapshotFields, savedAt: z.iso.datetime() });

export type Rejection = {
  reason: LkgRejectReason;
  code?: string | undefined;
  /** For `too-large`: the file's size and the cap, in bytes. */
  size?: number | undefined;
  maxBytes?: number | undefined;
};
export type Snapshots = Map<string, SavedLkgSnapshot>;

/**
 * JSON with object fields sorted and no whitespace: one text per value, so the checksum depends on the
 * content only, not on the field order or layout (a file reformatted by a tool still verifies).
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const fields = Object.keys(record)
      .filter((name) => record[name] !== undefined)
      .sort()
      .map((name) => `${JSON.stringify(name)}:${canonicalJson(record[name])}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (hex) of a canonical payload text. */
export function lkgChecksum(canonicalPayload: string): string {
  return createHash('sha256').update(canonicalPayload, 'utf8').digest('hex');
}

/** The file text: version and checksum first (readable with `head`), then the canonical payload. */
export function serializeLkgFile(snapshots: Snapshots): string {
  const payload = canonicalJson({ snapshots: Object.fromEntries(snapshots) });
  return `{"version":${LKG_FORMAT_VERSION},"checksum":"${lkgChecksum(payload)}","payload":${payload}}\n`;
}

export function parseLkgFile(text: string): Snapshots | Rejection {
  let parsed: unknown;
  try {
    // Editors on Windows save UTF-8 with a byte order mark; JSON.parse refuses it, the content is fine.
    parsed = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
  } catch {
    return { reason: 'invalid-json' };
  }
  if (!isPlainRecord(parsed)) return { reason: 'invalid-shape' };
  const envelope = parsed;
  if (!Object.hasOwn(envelope, 'version')) return { reason: 'invalid-shape' };
  if (envelope.version !== LKG_FORMAT_VERSION) return { reason: 'unsupported-version' };
  if (typeof envelope.checksum !== 'string' || !Object.hasOwn(envelope, 'payload'))
    return { reason: 'invalid-shape' };
  // The checksum comes before the shape: damage is the likelier cause, and it is the more useful reason.
  if (lkgChecksum(canonicalJson(envelope.payload)) !== envelope.checksum)
    return { reason: 'checksum-mismatch' };
  return parseSnapshots(envelope.payload) ?? { reason: 'invalid-shape' };
}

/**
 * The payload's snapshots by watched key, or undefined when its shape is wrong. Walked by hand rather than
 * with `z.record`: a record is rebuilt as a plain object, where a key named `__proto__` sets the prototype
 * instead of a field, so a watched key of that name was saved and never restored.
 */
function parseSnapshots(payload: unknown): Snapshots | undefined {
  if (!isPlainRecord(payload)) return undefined;
  const fields = Object.keys(payload);
  if (fields.length !== 1 || fields[0] !== 'snapshots') return undefined;
  const saved = payload.snapshots;
  if (!isPlainRecord(saved)) return undefined;
  const snapshots: Snapshots = new Map();
  for (const key of Object.keys(saved)) {
    const parsed = savedSnapshotSchema.safeParse(saved[key]);
    if (!parsed.success || parsed.data.key !== key) return undefined;
    snapshots.set(key, parsed.data);
  }
  return snapshots;
}

/** A JSON object (not an array); JSON.parse makes every field, `__proto__` included, an own property. */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
