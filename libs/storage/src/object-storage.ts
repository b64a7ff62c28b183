import type { Readable } from 'node:stream';
import { InvalidKeyError, StorageError, StorageErrorCode } from './errors';

export interface PutOptions {
  /** Refuse (and store nothing) once the source has produced more than this many bytes. */
  maxBytes?: number;
  /** Served back by stores that keep it (S3); the local directory store does not persist it. */
  contentType?: string;
}

export interface PutResult {
  key: string;
  bytes: number;
  /** Lowercase hex sha256 of the stored bytes, computed while streaming. */
  sha256: string;
}

export interface ObjectStat {
  bytes: number;
  modifiedAt: Date;
}

/**
 * Object storage as the rest of the system sees it: whole objects under flat, validated keys.
 * `put` is all-or-nothing: readers see the previous object or the complete new one, never a
 * partial write.
 */
export interface ObjectStorage {
  put(
    key: string,
    source: Readable | AsyncIterable<Uint8Array>,
    opts?: PutOptions,
  ): Promise<PutResult>;
  /** Rejects with `ObjectNotFoundError` when there is no object under `key`. */
  get(key: string): Promise<Readable>;
  /** `null` when there is no object under `key`. */
  stat(key: string): Promise<ObjectStat | null>;
  /** `true` if an object was removed, `false` if there was none. */
  delete(key: string): Promise<boolean>;
}

/** S3's own limit on key length. */
export const MAX_KEY_LENGTH = 1024;
/**
 * Per segment: a segment becomes a file name (at most 255 bytes on common filesystems) and the
 * local store appends a temporary suffix to it while writing.
 */
export const MAX_KEY_SEGMENT_LENGTH = 200;

const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;

/**
 * Keys are relative paths of `/`-separated segments made of `A-Z a-z 0-9 . _ -`: no leading or
 * trailing slash, no empty, `.` or `..` segment. The same key is then safe as a file path and
 * as an S3 key. Throws `InvalidKeyError` (field `key`); returns the key unchanged.
 */
export function assertValidKey(key: unknown): string {
  if (typeof key !== 'string') throw new InvalidKeyError(String(key), 'must be a string');
  if (key.length === 0) throw new InvalidKeyError(key, 'must not be empty');
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(key, `longer than ${MAX_KEY_LENGTH} characters`);
  }
  if (key.startsWith('/')) throw new InvalidKeyError(key, 'must be relative (no leading /)');
  for (const segment of key.split('/')) {
    if (segment.length === 0) throw new InvalidKeyError(key, 'has an empty segment');
    if (segment === '.' || segment === '..') {
      throw new InvalidKeyError(key, `has a "${segment}" segment`);
    }
    if (segment.length > MAX_KEY_SEGMENT_LENGTH) {
      throw new InvalidKeyError(key, `has a segment longer than ${MAX_KEY_SEGMENT_LENGTH}`);
    }
    if (!SEGMENT_RE.test(segment)) {
      throw new InvalidKeyError(key, 'may only contain A-Z a-z 0-9 . _ - and / between segments');
    }
  }
  return key;
}

export function isValidKey(key: unknown): key is string {
  try {
    assertValidKey(key);
    return true;
  } catch {
    return false;
  }
}

/** `undefined` means no limit; anything else must be a non-negative safe integer. */
export function assertValidMaxBytes(maxBytes: number | undefined): void {
  if (maxBytes === undefined) return;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new StorageError(
      StorageErrorCode.INVALID_ARGUMENT,
      `maxBytes must be a non-negative integer, got ${String(maxBytes)}`,
      'maxBytes',
    );
  }
}
