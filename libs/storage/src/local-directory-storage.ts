import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KeyConflictError, ObjectNotFoundError } from './errors';
import { HashingMeter } from './hashing-meter';
import {
  assertValidKey,
  assertValidMaxBytes,
  type ObjectStat,
  type ObjectStorage,
  type PutOptions,
  type PutResult,
} from './object-storage';

/**
 * Objects as files under one directory (`<rootDir>/<key>`), for development, CI and single-host
 * installs. Writes stream into a temporary file next to the target, are fsynced, then renamed
 * over it, so a reader sees the old object or the whole new one, and a failed write leaves
 * nothing behind. Temporary names contain `~`, which keys may not, so they can never be read
 * as objects. `contentType` is not persisted (the Asset row keeps the mime type).
 */
export class LocalDirectoryStorage implements ObjectStorage {
  readonly rootDir: string;

  constructor(rootDir: string) {
    this.rootDir = path.resolve(rootDir);
  }

  /**
   * Takes ownership of `source`: it is consumed, or destroyed when the put fails. Source errors
   * and I/O errors are rethrown as they are; a source longer than `maxBytes` rejects with
   * `ObjectTooLargeError` as soon as the limit is crossed.
   */
  async put(
    key: string,
    source: Readable | AsyncIterable<Uint8Array>,
    opts: PutOptions = {},
  ): Promise<PutResult> {
    let started = false;
    try {
      assertValidKey(key);
      assertValidMaxBytes(opts.maxBytes);
      const finalPath = this.pathOf(key);
      const dir = path.dirname(finalPath);
      await mkdir(dir, { recursive: true }).catch((error: unknown) => {
        // ENOTDIR/EEXIST: some prefix of the key is already an object (a file).
        throw hasCode(error, 'ENOTDIR', 'EEXIST') ? new KeyConflictError(key, error) : error;
      });

      const tmpPath = path.join(
        dir,
        `${path.basename(finalPath)}~${randomBytes(8).toString('hex')}.tmp`,
      );
      const meter = new HashingMeter(key, opts.maxBytes);
      try {
        started = true;
        // `flush` fsyncs the file before it is closed; pipeline() resolves only after the close.
        await pipeline(source, meter, createWriteStream(tmpPath, { flags: 'wx', flush: true }));
        await rename(tmpPath, finalPath).catch((error: unknown) => {
          // The key is a "directory" holding other keys.
          throw hasCode(error, 'EISDIR', 'ENOTEMPTY', 'EEXIST')
            ? new KeyConflictError(key, error)
            : error;
        });
      } catch (error) {
        await rm(tmpPath, { force: true });
        throw error;
      }
      await syncDirectory(dir);
      return { key, bytes: meter.bytes, sha256: meter.digest() };
    } catch (error) {
      // pipeline() already destroyed the source if it ran; otherwise release it here.
      if (!started && source instanceof Readable) source.destroy();
      throw error;
    }
  }

  /**
   * Opens the file before returning, so a missing object rejects here rather than as a stream
   * error, and the stream keeps reading the object it opened even if a put replaces it. The
   * caller must consume or destroy the stream (that closes the file).
   */
  async get(key: string): Promise<Readable> {
    assertValidKey(key);
    const handle = await open(this.pathOf(key), 'r').catch((error: unknown) => {
      throw hasCode(error, 'ENOENT', 'ENOTDIR', 'EISDIR') ? new ObjectNotFoundError(key) : error;
    });
    try {
      // A directory (a prefix of other keys) can be opened for reading but is not an object.
      if (!(await handle.stat()).isFile()) throw new ObjectNotFoundError(key);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return handle.createReadStream();
  }

  async stat(key: string): Promise<ObjectStat | null> {
    assertValidKey(key);
    try {
      const stats = await stat(this.pathOf(key));
      return stats.isFile() ? { bytes: stats.size, modifiedAt: new Date(stats.mtimeMs) } : null;
    } catch (error) {
      if (hasCode(error, 'ENOENT', 'ENOTDIR')) return null;
      throw error;
    }
  }

  /**
   * Idempotent. Empty parent directories are left in place: removing them would race with a
   * concurrent put creating a key under them.
   */
  async delete(key: string): Promise<boolean> {
    assertValidKey(key);
    const filePath = this.pathOf(key);
    try {
      await unlink(filePath);
      return true;
    } catch (error) {
      if (hasCode(error, 'ENOENT', 'ENOTDIR', 'EISDIR')) return false;
      // macOS answers EPERM when unlinking a directory.
      if (hasCode(error, 'EPERM') && (await stat(filePath)).isDirectory()) return false;
      throw error;
    }
  }

  private pathOf(key: string): string {
    return path.join(this.rootDir, ...key.split('/'));
  }
}

/** Makes the rename durable. Best effort: some platforms cannot fsync a directory, and the
 * object is already in place, so failing the put here would misreport it. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // ignored on purpose, see above
  }
}

function hasCode(error: unknown, ...codes: string[]): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && codes.includes(code);
}
