import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ObjectNotFoundError, StorageError, StorageErrorCode } from './errors';
import { HashingMeter } from './hashing-meter';
import {
  assertValidKey,
  assertValidMaxBytes,
  isValidKey,
  type ObjectStat,
  type ObjectStorage,
  type PutOptions,
  type PutResult,
} from './object-storage';

export interface S3ObjectStorageOptions {
  bucket: string;
  region: string;
  /** An S3-compatible server (MinIO, R2, Ceph, …); omit for AWS S3. */
  endpoint?: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO needs it). */
  forcePathStyle?: boolean;
  /** Static credentials; omitted = the SDK's default provider chain (env, profile, IAM role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Every key is stored as `<prefix>/<key>`; the prefix follows the key rules. */
  prefix?: string;
}

/** Multipart part size: S3's minimum, so at most ~5 MB of an object is held in memory. */
const PART_SIZE = 5 * 1024 * 1024;

/**
 * Objects in an S3 bucket (AWS or any S3-compatible server), under the same validated keys as
 * `LocalDirectoryStorage`. `put` streams through a multipart upload (one part in flight, so
 * memory stays around one part), hashing and counting on the way; S3 makes a completed upload
 * visible atomically, so a failed or too-large put leaves the previous object as it was, and an
 * aborted multipart upload leaves no parts behind. `contentType` is stored with the object.
 *
 * Against a custom `endpoint`, SDK checksums are only sent when an operation requires them
 * (`WHEN_REQUIRED`): many S3-compatible servers do not understand the SDK's default CRC32
 * trailers. `put` computes and returns a sha256 of its own either way.
 */
export class S3ObjectStorage implements ObjectStorage {
  readonly bucket: string;
  readonly prefix: string | null;
  readonly client: S3Client;

  constructor(options: S3ObjectStorageOptions) {
    if (options.bucket.length === 0) {
      throw new StorageError(StorageErrorCode.INVALID_ARGUMENT, 'bucket is required', 'bucket');
    }
    const prefix = options.prefix?.replace(/\/+$/, '') ?? '';
    if (prefix !== '' && !isValidKey(prefix)) {
      throw new StorageError(
        StorageErrorCode.INVALID_ARGUMENT,
        `prefix ${JSON.stringify(options.prefix)} does not follow the key rules`,
        'prefix',
      );
    }
    this.bucket = options.bucket;
    this.prefix = prefix === '' ? null : prefix;
    const config: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle ?? false,
      ...(options.endpoint !== undefined
        ? {
            endpoint: options.endpoint,
            requestChecksumCalculation: 'WHEN_REQUIRED',
            responseChecksumValidation: 'WHEN_REQUIRED',
          }
        : {}),
      ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    };
    this.client = new S3Client(config);
  }

  /**
   * Takes ownership of `source`: it is consumed, or destroyed when the put fails. Source errors
   * are rethrown as they are; a source longer than `maxBytes` rejects with `ObjectTooLargeError`
   * as soon as the limit is crossed, after the upload has been aborted.
   */
  async put(
    key: string,
    source: Readable | AsyncIterable<Uint8Array>,
    opts: PutOptions = {},
  ): Promise<PutResult> {
    try {
      assertValidKey(key);
      assertValidMaxBytes(opts.maxBytes);
    } catch (error) {
      if (source instanceof Readable) source.destroy();
      throw error;
    }
    const meter = new HashingMeter(key, opts.maxBytes);
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: meter,
        ...(opts.contentType !== undefined ? { ContentType: opts.contentType } : {}),
      },
      partSize: PART_SIZE,
      queueSize: 1,
      leavePartsOnError: false,
    });
    // The source flows through the meter into the upload. Whichever side fails first stops the
    // other: a pipeline error destroys the meter (the upload's body) and aborts the upload; an
    // upload error destroys the meter, which ends the pipeline and destroys the source.
    const piping = pipeline(source, meter).catch(async (error: unknown) => {
      await upload.abort().catch(() => undefined);
      throw error;
    });
    const uploading = upload.done().catch((error: unknown) => {
      meter.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    });
    const [piped, uploaded] = await Promise.allSettled([piping, uploading]);
    // The source's own error (or ObjectTooLargeError) explains the failure better than the
    // upload's consequent abort.
    if (piped.status === 'rejected') throw piped.reason;
    if (uploaded.status === 'rejected') throw uploaded.reason;
    return { key, bytes: meter.bytes, sha256: meter.digest() };
  }

  /** The caller must consume or destroy the stream (that releases the connection). */
  async get(key: string): Promise<Readable> {
    assertValidKey(key);
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      if (!(out.Body instanceof Readable)) {
        throw new Error(`GetObject for ${key} returned no readable body`);
      }
      return out.Body;
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
  }

  async stat(key: string): Promise<ObjectStat | null> {
    assertValidKey(key);
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return { bytes: out.ContentLength ?? 0, modifiedAt: out.LastModified ?? new Date(0) };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Idempotent (S3's DeleteObject is); a HeadObject first tells whether there was an object. */
  async delete(key: string): Promise<boolean> {
    if ((await this.stat(key)) === null) return false;
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
    );
    return true;
  }

  /** Closes the client's connections. */
  destroy(): void {
    this.client.destroy();
  }

  private objectKey(key: string): string {
    return this.prefix === null ? key : `${this.prefix}/${key}`;
  }
}

/**
 * GetObject answers `NoSuchKey`; HeadObject, which has no response body, a bare 404 that the SDK
 * names `NotFound` (a missing bucket looks the same there). `NoSuchBucket` is not an object
 * being absent and is rethrown as it is.
 */
function isNotFound(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'NoSuchKey' || name === 'NotFound';
}
